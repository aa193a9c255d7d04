"""Cron job runs (docs/architecture.md §9.3): at most one run at a time; a scheduled tick while a
run is active waits for it (it is not lost), a manual trigger cancels the active run and starts a
new one, and runs are stopped after 12 hours. Each run pulls the live deploy's digest afresh."""

from __future__ import annotations

import dataclasses
import logging

from imagedeploy.domain.cron import CronRun, RunStatus, RunTrigger
from imagedeploy.domain.errors import Conflict, NotFound
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.services import Service, ServiceType
from imagedeploy.ports import Entity, Page, RunSpec
from imagedeploy.usecases.common import get_service, notify_all, retrying
from imagedeploy.usecases.context import Ports
from imagedeploy.usecases.deploys import pinned_image, run_spec

logger = logging.getLogger(__name__)


def _cron_job(ports: Ports, service_id: str) -> Service:
    service = get_service(ports, service_id)
    if service.type is not ServiceType.CRON_JOB:
        raise NotFound(f"cron job {service_id} not found ({service_id} is a {service.type})")
    return service


def list_runs(ports: Ports, service_id: str, limit: int, cursor: str | None) -> Page[CronRun]:
    _cron_job(ports, service_id)
    return ports.store.list_runs(service_id, limit, cursor)


def tick(ports: Ports, service_id: str) -> CronRun | None:
    """The schedule fired. Starts a run, or marks the tick pending while a run is active."""

    def attempt() -> tuple[CronRun, list[Event], Service] | None:
        service = ports.store.get_service(service_id)
        if service is None or service.type is not ServiceType.CRON_JOB or service.suspended:
            return None
        if service.live_deploy_id is None:
            logger.info("cron tick skipped: no live deploy", extra={"service_id": service_id})
            return None
        if service.active_run_id is not None:
            if not service.pending_tick:
                ports.store.write(put=[dataclasses.replace(service, pending_tick=True)])
            return None
        return _start(ports, service, RunTrigger.SCHEDULE, [])

    started = retrying(attempt)
    if started is None:
        return None
    run, events, service = started
    _launch(ports, service, run, events)
    return run


def trigger_run(ports: Ports, service_id: str) -> CronRun:
    """``POST /v1/cron-jobs/{id}/runs``: cancel the active run, if any, and start a new one."""

    def attempt() -> tuple[CronRun | None, list[Event], Service, CronRun | None]:
        service = _cron_job(ports, service_id)
        if service.suspended:
            raise Conflict(f"cron job {service_id} is suspended; resume it before running it")
        if service.live_deploy_id is None:
            raise Conflict(f"cron job {service_id} has no live deploy yet; deploy it first")
        extra: list[Entity] = []
        ended_events: list[Event] = []
        canceled = None
        if service.active_run_id is not None:
            active = ports.store.get_run(service.active_run_id)
            if active is not None and active.status is RunStatus.PENDING:
                canceled = _ended(
                    ports, active, RunStatus.CANCELED, None, "a manual run replaced it"
                )
                ended_events.append(_ended_event(ports, canceled))
                extra += [canceled, *ended_events]
        run, events, stored_service = _start(ports, service, RunTrigger.MANUAL, extra)
        return run, [*ended_events, *events], stored_service, canceled

    run, events, service, canceled = retrying(attempt)
    if canceled is not None:
        ports.runtime.stop_cron_run(service_id, canceled.id)
    assert run is not None
    _launch(ports, service, run, events)
    return run


def cancel_active_run(ports: Ports, service_id: str) -> CronRun:
    """``DELETE /v1/cron-jobs/{id}/runs``."""
    service = _cron_job(ports, service_id)
    if service.active_run_id is None:
        raise Conflict(f"cron job {service_id} has no active run to cancel")
    run = run_ended(ports, service.active_run_id, RunStatus.CANCELED, None, "canceled by a user")
    if run is None:
        raise Conflict(f"cron job {service_id} has no active run to cancel")
    ports.runtime.stop_cron_run(service_id, run.id)
    return run


