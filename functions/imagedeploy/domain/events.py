"""Service events: Render's event types and ``details`` shapes (``serviceEventWithCursor``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    DEPLOY_STARTED = "deploy_started"
    DEPLOY_ENDED = "deploy_ended"
    PRE_DEPLOY_STARTED = "pre_deploy_started"
    PRE_DEPLOY_ENDED = "pre_deploy_ended"
    IMAGE_PULL_FAILED = "image_pull_failed"
    SERVER_FAILED = "server_failed"
    SERVER_AVAILABLE = "server_available"
    SERVER_RESTARTED = "server_restarted"
    CRON_JOB_RUN_STARTED = "cron_job_run_started"
    CRON_JOB_RUN_ENDED = "cron_job_run_ended"
    SERVICE_SUSPENDED = "service_suspended"
    SERVICE_RESUMED = "service_resumed"
    INSTANCE_COUNT_CHANGED = "instance_count_changed"


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    service_id: str
    type: EventType
    timestamp: datetime
    details: dict[str, Any]
