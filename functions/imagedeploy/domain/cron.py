"""Cron job runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from imagedeploy.domain.outcomes import OomKilled, Outcome, PullFailed, Unhealthy


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


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How a run ended, as ``usecases.cron.run_ended`` records it."""

    status: RunStatus
    exit_code: int | None = None
    reason: str = ""  # for people; "timed out" is also read by the event's reason


def run_outcome(
    *,
    exit_code: int | None,
    failure: Outcome | None = None,
    canceled: bool = False,
    timed_out: bool = False,
    message: str = "",
) -> RunEnd:
    """The end of a run from what its runtime saw (the one rule for both homes): a stop we
    asked for is ``canceled``; past the time limit, a pull failure, an OOM kill (exit 137 when
    the platform gives none) or any exit but 0 is ``unsuccessful``; exit 0 is ``successful``.
    ``message`` is the platform's own words about the stop, kept for a failure."""
    match failure:
        case _ if canceled:
            return RunEnd(RunStatus.CANCELED, exit_code, message or "canceled")
        case _ if timed_out:
            return RunEnd(RunStatus.UNSUCCESSFUL, None, "timed out")
        case PullFailed(reason=reason, message=text):
            return RunEnd(RunStatus.UNSUCCESSFUL, None, f"image pull failed ({reason}): {text}")
        case OomKilled():
            return RunEnd(RunStatus.UNSUCCESSFUL, exit_code or 137, "out of memory")
        case None if exit_code == 0:
            return RunEnd(RunStatus.SUCCESSFUL, 0, "")
        case Unhealthy(message=text):
            return RunEnd(RunStatus.UNSUCCESSFUL, exit_code, text)
        case _:
            return RunEnd(RunStatus.UNSUCCESSFUL, exit_code, message)
