"""Cron runs through the use cases: single-run rule, waiting ticks, manual runs cancel the
active one, history and events."""

from __future__ import annotations

import pytest

from devkit.world import AMD1, IMAGE, World
from imagedeploy.domain.cron import RunStatus, RunTrigger
from imagedeploy.domain.errors import Conflict, NotFound
from imagedeploy.domain.events import EventType
from imagedeploy.domain.services import ServiceType
from imagedeploy.usecases import cron, services

pytestmark = pytest.mark.unit


def live_cron(world: World) -> str:
    created = world.create(ServiceType.CRON_JOB, docker_command="/bin/sh -c 'echo hi'")
    world.drain()
    deploy = world.store.get_deploy(created.deploy.id)
    assert deploy is not None and deploy.status.value == "live"  # no containers for a deploy
    assert not [c for c in world.runtime.calls if c[0] == "start_rollout"]
    assert world.scheduler.schedules[created.service.id] == "*/5 * * * *"
    return created.service.id


def test_a_tick_before_the_first_deploy_is_live_does_nothing(world: World) -> None:
    created = world.create(ServiceType.CRON_JOB)
    assert cron.tick(world.ports, created.service.id) is None


def test_tick_starts_a_run_of_the_live_digest(world: World) -> None:
    service_id = live_cron(world)
    run = cron.tick(world.ports, service_id)
    assert run is not None and run.trigger is RunTrigger.SCHEDULE
    assert run.image == f"{IMAGE}@{AMD1}"
    world.drain()
    assert world.runtime.calls[-1] == ("start_cron_run", run.id)
    assert world.runtime.specs[-1].command == ("/bin/sh", "-c", "echo hi")


def test_a_tick_while_a_run_is_active_waits_then_runs(world: World) -> None:
    service_id = live_cron(world)
    first = cron.tick(world.ports, service_id)
    assert first is not None
    assert cron.tick(world.ports, service_id) is None  # waits: not lost, not concurrent
    assert cron.tick(world.ports, service_id) is None  # still one pending tick, not two
    service = world.store.get_service(service_id)
    assert service is not None and service.pending_tick
    cron.run_ended(world.ports, first.id, RunStatus.SUCCESSFUL, 0)
    runs = world.store.list_runs(service_id, 10).items
    assert [r.status for r in runs] == [RunStatus.PENDING, RunStatus.SUCCESSFUL]
    service = world.store.get_service(service_id)
    assert service is not None and not service.pending_tick
    assert service.active_run_id == runs[0].id


def test_a_manual_run_cancels_the_active_one(world: World) -> None:
    service_id = live_cron(world)
    first = cron.tick(world.ports, service_id)
    assert first is not None
    second = cron.trigger_run(world.ports, service_id)
    world.drain()
    assert ("stop_cron_run", first.id) in world.runtime.calls
    # the first run's launch, dispatched after it was canceled, started nothing
    assert ("start_cron_run", first.id) not in world.runtime.calls
    stored = world.store.get_run(first.id)
    assert stored is not None and stored.status is RunStatus.CANCELED
    # the runtime reporting the stopped container later changes nothing
    assert cron.run_ended(world.ports, first.id, RunStatus.UNSUCCESSFUL, 137) is None
    types = [e.type for e in world.store.list_events(service_id, 20).items]
    assert types.count(EventType.CRON_JOB_RUN_ENDED) == 1
    assert types.count(EventType.CRON_JOB_RUN_STARTED) == 2
    service = world.store.get_service(service_id)
    assert service is not None and service.active_run_id == second.id


def test_unsuccessful_run_is_a_failure_notification(world: World) -> None:
    service_id = live_cron(world)
    run = cron.trigger_run(world.ports, service_id)
    cron.run_ended(world.ports, run.id, RunStatus.UNSUCCESSFUL, 2)
    world.drain()
    ended = [e for _, e in world.notifier.sent if e.type is EventType.CRON_JOB_RUN_ENDED]
    assert ended[-1].details["status"] == "unsuccessful"
    assert ended[-1].details["reason"]["nonZeroExit"] == 2


def test_cancel_without_an_active_run_is_a_conflict(world: World) -> None:
    service_id = live_cron(world)
    with pytest.raises(Conflict):
        cron.cancel_active_run(world.ports, service_id)
    run = cron.trigger_run(world.ports, service_id)
    canceled = cron.cancel_active_run(world.ports, service_id)
    assert canceled.id == run.id and canceled.status is RunStatus.CANCELED


def test_runs_are_for_cron_jobs_only(world: World) -> None:
    created = world.create()
    with pytest.raises(NotFound):
        cron.trigger_run(world.ports, created.service.id)


def test_deleting_a_cron_job_stops_its_active_run_before_removing_it(world: World) -> None:
    # its container may still be being created: the runtime must know the run is stopped
    service_id = live_cron(world)
    run = cron.trigger_run(world.ports, service_id)
    world.drain()
    services.delete_service(world.ports, service_id)
    world.drain()
    calls = [c for c in world.runtime.calls if c[0] in ("stop_cron_run", "remove")]
    assert calls[:2] == [("stop_cron_run", run.id), ("remove", service_id)]
