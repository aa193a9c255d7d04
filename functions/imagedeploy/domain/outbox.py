"""Effects and the outbox (docs/architecture.md §8.1): what a commit asks of the outside world.

A use case decides effects (run a job, start a rollout, stop a cron run, notify of an event...)
while it decides the new state, and the unit of work writes them as ONE ``OutboxRecord`` in the
same conditional store write as that state. The dispatcher (``usecases.outbox``) then executes
the record's effects in order, retrying a failing one with backoff, and deletes the record once
all are done. Nothing between a state change and the call that acts on it can be lost: a record
whose dispatch job was lost is found again by the reconcile pass.

Effects name entities by id, never carry a ``RunSpec``: the dispatcher builds what a runtime
needs when it runs (a credential's token is never stored in the outbox), and skips an effect the
state no longer asks for (a rollout of a deploy canceled meanwhile).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# -- effects ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunJob:
    """A use case by name (``usecases.worker.HANDLERS``), run by the dispatcher itself."""

    kind: str
    subject: str


@dataclass(frozen=True, slots=True)
class StartPreDeploy:
    deploy_id: str


@dataclass(frozen=True, slots=True)
class StartRollout:
    deploy_id: str


@dataclass(frozen=True, slots=True)
class StopDeploy:
    service_id: str
    deploy_id: str


@dataclass(frozen=True, slots=True)
class Converge:
    """Run the live deploy's instance count (after a scale)."""

    service_id: str


@dataclass(frozen=True, slots=True)
class Restart:
    service_id: str


@dataclass(frozen=True, slots=True)
class Suspend:
    service_id: str


@dataclass(frozen=True, slots=True)
class Remove:
    """Remove every runtime resource of a deleted service, then its tombstone."""

    service_id: str


@dataclass(frozen=True, slots=True)
class StartCronRun:
    run_id: str


@dataclass(frozen=True, slots=True)
class StopCronRun:
    service_id: str
    run_id: str


@dataclass(frozen=True, slots=True)
class StartJob:
    job_id: str


@dataclass(frozen=True, slots=True)
class StopJob:
    service_id: str
    job_id: str


@dataclass(frozen=True, slots=True)
class SyncSchedule:
    """Make the scheduler match the service: its schedule while it is an active cron job,
    nothing once it is suspended or deleted."""

    service_id: str


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell whoever the notification settings say of an event (``usecases.notifications``)."""

    service_id: str
    event_id: str


@dataclass(frozen=True, slots=True)
class DeliverWebhook:
    """POST an event to one webhook (a record of its own per delivery, dispatched apart from
    the platform's other effects: a slow receiver holds up no deploy)."""

    event_id: str
    webhook_id: str


Effect = (
    RunJob
    | StartPreDeploy
    | StartRollout
    | StopDeploy
    | Converge
    | Restart
    | Suspend
    | Remove
    | StartCronRun
    | StopCronRun
    | StartJob
    | StopJob
    | SyncSchedule
    | Notify
    | DeliverWebhook
)

EFFECT_TYPES: dict[str, type[Effect]] = {
    cls.__name__: cls
    for cls in (
        RunJob,
        StartPreDeploy,
        StartRollout,
        StopDeploy,
        Converge,
        Restart,
        Suspend,
        Remove,
        StartCronRun,
        StopCronRun,
        StartJob,
        StopJob,
        SyncSchedule,
        Notify,
        DeliverWebhook,
    )
}


def encode_effect(effect: Effect) -> dict[str, Any]:
    return {"type": type(effect).__name__, **dataclasses.asdict(effect)}


def decode_effect(data: dict[str, Any]) -> Effect:
    fields = dict(data)
    cls = EFFECT_TYPES[str(fields.pop("type"))]
    return cls(**fields)


# -- the record ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """The effects of one commit, executed in order; ``done`` of them already succeeded.

    ``effects`` are ``encode_effect`` dicts (JSON for both stores); ``attempts`` and
    ``last_error`` describe the effect at index ``done`` while it keeps failing; ``due_at`` is
    when its next attempt is due (reconcile re-enqueues a record left well past it).
    """

    id: str
    effects: tuple[dict[str, Any], ...]
    created_at: datetime
    due_at: datetime
    done: int = 0
    attempts: int = 0
    last_error: str = ""
    version: int = 0

    def pending(self) -> list[Effect]:
        return [decode_effect(e) for e in self.effects[self.done :]]

    @property
    def delivers_webhooks(self) -> bool:
        """Only webhook deliveries: dispatched by their own job kind (``usecases.outbox``)."""
        return bool(self.effects) and all(e["type"] == "DeliverWebhook" for e in self.effects)


# -- retry policy --------------------------------------------------------------------------------

BACKOFF_CAP_SECONDS = 60


def backoff_seconds(attempt: int) -> int:
    """Seconds to wait after the ``attempt``-th failure: 1, 2, 4, 8 ... capped at 60."""
    return int(min(BACKOFF_CAP_SECONDS, 2 ** max(attempt - 1, 0)))


def retries_left(attempts: int, retry_seconds: int) -> bool:
    """Whether an effect that failed ``attempts`` times gets another attempt: the backoff delays
    up to and including the next one fit in the ``retry_seconds`` budget."""
    waited = sum(backoff_seconds(n) for n in range(1, attempts + 1))
    return waited <= retry_seconds


def error_text(exc: BaseException) -> str:
    """What a person reads about a failed effect: ``<code>: <message>`` for an AWS error (the
    error of an AWS SDK call carries both in ``response``), else ``<type>: <message>``."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error")
        if isinstance(error, dict) and error.get("Code"):
            return f"{error['Code']}: {error.get('Message', '')}".strip()
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message}"[:1000]
