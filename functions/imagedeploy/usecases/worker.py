"""The job dispatcher: what a worker (a thread locally, an SQS-fed Lambda on AWS) runs."""

from __future__ import annotations

from collections.abc import Callable

from imagedeploy.domain import deploy_machine as machine
from imagedeploy.ports import Job, Ports, PrunesRevisions
from imagedeploy.usecases import cron, deploys, notifications
from imagedeploy.usecases.unit_of_work import DELIVERY_JOB


def _begin(ports: Ports, deploy_id: str) -> None:
    """Begin the deploy and run its preflight in the same job: one queue hop before the
    registry (``run_preflight`` does nothing unless the deploy is in its preflight)."""
    deploys.handle_signal(ports, deploy_id, machine.Begin())
    deploys.run_preflight(ports, deploy_id)


def _cron_tick(ports: Ports, service_id: str) -> None:
    cron.tick(ports, service_id)


def _outbox(ports: Ports, record_id: str) -> None:
    from imagedeploy.usecases.outbox import dispatch

    dispatch(ports, record_id)


#: Queued (by the composition root's runtime) when a new version of a service's runtime
#: definition is registered; deletes the old ones.
PRUNE_REVISIONS_JOB = "prune_revisions"


def _prune_revisions(ports: Ports, service_id: str) -> None:
    if isinstance(ports.runtime, PrunesRevisions):
        ports.runtime.prune_revisions(service_id)


HANDLERS: dict[str, Callable[[Ports, str], None]] = {
    "begin": _begin,
    "outbox": _outbox,
    DELIVERY_JOB: _outbox,
    "cron_tick": _cron_tick,
    PRUNE_REVISIONS_JOB: _prune_revisions,
    "preflight": deploys.run_preflight,
    "supersede": deploys.supersede,
    notifications.WEBHOOK_JOB: notifications.deliver_webhook,
    "notify": notifications.notify_webhooks,  # queued by an earlier version on AWS
}


def run_job(ports: Ports, job: Job) -> None:
    """Run one job. Jobs are delivered at least once, so every handler is idempotent; an
    exception means "retry later" to the queue."""
    handler = HANDLERS.get(job.kind)
    if handler is None:
        raise ValueError(f"unknown job kind {job.kind!r}")
    handler(ports, job.subject)
