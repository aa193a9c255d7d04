"""Cron job runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"  # Render's word for "running"
    SUCCESSFUL = "successful"
    UNSUCCESSFUL = "unsuccessful"
    CANCELED = "canceled"


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"


RUN_TIME_LIMIT_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class CronRun:
    id: str
    service_id: str
    status: RunStatus
    trigger: RunTrigger
    deploy_id: str  # the live deploy whose digest the run uses
    image: str  # repository@<linux/amd64 digest>
    started_at: datetime
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str = ""  # why it ended unsuccessfully or was canceled, for people
    version: int = 0