def run_ended(
    ports: Ports, run_id: str, status: RunStatus, exit_code: int | None, reason: str = ""
) -> CronRun | None:
    """A run finished (exit code, timeout, cancel). Idempotent: a run ends once. Starts the
    pending scheduled tick, if one waited."""

    def attempt() -> tuple[CronRun | None, list[Event], Service | None, CronRun | None]:
        run = ports.store.get_run(run_id)
        if run is None or run.status is not RunStatus.PENDING:
            return None, [], None, None
        service = ports.store.get_service(run.service_id)
        ended = _ended(ports, run, status, exit_code, reason)
        event = _ended_event(ports, ended)
        if service is None or service.active_run_id != run.id:
            ports.store.write(put=[ended, event])
            return ended, [event], service, None
        freed = dataclasses.replace(service, active_run_id=None, pending_tick=False)
        if service.pending_tick and not service.suspended and service.live_deploy_id:
            next_run, events, stored = _start(ports, freed, RunTrigger.SCHEDULE, [ended, event])
            return ended, [event, *events], stored, next_run
        ports.store.write(put=[ended, event, freed])
        return ended, [event], freed, None

    ended, events, service, next_run = retrying(attempt)
    if service is not None:
        notify_all(ports, service, events)
        if next_run is not None:
            ports.runtime.start_cron_run(_spec(ports, service), next_run.id)
    return ended


def _ended_event(ports: Ports, run: CronRun) -> Event:
    details: dict[str, object] = {"cronJobRunId": run.id, "status": run.status.value}
    if run.status is RunStatus.UNSUCCESSFUL:
        details["reason"] = _failure_reason(run.exit_code, run.reason)
    return Event(
        new_id("evt"), run.service_id, EventType.CRON_JOB_RUN_ENDED, ports.clock.now(), details
    )


def _failure_reason(exit_code: int | None, reason: str) -> dict[str, object]:
    why: dict[str, object] = {"evicted": False}
    if exit_code is not None and exit_code != 0:
        why["nonZeroExit"] = exit_code
    if reason == "timed out":
        why["timedOutSeconds"] = 12 * 3600
    return why


def _ended(
    ports: Ports, run: CronRun, status: RunStatus, exit_code: int | None, reason: str
) -> CronRun:
    return dataclasses.replace(
        run, status=status, exit_code=exit_code, finished_at=ports.clock.now(), reason=reason
    )


def _start(
    ports: Ports, service: Service, trigger: RunTrigger, extra: list[Entity]
) -> tuple[CronRun, list[Event], Service]:
    """Write a new pending run, the service's active-run pointer and the started event."""
    live = ports.store.get_deploy(service.live_deploy_id or "")
    if live is None or live.platform_digest is None:
        raise Conflict(f"cron job {service.id} has no live deploy to run")
    now = ports.clock.now()
    run = CronRun(
        id=new_id("run"),
        service_id=service.id,
        status=RunStatus.PENDING,
        trigger=trigger,
        deploy_id=live.id,
        image=pinned_image(live),
        started_at=now,
    )
    started = Event(
        new_id("evt"), service.id, EventType.CRON_JOB_RUN_STARTED, now, {"cronJobRunId": run.id}
    )
    updated = dataclasses.replace(service, active_run_id=run.id, pending_tick=False)
    stored = ports.store.write(put=[run, updated, started, *extra])
    stored_service = stored[1]
    assert isinstance(stored_service, Service)
    return run, [started], stored_service


def _spec(ports: Ports, service: Service) -> RunSpec:
    """The live deploy's digest and settings, with today's env vars and credential."""
    live = ports.store.get_deploy(service.live_deploy_id or "")
    if live is None:
        raise Conflict(f"cron job {service.id} has no live deploy to run")
    return run_spec(ports, service, live)


def _launch(ports: Ports, service: Service, run: CronRun, events: list[Event]) -> None:
    notify_all(ports, service, events)
    ports.runtime.start_cron_run(_spec(ports, service), run.id)
