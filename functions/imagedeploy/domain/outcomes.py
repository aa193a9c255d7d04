"""What a runtime reports about a container or task that stopped or never became healthy
(docs/architecture.md §6.3): facts, typed, the same for both homes.

The local runtime (podman/docker) and the ECS runtime classify what they see into these; the
deploy machine, the instance use cases and the cron run rules act on them; ``failure_reason``
writes them in Render's words (``{"nonZeroExit": 1}``, ``{"oomKilled": {"memoryLimit":
"512Mi"}}``...) once, for the events and the deploy's ``reason`` that the API serves as stored.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imagedeploy.domain.errors import PullFailureReason


@dataclass(frozen=True, slots=True)
class OomKilled:
    """The kernel (or Fargate) killed the container for using more than its memory limit."""

    memory_limit_mb: int | None = None


@dataclass(frozen=True, slots=True)
class NonZeroExit:
    exit_code: int


@dataclass(frozen=True, slots=True)
class EarlyExit:
    """A long-running container exited, even with status 0 (a service must keep running)."""


@dataclass(frozen=True, slots=True)
class Unhealthy:
    """It never answered its health check, failed to start, or the platform gave up on it;
    ``timed_out``: no healthy answer within the deploy's time limit."""

    message: str
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class PullFailed:
    """Its image could not be pulled (classified like the preflight's failures)."""

    reason: PullFailureReason
    message: str


ServerFailure = OomKilled | NonZeroExit | EarlyExit | Unhealthy
Outcome = ServerFailure | PullFailed


def failure_reason(failure: ServerFailure) -> dict[str, Any]:
    """Render's failure reason of a server (``server_failed``'s ``reason``, an ended deploy's
    ``reason.failure``), with its required ``evicted``."""
    match failure:
        case OomKilled(memory_limit_mb=limit):
            return {"evicted": False, "oomKilled": {"memoryLimit": f"{limit}Mi" if limit else ""}}
        case NonZeroExit(exit_code=code):
            return {"evicted": False, "nonZeroExit": code}
        case EarlyExit():
            return {"evicted": False, "earlyExit": True}
        case Unhealthy(message=message, timed_out=timed_out):
            why: dict[str, Any] = {"evicted": False, "unhealthy": message}
            if timed_out:
                why["timedOutReason"] = "unhealthy"
            return why
