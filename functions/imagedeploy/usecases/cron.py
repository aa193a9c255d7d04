"""Cron job runs (docs/architecture.md §9.3): at most one run at a time; a scheduled tick while a
run is active waits for it (it is not lost), a manual trigger cancels the active run and starts a
new one, and runs are stopped after 12 hours. Each run pulls the live deploy's digest afresh."""

from __future__ import annotations

import dataclasses
import logging

from imagedeploy.domain.cron import RUN_TIME_LIMIT_SECONDS, CronRun, RunStatus, RunTrigger
from imagedeploy.domain.errors import Conflict, NotFound
from imagedeploy.domain.events import EventType
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.listing import ANY_RUN, RunFilter
from imagedeploy.domain.outbox import StartCronRun, StopCronRun
from imagedeploy.domain.services import Service, ServiceType
from imagedeploy.ports import Page, Ports
from imagedeploy.usecases.common import get_service
from imagedeploy.usecases.deploys import pinned_image, runnable_live_deploy
from imagedeploy.usecases.unit_of_work import UnitOfWork, retry_on_conflict, unit_of_work

logger = logging.getLogger(__name__)


def _cron_job(ports: Ports, service_id: str) -> Service:
    service = get_service(ports, service_id)
    if service.type is not ServiceType.CRON_JOB:
        raise NotFound(f"cron job {service_id} not found ({service_id} is a {service.type})")
    return service


def list_runs(
    ports: Ports,
    service_id: str,
    limit: int,
    cursor: str | None,
    where: RunFilter = ANY_RUN,
) -> Page[CronRun]:
    _cron_job(ports, service_id)
    return ports.store.list_runs(service_id, limit, cursor, where)


@retry_on_conflict
def tick(ports: Ports, service_id: str) -> CronRun | None:
    """The schedule fired. Starts a run, or marks the tick pending while a run is active."""
    service = ports.store.get_service(service_id)
    if service is None or service.type is not ServiceType.CRON_JOB or service.suspended:
        return None
    if service.live_deploy_id is None:
        logger.info("cron tick skipped: no live deploy", extra={"service_id": service_id})
        return None
    with unit_of_work(ports) as tx:
        if service.active_run_id is not None:
            if not service.pending_tick:
                tx.put(dataclasses.replace(service, pending_tick=True))
            return None
        return _start(ports, tx, service, RunTrigger.SCHEDULE)


@retry_on_conflict
def trigger_run(ports: Ports, service_id: str) -> CronRun:
    """``POST /v1/cron-jobs/{id}/runs``: cancel the active run, if any, and start a new one."""
    service = _cron_job(ports, service_id)
    if service.suspended:
        raise Conflict(f"cron job {service_id} is suspended; resume it before running it")
    if service.live_deploy_id is None:
        raise Conflict(f"cron job {service_id} has no live deploy yet; deploy it first")
    with unit_of_work(ports) as tx:
        if service.active_run_id is not None:
            active = ports.store.get_run(service.active_run_id)
            if active is not None and active.status is RunStatus.PENDING:
                canceled = tx.put(
                    _ended_run(ports, active, RunStatus.CANCELED, None, "a manual run replaced it")
                )
                tx.record(service, EventType.CRON_JOB_RUN_ENDED, ended_details(canceled))
                tx.effect(StopCronRun(service_id, canceled.id))
        return _start(ports, tx, service, RunTrigger.MANUAL)


@retry_on_conflict
def cancel_active_run(ports: Ports, service_id: str) -> CronRun:
    """``DELETE /v1/cron-jobs/{id}/runs``."""
    service = _cron_job(ports, service_id)
    run = ports.store.get_run(service.active_run_id) if service.active_run_id else None
    if run is None or run.status is not RunStatus.PENDING:
        raise Conflict(f"cron job {service_id} has no active run to cancel")
    with unit_of_work(ports) as tx:
        ended = _end(ports, tx, service, run, RunStatus.CANCELED, None, "canceled by a user")
        tx.effect(StopCronRun(service_id, run.id))
    return ended


@retry_on_conflict
def run_ended(
    ports: Ports,
    run_id: str,
    status: RunStatus,
    exit_code: int | None,
    reason: str = "",
    *,
    stop: bool = False,
) -> CronRun | None:
    """A run finished (exit code, timeout, cancel). Idempotent: a run ends once. Starts the
    pending scheduled tick, if one waited. ``stop``: also stop its container (a timeout)."""
    run = ports.store.get_run(run_id)
    if run is None or run.status is not RunStatus.PENDING:
        return None
    service = ports.store.get_service(run.service_id)
    with unit_of_work(ports) as tx:
        if stop:
            tx.effect(StopCronRun(run.service_id, run.id))
        if service is None:
            return tx.put(_ended_run(ports, run, status, exit_code, reason))
        return _end(ports, tx, service, run, status, exit_code, reason)


def _end(
    ports: Ports,
    tx: UnitOfWork,
    service: Service,
    run: CronRun,
    status: RunStatus,
    exit_code: int | None,
    reason: str,
) -> CronRun:
    """End a pending run, free its service's slot and start the tick that waited, if any."""
    ended = tx.put(_ended_run(ports, run, status, exit_code, reason))
    tx.record(service, EventType.CRON_JOB_RUN_ENDED, ended_details(ended))
    if service.active_run_id != run.id:
        return ended
    freed = dataclasses.replace(service, active_run_id=None, pending_tick=False)
    if service.pending_tick and not service.suspended and service.live_deploy_id:
        _start(ports, tx, freed, RunTrigger.SCHEDULE)
    else:
        tx.put(freed)
    return ended


def ended_details(run: CronRun) -> dict[str, object]:
    """The ``cron_job_run_ended`` event of an ended run."""
    details: dict[str, object] = {"cronJobRunId": run.id, "status": run.status.value}
    if run.status is RunStatus.UNSUCCESSFUL:
        details["reason"] = _failure_reason(run.exit_code, run.reason)
    return details


def _failure_reason(exit_code: int | None, reason: str) -> dict[str, object]:
    why: dict[str, object] = {"evicted": False}
    if exit_code is not None and exit_code != 0:
        why["nonZeroExit"] = exit_code
    if reason == "timed out":
        why["timedOutSeconds"] = RUN_TIME_LIMIT_SECONDS
    elif reason and exit_code is None:
        why["platformError"] = reason
    return why


def _ended_run(
    ports: Ports, run: CronRun, status: RunStatus, exit_code: int | None, reason: str
) -> CronRun:
    return dataclasses.replace(
        run, status=status, exit_code=exit_code, finished_at=ports.clock.now(), reason=reason
    )


def _start(ports: Ports, tx: UnitOfWork, service: Service, trigger: RunTrigger) -> CronRun:
    """A new pending run, the service's active-run pointer, the started event and the launch."""
    live = runnable_live_deploy(ports, service)
    if live is None:
        raise Conflict(f"cron job {service.id} has no live deploy to run")
    now = ports.clock.now()
    run = tx.put(
        CronRun(
            id=new_id("run"),
            service_id=service.id,
            status=RunStatus.PENDING,
            trigger=trigger,
            deploy_id=live.id,
            image=pinned_image(live),
            started_at=now,
        )
    )
    tx.put(dataclasses.replace(service, active_run_id=run.id, pending_tick=False))
    tx.record(service, EventType.CRON_JOB_RUN_STARTED, {"cronJobRunId": run.id})
    tx.effect(StartCronRun(run.id))
    return run
