"""The outbox dispatcher (docs/architecture.md §8.1): executes the effects of one committed
``OutboxRecord`` (the ``outbox`` job), in order.

- Each effect is idempotent (runtimes name their resources after the deploy or run; ECS calls
  carry ``clientToken``/``startedBy``), so a record dispatched twice (at-least-once queues, a
  crash before the record is deleted) does no harm, and an effect the state no longer asks for
  (a rollout of a deploy canceled meanwhile) is skipped.
- An effect that raises is retried with backoff (1, 2, 4, 8 ... 60 s): the record keeps how far
  it got, the attempts and the error, and the job is enqueued again with that delay. Once the
  ``effect_retry_seconds`` budget is spent, the failure is recorded where a person looks for it:
  the deploy fails with the platform's error text (``ThrottlingException: Rate exceeded``), the
  cron run ends unsuccessful with it. A removal never gives up (it retries every minute until
  the resources are gone); other effects are logged as dead.
- The record is deleted once every effect is done (or given up).
- A runtime that executes an effect in the background (the local runtime's threads: the
  command returns once queued) reports a create the engine failed with ``retry_effect``: the
  effect gets a record of its own, due after the same backoff, under the same budget.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from datetime import timedelta

from imagedeploy.domain import deploy_machine as machine
from imagedeploy.domain.cron import RunEnd, RunStatus
from imagedeploy.domain.deploys import Deploy
from imagedeploy.domain.errors import ConcurrentUpdate
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.outbox import (
    Converge,
    DeliverWebhook,
    Effect,
    Notify,
    OutboxRecord,
    Remove,
    Restart,
    RunJob,
    StartCronRun,
    StartJob,
    StartPreDeploy,
    StartRollout,
    StopCronRun,
    StopDeploy,
    StopJob,
    Suspend,
    SyncSchedule,
    backoff_seconds,
    encode_effect,
    error_text,
    retries_left,
)
from imagedeploy.domain.outcomes import Unhealthy
from imagedeploy.domain.services import ServiceType
from imagedeploy.ports import Job, Ports
from imagedeploy.usecases import cron, deploys, instances, jobs, notifications
from imagedeploy.usecases.unit_of_work import dispatch_job

logger = logging.getLogger(__name__)


def dispatch(ports: Ports, record_id: str) -> None:
    """Execute what is left of the record (see the module docstring)."""
    while True:
        record = ports.store.get_outbox(record_id)
        if record is None:
            return  # done already (a duplicate delivery)
        pending = record.pending()
        if not pending:
            _delete(ports, record)
            return
        effect = pending[0]
        try:
            execute(ports, effect)
        except Exception as exc:
            _failed(ports, record, effect, exc)
            return
        if not _advance(ports, record):
            return  # someone else dispatched it meanwhile


def _advance(ports: Ports, record: OutboxRecord) -> bool:
    """Mark the first pending effect done (deleting the record after its last); False when
    another dispatcher got there first."""
    done = dataclasses.replace(record, done=record.done + 1, attempts=0, last_error="")
    try:
        if done.done >= len(done.effects):
            ports.store.write(delete=[record])
        else:
            ports.store.write(put=[done])
    except ConcurrentUpdate:
        return False
    return True


def _delete(ports: Ports, record: OutboxRecord) -> None:
    with contextlib.suppress(ConcurrentUpdate):  # another dispatcher deleted it
        ports.store.write(delete=[record])


def _failed(ports: Ports, record: OutboxRecord, effect: Effect, exc: Exception) -> None:
    attempts = record.attempts + 1
    text = error_text(exc)
    delay = _retry_delay(
        ports, effect, attempts, text, always=isinstance(effect, Remove), record_id=record.id
    )
    if delay is None:
        give_up(ports, effect, text)
        if _advance(ports, record):
            ports.jobs.enqueue(dispatch_job(record))  # the effects after it
        return
    retry = dataclasses.replace(
        record,
        attempts=attempts,
        last_error=text,
        due_at=ports.clock.now() + timedelta(seconds=delay),
    )
    ports.store.write(put=[retry])
    ports.jobs.enqueue(dispatch_job(record), delay_seconds=delay)


def retry_effect(ports: Ports, effect: Effect, attempts: int, text: str) -> None:
    """``effect``, executed in the background by the runtime, failed its ``attempts``-th time
    in a row with ``text``: a record of its own retries it after the backoff while the budget
    lasts (as ``dispatch`` retries a failing effect), else the failure is recorded."""
    delay = _retry_delay(ports, effect, attempts, text)
    if delay is None:
        give_up(ports, effect, text)
        return
    now = ports.clock.now()
    record = OutboxRecord(
        id=new_id("obx"),
        effects=(encode_effect(effect),),
        created_at=now,
        due_at=now + timedelta(seconds=delay),
        attempts=attempts,
        last_error=text,
    )
    ports.store.write(put=[record])
    ports.jobs.enqueue(dispatch_job(record), delay_seconds=delay)


def _retry_delay(
    ports: Ports,
    effect: Effect,
    attempts: int,
    text: str,
    *,
    always: bool = False,
    **context: str,
) -> int | None:
    """The backoff before the next attempt of ``effect`` (failed ``attempts`` times in a row,
    last with ``text``) while the retry budget lasts, or always (a removal); None: it failed
    for good. Logged either way, with ``context``."""
    fields = {**context, "effect": type(effect).__name__, "attempts": attempts, "error": text}
    if retries_left(attempts, ports.limits.effect_retry_seconds) or always:
        delay = backoff_seconds(attempts)
        logger.warning("effect failed; retrying", extra={**fields, "retry_in_s": delay})
        return delay
    logger.error("effect failed for good", extra=fields)
    return None


def give_up(ports: Ports, effect: Effect, text: str) -> None:
    """Record an effect that failed for good on what it was for."""
    match effect:
        case StartPreDeploy(deploy_id=deploy_id) | StartRollout(deploy_id=deploy_id):
            deploys.handle_signal(ports, deploy_id, machine.EffectFailed(text))
        case RunJob(kind=kind, subject=subject) if kind in ("begin", "preflight"):
            deploys.handle_signal(ports, subject, machine.EffectFailed(text))
        case StartCronRun(run_id=run_id):
            cron.run_ended(ports, run_id, RunStatus.UNSUCCESSFUL, None, text)
        case StartJob(job_id=job_id):
            jobs.job_ended(ports, job_id, RunEnd(RunStatus.UNSUCCESSFUL, None, text))
        case Converge(service_id=service_id) | Restart(service_id=service_id):
            # No deploy or run to fail: the service's timeline says why its instances are short.
            instances.instance_failed(
                ports, service_id, "", Unhealthy(f"could not start an instance: {text}")
            )
        case _:
            pass


def execute(ports: Ports, effect: Effect) -> None:
    """Run one effect against the outside world, as the current state asks for it."""
    from imagedeploy.usecases.worker import run_job

    store, runtime = ports.store, ports.runtime
    match effect:
        case RunJob(kind=kind, subject=subject):
            run_job(ports, Job(kind, subject))
        case StartPreDeploy(deploy_id=deploy_id):
            deploy = _in_phase(ports, deploy_id, machine.Phase.PRE_DEPLOY)
            service = store.get_service(deploy.service_id) if deploy else None
            if deploy is not None and service is not None:
                spec = deploys.run_spec(ports, service, deploy, deploy.settings.pre_deploy_command)
                runtime.start_pre_deploy(spec, machine.pre_deploy_execution_id(deploy))
        case StartRollout(deploy_id=deploy_id):
            deploy = _in_phase(ports, deploy_id, machine.Phase.ROLLOUT)
            service = store.get_service(deploy.service_id) if deploy else None
            if deploy is not None and service is not None:
                runtime.start_rollout(deploys.run_spec(ports, service, deploy))
        case StopDeploy(service_id=service_id, deploy_id=deploy_id):
            runtime.cancel(service_id, deploy_id)
        case Converge(service_id=service_id) | Restart(service_id=service_id):
            service = store.get_service(service_id)
            if service is None or service.suspended or service.live_deploy_id is None:
                return
            live = store.get_deploy(service.live_deploy_id)
            if live is None:
                return
            spec = deploys.run_spec(ports, service, live)
            if isinstance(effect, Restart):
                runtime.restart(spec)
            else:
                runtime.converge(spec)
        case Suspend(service_id=service_id):
            runtime.suspend(service_id)
        case Remove(service_id=service_id):
            # The record itself is the service's tombstone: it stays until this succeeds.
            runtime.remove(service_id)
        case StartCronRun(run_id=run_id):
            run = store.get_run(run_id)
            if run is None or run.status is not RunStatus.PENDING:
                return
            service = store.get_service(run.service_id)
            deploy = store.get_deploy(run.deploy_id)
            if service is None or deploy is None:
                return
            runtime.start_cron_run(deploys.run_spec(ports, service, deploy), run_id)
        case StopCronRun(service_id=service_id, run_id=run_id):
            runtime.stop_cron_run(service_id, run_id)
        case StartJob(job_id=job_id):
            jobs.launch(ports, job_id)
        case StopJob(service_id=service_id, job_id=job_id):
            runtime.stop_job(service_id, job_id)
        case SyncSchedule(service_id=service_id):
            service = store.get_service(service_id)
            if service is None or service.suspended or service.type is not ServiceType.CRON_JOB:
                ports.scheduler.remove_schedule(service_id)
            else:
                ports.scheduler.set_schedule(service_id, service.schedule)
        case Notify(service_id=service_id, event_id=event_id):
            notifications.notify(ports, service_id, event_id)
        case DeliverWebhook(event_id=event_id, webhook_id=webhook_id):
            notifications.deliver(ports, event_id, webhook_id)


def _in_phase(ports: Ports, deploy_id: str, phase: machine.Phase) -> Deploy | None:
    deploy = ports.store.get_deploy(deploy_id)
    if deploy is None or machine.phase_of(deploy) is not phase:
        return None
    return deploy
