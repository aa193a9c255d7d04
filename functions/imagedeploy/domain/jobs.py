"""One-off jobs (Render's ``/services/{id}/jobs``, docs/architecture.md §20.2): a command run once
in a new container of a service's live digest, with the service's env vars.

A job is ``pending`` from its creation until the runtime has accepted its start (then
``running``), and ends ``succeeded`` (exit 0), ``failed`` (any other end) or ``canceled`` (a
user asked). How it ended is decided by ``domain.cron.run_outcome``, the rule cron runs use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from imagedeploy.domain.cron import RunEnd, RunStatus
from imagedeploy.domain.services import Plan


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


@dataclass(frozen=True, slots=True)
class OneOffJob:
    id: str
    service_id: str
    start_command: str
    plan: Plan
    status: JobStatus
    deploy_id: str  # the live deploy whose digest the job runs
    image: str  # repository@<linux/amd64 digest>
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str = ""  # why it failed or was canceled, for people
    version: int = 0


def job_status(end: RunEnd) -> JobStatus:
    """A job's final status from how its container ended (the cron runs' rule)."""
    match end.status:
        case RunStatus.SUCCESSFUL:
            return JobStatus.SUCCEEDED
        case RunStatus.CANCELED:
            return JobStatus.CANCELED
        case _:
            return JobStatus.FAILED
