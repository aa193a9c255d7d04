"""Reconcile: the periodic repair of lost jobs, lost runtime signals, timeouts and crashes —
real SQLite store, fake registry, runtime and job queue (``world``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from devkit.fakes import FakeRuntime
from devkit.world import World
from imagedeploy.domain.cron import CronRun, RunStatus
from imagedeploy.domain.deploy_machine import (
    Begin,
    InstanceFailed,
    Phase,
    PreDeployExited,
    PullFailed,
    RolloutHealthy,
    Signal,
)
from imagedeploy.domain.deploys import Deploy, DeployStatus, DeployTrigger
from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.events import EventType
from imagedeploy.domain.outcomes import Unhealthy
from imagedeploy.domain.services import Service, ServiceType
from imagedeploy.ports import DescribesDeploys, Job
from imagedeploy.usecases import cron, deploys
from imagedeploy.usecases.reconcile import (
    LOST_JOB_GRACE_SECONDS,
    PREFLIGHT_TIMEOUT_SECONDS,
    Progress,
    ReconcileReport,
    reconcile,
)
from imagedeploy.usecases.worker import run_job

pytestmark = pytest.mark.unit

DEPLOY_TIMEOUT = 15 * 60
PRE_DEPLOY_TIMEOUT = 30 * 60
RUN_TIMEOUT = 12 * 3600


# -- helpers ------------------------------------------------------------------------------------


def deploy_of(world: World, deploy_id: str) -> Deploy:
    deploy = world.store.get_deploy(deploy_id)
    assert deploy is not None
    return deploy


def service_of(world: World, service_id: str) -> Service:
    service = world.store.get_service(service_id)
    assert service is not None
    return service


def run_next_job(world: World, kind: str) -> None:
    job = world.jobs.queue.popleft()
    assert job.kind == kind
    run_job(world.ports, job)


def lose_jobs(world: World) -> list[Job]:
    lost = list(world.jobs.queue)
    world.jobs.queue.clear()
    return lost


def lose_effects(world: World) -> None:
    """Lose the queued jobs and the outbox records they dispatch: what reconcile repairs
    without the outbox (the outbox's own repair is tested on its own)."""
    lose_jobs(world)
    for record in world.store.list_outbox(100).items:
        world.store.write(delete=[record])


def in_preflight(world: World, name: str = "web") -> Deploy:
    """A new service's first deploy, begun, whose preflight was lost."""
    created = world.create(name=name)
    lose_effects(world)
    deploys.handle_signal(world.ports, created.deploy.id, Begin())
    lose_effects(world)
    return deploy_of(world, created.deploy.id)


def rolling_out(world: World, name: str = "web", **settings: object) -> Deploy:
    """A new service's first deploy in its rollout (or pre-deploy) phase."""
    created = world.create(ServiceType.WEB_SERVICE, name=name, **settings)
    world.drain()
    return deploy_of(world, created.deploy.id)


def live_then_rolling(world: World) -> tuple[Deploy, Deploy]:
    """A live deploy and a second one of the same service in its rollout."""
    created = world.create()
    world.go_live(created.deploy.id)
    second = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API)
    world.drain()
    return deploy_of(world, created.deploy.id), deploy_of(world, second.deploy.id)


def snapshot(world: World, *service_ids: str) -> dict[str, Any]:
    """Everything a pass could change: deploys and runs (with versions), services, events,
    queued jobs, runtime calls."""
    state: dict[str, Any] = {
        "jobs": list(world.jobs.queue),
        "runtime": list(world.runtime.calls),
        "notified": len(world.notifier.sent),
    }
    for service_id in service_ids:
        state[service_id] = (
            world.store.get_service(service_id),
            world.store.list_deploys(service_id, 100).items,
            world.store.list_runs(service_id, 100).items,
            world.store.list_events(service_id, 100).items,
        )
    return state


def assert_quiet(report: ReconcileReport) -> None:
    assert not report.changed, report
    assert report.failed == []


# -- lost jobs ------------------------------------------------------------------------------------


def test_lost_preflight_job_is_requeued_after_the_grace_period_and_the_deploy_completes(
    world: World,
) -> None:
    deploy = in_preflight(world)
    assert_quiet(reconcile(world.ports))  # it may still be queued or running
    assert not world.jobs.queue

    world.clock.advance(LOST_JOB_GRACE_SECONDS)
    report = reconcile(world.ports)
    assert report.requeued == [Job("preflight", deploy.id)]
    assert list(world.jobs.queue) == [Job("preflight", deploy.id)]
    assert_quiet(reconcile(world.ports))  # once per grace period
    assert len(world.jobs.queue) == 1

    world.drain()
    assert deploy_of(world, deploy.id).status is DeployStatus.UPDATE_IN_PROGRESS
    world.go_live(deploy.id)
    assert deploy_of(world, deploy.id).status is DeployStatus.LIVE


def test_a_preflight_job_lost_again_is_requeued_again_in_the_next_grace_window(
    world: World,
) -> None:
    deploy = in_preflight(world)
    world.clock.advance(LOST_JOB_GRACE_SECONDS)
    assert reconcile(world.ports).requeued == [Job("preflight", deploy.id)]
    lose_jobs(world)
    world.clock.advance(LOST_JOB_GRACE_SECONDS / 2)
    assert_quiet(reconcile(world.ports))
    world.clock.advance(LOST_JOB_GRACE_SECONDS / 2)
    assert reconcile(world.ports).requeued == [Job("preflight", deploy.id)]


def test_a_preflight_stuck_past_its_limit_times_out(world: World) -> None:
    deploy = in_preflight(world)
    world.clock.advance(PREFLIGHT_TIMEOUT_SECONDS)
    report = reconcile(world.ports)
    assert report.timed_out == [deploy.id]
    failed = deploy_of(world, deploy.id)
    assert failed.status is DeployStatus.UPDATE_FAILED
    assert failed.reason == {
        "failure": {"evicted": False, "timedOutSeconds": PREFLIGHT_TIMEOUT_SECONDS}
    }
    assert service_of(world, deploy.service_id).active_deploy_id is None
    assert_quiet(reconcile(world.ports))


def test_lost_begin_job_of_the_active_deploy_is_requeued(world: World) -> None:
    created = world.create()
    assert [job.kind for job in lose_jobs(world)] == ["outbox"]  # its ``begin`` effect
    for record in world.store.list_outbox(100).items:  # lost too (a store from before it)
        world.store.write(delete=[record])
    assert_quiet(reconcile(world.ports))
    world.clock.advance(LOST_JOB_GRACE_SECONDS)
    assert reconcile(world.ports).requeued == [Job("begin", created.deploy.id)]
    assert_quiet(reconcile(world.ports))
    world.drain()
    assert deploy_of(world, created.deploy.id).status is DeployStatus.UPDATE_IN_PROGRESS


# -- timeouts -------------------------------------------------------------------------------------


def test_lost_rollout_healthy_signal_never_makes_a_deploy_live_it_times_out(
    world: World,
) -> None:
    live, rolling = live_then_rolling(world)
    world.clock.advance(DEPLOY_TIMEOUT - 1)
    assert_quiet(reconcile(world.ports))
    assert deploy_of(world, rolling.id).status is DeployStatus.UPDATE_IN_PROGRESS

    world.clock.advance(1)
    report = reconcile(world.ports)
    assert report.timed_out == [rolling.id]
    failed = deploy_of(world, rolling.id)
    assert failed.status is DeployStatus.UPDATE_FAILED
    assert failed.reason == {"failure": {"evicted": False, "timedOutSeconds": DEPLOY_TIMEOUT}}
    world.drain()
    assert ("cancel", rolling.id) in world.runtime.calls
    service = service_of(world, live.service_id)
    assert (service.live_deploy_id, service.active_deploy_id) == (live.id, None)
    assert deploy_of(world, live.id).status is DeployStatus.LIVE  # the old version serves on
    ended = world.store.list_events(live.service_id, 1).items[0]
    assert ended.type is EventType.DEPLOY_ENDED
    assert ended.details["deployStatus"] == "failed"

    # the signal arriving late changes nothing any more
    deploys.handle_signal(world.ports, rolling.id, RolloutHealthy())
    assert deploy_of(world, rolling.id).status is DeployStatus.UPDATE_FAILED
    assert_quiet(reconcile(world.ports))


def test_the_timeout_counts_from_entering_the_phase_not_from_creation(world: World) -> None:
    created = world.create()
    world.drain()  # first deploy rolling out
    queued = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API)
    world.clock.advance(DEPLOY_TIMEOUT - 60)  # the second waits all this time
    world.go_live(created.deploy.id)  # promotes and rolls out the second
    assert deploy_of(world, queued.deploy.id).status is DeployStatus.UPDATE_IN_PROGRESS
    world.clock.advance(120)  # created more than 15 min ago, rolling out for 2 min
    assert_quiet(reconcile(world.ports))
    assert deploy_of(world, queued.deploy.id).status is DeployStatus.UPDATE_IN_PROGRESS


def test_a_pre_deploy_command_past_its_limit_times_out(world: World) -> None:
    deploy = rolling_out(world, pre_deploy_command="./migrate")
    assert deploy.status is DeployStatus.PRE_DEPLOY_IN_PROGRESS
    world.clock.advance(PRE_DEPLOY_TIMEOUT - 1)
    assert_quiet(reconcile(world.ports))
    world.clock.advance(1)
    assert reconcile(world.ports).timed_out == [deploy.id]
    failed = deploy_of(world, deploy.id)
    assert failed.status is DeployStatus.PRE_DEPLOY_FAILED
    assert failed.reason["failure"]["timedOutSeconds"] == PRE_DEPLOY_TIMEOUT
    world.drain()
    assert ("cancel", deploy.id) in world.runtime.calls
    types = {event.type for event in world.store.list_events(deploy.service_id, 2).items}
    assert types == {EventType.DEPLOY_ENDED, EventType.PRE_DEPLOY_ENDED}  # same timestamp
    assert_quiet(reconcile(world.ports))


# -- lost runtime signals, from a runtime that describes deploys ---------------------------------


@dataclasses.dataclass
class DescribingRuntime(FakeRuntime):
    """A runtime that can say what the platform's state implies (``ports.DescribesDeploys``,
    like the ECS runtime): ``signals`` per deploy id, None (or absent) = still in progress."""

    signals: dict[str, Signal | None] = dataclasses.field(default_factory=dict)
    broken: bool = False

    def describe_deploy(self, service_id: str, deploy_id: str) -> Signal | None:
        self.calls.append(("describe_deploy", deploy_id))
        if self.broken:
            raise RuntimeError("ECS throttled the request")
        return self.signals.get(deploy_id)


@pytest.fixture
def describing(world: World) -> DescribingRuntime:
    """Make ``world`` run on a runtime that describes deploys."""
    runtime = DescribingRuntime()
    world.runtime = runtime
    world.ports = dataclasses.replace(world.ports, runtime=runtime)
    return runtime


def test_only_runtimes_that_describe_deploys_are_asked() -> None:
    assert isinstance(DescribingRuntime(), DescribesDeploys)
    assert not isinstance(FakeRuntime(), DescribesDeploys)  # the local runtime's behaviour


def test_a_lost_rollout_completed_signal_makes_the_deploy_live(
    world: World, describing: DescribingRuntime
) -> None:
    live, rolling = live_then_rolling(world)
    assert_quiet(reconcile(world.ports))  # its signal is likely on its way: not described
    assert ("describe_deploy", rolling.id) not in describing.calls
    world.clock.advance(LOST_JOB_GRACE_SECONDS)
    assert_quiet(reconcile(world.ports))  # still in progress: nothing to repair
    assert ("describe_deploy", rolling.id) in describing.calls

    describing.signals[rolling.id] = RolloutHealthy()
    report = reconcile(world.ports)
    assert report.recovered == [rolling.id] and report.timed_out == []
    assert deploy_of(world, rolling.id).status is DeployStatus.LIVE
    assert deploy_of(world, live.id).status is DeployStatus.DEACTIVATED
    service = service_of(world, live.service_id)
    assert (service.live_deploy_id, service.active_deploy_id) == (rolling.id, None)
    ended = world.store.list_events(live.service_id, 1).items[0]
    assert ended.type is EventType.DEPLOY_ENDED
    assert ended.details["deployStatus"] == "succeeded"

    # the event arriving late changes nothing; neither does a second pass
    before = snapshot(world, live.service_id)
    deploys.handle_signal(world.ports, rolling.id, RolloutHealthy())
    assert_quiet(reconcile(world.ports))
    assert snapshot(world, live.service_id) == before


@pytest.mark.parametrize(
    "signal",
    [
        InstanceFailed(Unhealthy("the ECS deployment failed")),
        PullFailed(Phase.ROLLOUT, PullFailureReason.NOT_FOUND, "manifest unknown"),
    ],
    ids=["instance_failed", "pull_failed"],
)
def test_a_lost_rollout_failure_fails_the_deploy(
    world: World, describing: DescribingRuntime, signal: Signal
) -> None:
    live, rolling = live_then_rolling(world)
    describing.signals[rolling.id] = signal
    world.clock.advance(LOST_JOB_GRACE_SECONDS)
    report = reconcile(world.ports)
    assert report.recovered == [rolling.id]
    assert deploy_of(world, rolling.id).status is DeployStatus.UPDATE_FAILED
    world.drain()
    assert ("cancel", rolling.id) in describing.calls
    assert deploy_of(world, live.id).status is DeployStatus.LIVE  # the old version serves on
    assert service_of(world, live.service_id).live_deploy_id == live.id
    assert_quiet(reconcile(world.ports))


def test_an_undecided_rollout_is_left_alone_until_its_timeout(
    world: World, describing: DescribingRuntime
) -> None:
    _, rolling = live_then_rolling(world)
    describing.signals[rolling.id] = None
    world.clock.advance(DEPLOY_TIMEOUT - 1)
    assert_quiet(reconcile(world.ports))
    assert deploy_of(world, rolling.id).status is DeployStatus.UPDATE_IN_PROGRESS
    # a signal that does not apply to the phase changes nothing either
    describing.signals[rolling.id] = PreDeployExited(1)
    assert_quiet(reconcile(world.ports))
    assert deploy_of(world, rolling.id).status is DeployStatus.UPDATE_IN_PROGRESS

    world.clock.advance(1)
    report = reconcile(world.ports)
    assert (report.timed_out, report.recovered) == ([rolling.id], [])
    assert deploy_of(world, rolling.id).status is DeployStatus.UPDATE_FAILED


def test_a_runtime_that_cannot_describe_now_does_not_keep_the_timeout_away(
    world: World, describing: DescribingRuntime
) -> None:
    _, rolling = live_then_rolling(world)
    describing.broken = True
    assert_quiet(reconcile(world.ports))
    world.clock.advance(DEPLOY_TIMEOUT)
    report = reconcile(world.ports)
    assert (report.timed_out, report.failed) == ([rolling.id], [])


def test_a_lost_pre_deploy_exit_fails_the_deploy(
    world: World, describing: DescribingRuntime
) -> None:
    deploy = rolling_out(world, pre_deploy_command="./migrate")
    assert deploy.status is DeployStatus.PRE_DEPLOY_IN_PROGRESS
    describing.signals[deploy.id] = PreDeployExited(1)
    world.clock.advance(LOST_JOB_GRACE_SECONDS)
    report = reconcile(world.ports)
    assert report.recovered == [deploy.id]
    failed = deploy_of(world, deploy.id)
    assert failed.status is DeployStatus.PRE_DEPLOY_FAILED
    assert failed.reason == {"failure": {"evicted": False, "nonZeroExit": 1}}
    assert ("start_rollout", deploy.id) not in describing.calls
    assert EventType.PRE_DEPLOY_ENDED in {
        event.type for event in world.store.list_events(deploy.service_id, 10).items
    }
    assert_quiet(reconcile(world.ports))


def test_a_lost_pre_deploy_success_starts_the_rollout(
    world: World, describing: DescribingRuntime
) -> None:
    deploy = rolling_out(world, pre_deploy_command="./migrate")
    describing.signals[deploy.id] = PreDeployExited(0)
    world.clock.advance(LOST_JOB_GRACE_SECONDS)
    report = reconcile(world.ports)
    assert report.recovered == [deploy.id]
    assert deploy_of(world, deploy.id).status is DeployStatus.UPDATE_IN_PROGRESS
    world.drain()
    assert ("start_rollout", deploy.id) in describing.calls
    # the rollout, in turn, completes through the runtime's description
    describing.signals[deploy.id] = RolloutHealthy()
    world.clock.advance(LOST_JOB_GRACE_SECONDS)
    assert reconcile(world.ports).recovered == [deploy.id]
    assert deploy_of(world, deploy.id).status is DeployStatus.LIVE


# -- queued deploys -------------------------------------------------------------------------------


@pytest.mark.parametrize("slot", ["empty", "stale"])
def test_a_queued_deploy_whose_service_has_nothing_in_progress_is_promoted(
    world: World, slot: str
) -> None:
    created = world.create()
    world.drain()
    queued = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API).deploy
    # The first deploy ended without freeing the slot (a crash between writes of an older
    # version, a bug): the queued deploy would wait forever.
    first = deploy_of(world, created.deploy.id)
    ended = dataclasses.replace(
        first, status=DeployStatus.UPDATE_FAILED, finished_at=first.updated_at
    )
    service = service_of(world, created.service.id)
    puts: list[Any] = [ended]
    if slot == "empty":
        puts.append(dataclasses.replace(service, active_deploy_id=None))
    world.store.write(put=puts)

    report = reconcile(world.ports)
    assert report.promoted == [queued.id]
    promoted = deploy_of(world, queued.id)
    assert promoted.status is DeployStatus.CREATED and promoted.started_at is None
    service = service_of(world, created.service.id)
    assert (service.active_deploy_id, service.queued_deploy_id) == (queued.id, None)
    assert [job.kind for job in world.jobs.queue] == ["outbox"]  # its ``begin``
    world.drain()
    assert deploy_of(world, queued.id).status is DeployStatus.UPDATE_IN_PROGRESS
    assert_quiet(reconcile(world.ports))

    world.go_live(queued.id)
    assert deploy_of(world, queued.id).status is DeployStatus.LIVE


def test_a_queued_deploy_behind_a_newer_one_is_canceled_when_its_supersede_job_is_lost(
    world: World,
) -> None:
    created = world.create()
    world.drain()  # first deploy rolling out
    second = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API).deploy
    third = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API).deploy
    assert [job.kind for job in lose_jobs(world)] == ["outbox"]  # its ``supersede``
    lose_effects(world)

    report = reconcile(world.ports)
    assert report.canceled == [second.id]
    canceled = deploy_of(world, second.id)
    assert canceled.status is DeployStatus.CANCELED
    assert canceled.reason == {"newDeploy": {"id": third.id}}
    assert deploy_of(world, third.id).status is DeployStatus.QUEUED
    assert service_of(world, created.service.id).queued_deploy_id == third.id
    assert_quiet(reconcile(world.ports))


def test_a_queued_deploy_waiting_its_turn_is_left_alone(world: World) -> None:
    created = world.create()
    world.drain()
    deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API)
    world.clock.advance(DEPLOY_TIMEOUT - 1)
    before = snapshot(world, created.service.id)
    assert_quiet(reconcile(world.ports))
    assert snapshot(world, created.service.id) == before


def test_a_waiting_deploy_no_slot_refers_to_is_queued_again(world: World) -> None:
    created = world.create()
    world.drain()
    queued = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API).deploy
    service = service_of(world, created.service.id)
    world.store.write(put=[dataclasses.replace(service, queued_deploy_id=None)])

    assert reconcile(world.ports).requeued_slots == [queued.id]
    assert service_of(world, created.service.id).queued_deploy_id == queued.id
    assert_quiet(reconcile(world.ports))
    world.go_live(created.deploy.id)  # the normal promotion now finds it
    assert deploy_of(world, queued.id).status is DeployStatus.UPDATE_IN_PROGRESS


# -- suspended and deleted services ---------------------------------------------------------------


def test_deploys_of_a_suspended_service_are_canceled(world: World) -> None:
    created = world.create()
    world.drain()
    queued = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API).deploy
    service = service_of(world, created.service.id)
    # suspend wrote the flag, then the process died before it canceled the deploys
    world.store.write(put=[dataclasses.replace(service, suspended=True)])
    lose_effects(world)

    report = reconcile(world.ports)
    assert sorted(report.canceled) == sorted([created.deploy.id, queued.id])
    assert deploy_of(world, created.deploy.id).status is DeployStatus.CANCELED
    assert deploy_of(world, queued.id).status is DeployStatus.CANCELED
    service = service_of(world, created.service.id)
    assert (service.active_deploy_id, service.queued_deploy_id) == (None, None)
    world.drain()
    assert ("cancel", created.deploy.id) in world.runtime.calls
    assert deploy_of(world, queued.id).started_at is None  # nothing promoted on it
    assert_quiet(reconcile(world.ports))


def test_deploys_of_a_deleted_service_are_canceled(world: World) -> None:
    deploy = rolling_out(world)
    world.store.write(delete=[service_of(world, deploy.service_id)])
    report = reconcile(world.ports)
    assert report.canceled == [deploy.id]
    assert deploy_of(world, deploy.id).status is DeployStatus.CANCELED
    world.drain()
    assert ("cancel", deploy.id) in world.runtime.calls
    assert_quiet(reconcile(world.ports))


# -- resume after a restart -----------------------------------------------------------------------


def test_resume_reissues_runtime_commands_and_requeues_lost_jobs_at_once(world: World) -> None:
    rolling = rolling_out(world, name="web")
    pre = rolling_out(world, name="migrating", pre_deploy_command="./migrate")
    preflight = in_preflight(world, name="resolving")
    created = world.create(name="fresh")
    lose_jobs(world)  # the old process took its queue with it
    fresh_records = [r.id for r in world.store.list_outbox(100).items]
    world.runtime.calls.clear()

    report = reconcile(world.ports, resume=True)
    assert sorted(report.resumed) == sorted([rolling.id, pre.id])
    world.drain()
    assert ("start_rollout", rolling.id) in world.runtime.calls
    assert ("start_pre_deploy", pre.id) in world.runtime.calls
    spec = next(s for s in world.runtime.specs if s.deploy_id == pre.id and s.command)
    assert spec.command == ("./migrate",)
    assert sorted(report.requeued, key=lambda job: job.kind) == [
        Job("begin", created.deploy.id),
        *[Job("outbox", record_id) for record_id in fresh_records],  # its ``begin`` effect
        Job("preflight", preflight.id),
    ]
    assert not report.timed_out

    # the periodic pass after it repeats none of it
    assert_quiet(reconcile(world.ports))
    world.drain()
    for deploy_id in (rolling.id, preflight.id, created.deploy.id):
        assert deploy_of(world, deploy_id).status is DeployStatus.UPDATE_IN_PROGRESS
    assert deploy_of(world, pre.id).status is DeployStatus.PRE_DEPLOY_IN_PROGRESS


def test_resume_times_out_what_outlived_its_limit_while_down(world: World) -> None:
    deploy = rolling_out(world)
    world.runtime.calls.clear()
    world.clock.advance(DEPLOY_TIMEOUT)
    report = reconcile(world.ports, resume=True)
    assert (report.timed_out, report.resumed) == ([deploy.id], [])
    assert ("start_rollout", deploy.id) not in world.runtime.calls


# -- cron runs ------------------------------------------------------------------------------------


def pending_run(world: World) -> CronRun:
    created = world.create(ServiceType.CRON_JOB, name="nightly")
    world.go_live(created.deploy.id)
    run = cron.tick(world.ports, created.service.id)
    assert run is not None and run.status is RunStatus.PENDING
    world.drain()
    return run


def test_a_cron_run_past_its_limit_ends_unsuccessful_and_is_stopped(world: World) -> None:
    run = pending_run(world)
    world.clock.advance(RUN_TIMEOUT - 1)
    report = reconcile(world.ports)
    assert report.runs_examined == 1
    assert_quiet(report)

    world.clock.advance(1)
    report = reconcile(world.ports)
    assert report.runs_timed_out == [run.id]
    ended = world.store.get_run(run.id)
    assert ended is not None
    assert (ended.status, ended.reason) == (RunStatus.UNSUCCESSFUL, "timed out")
    world.drain()
    assert ("stop_cron_run", run.id) in world.runtime.calls
    assert service_of(world, run.service_id).active_run_id is None
    event = world.store.list_events(run.service_id, 1).items[0]
    assert event.type is EventType.CRON_JOB_RUN_ENDED
    assert event.details["reason"]["timedOutSeconds"] == RUN_TIMEOUT

    report = reconcile(world.ports)
    assert report.runs_examined == 0
    assert_quiet(report)


def test_a_tick_that_waited_for_a_timed_out_run_starts_the_next_run(world: World) -> None:
    run = pending_run(world)
    assert cron.tick(world.ports, run.service_id) is None  # waits for the active run
    world.clock.advance(RUN_TIMEOUT)
    assert reconcile(world.ports).runs_timed_out == [run.id]
    service = service_of(world, run.service_id)
    assert service.active_run_id not in (None, run.id)
    world.drain()
    assert ("start_cron_run", service.active_run_id) in world.runtime.calls


def test_resume_starts_pending_cron_runs_again(world: World) -> None:
    run = pending_run(world)
    world.runtime.calls.clear()
    report = reconcile(world.ports, resume=True)
    assert report.resumed == [run.id]
    world.drain()
    assert world.runtime.calls == [("start_cron_run", run.id)]
    assert world.runtime.specs[-1].image == run.image


def test_a_lost_outbox_job_is_enqueued_again_and_its_effect_runs_once(world: World) -> None:
    """``serve`` killed between a commit and the dispatch of its effects: the record is in the
    store, the job was in memory."""
    deploy = rolling_out(world)
    deploys.cancel_deploy(world.ports, deploy.service_id, deploy.id)
    (record,) = world.store.list_outbox(10).items
    lose_jobs(world)
    assert_quiet(reconcile(world.ports))  # its job may still be queued: give it the grace
    world.clock.advance(LOST_JOB_GRACE_SECONDS)
    assert reconcile(world.ports).requeued == [Job("outbox", record.id)]
    assert_quiet(reconcile(world.ports))  # once per grace window
    world.drain()
    assert world.runtime.calls.count(("cancel", deploy.id)) == 1
    assert world.store.list_outbox(10).items == []


def test_resume_enqueues_every_outbox_record_at_once(world: World) -> None:
    deploy = rolling_out(world)
    deploys.cancel_deploy(world.ports, deploy.service_id, deploy.id)
    (record,) = world.store.list_outbox(10).items
    lose_jobs(world)  # the process died with them
    assert Job("outbox", record.id) in reconcile(world.ports, resume=True).requeued
    world.drain()
    assert world.runtime.calls.count(("cancel", deploy.id)) == 1


# -- the pass as a whole --------------------------------------------------------------------------


def test_reconcile_walks_every_page(world: World) -> None:
    ids = [rolling_out(world, name=f"web-{index}").id for index in range(5)]
    world.clock.advance(DEPLOY_TIMEOUT)
    report = reconcile(world.ports, page_size=2)
    assert report.deploys_examined == 5
    assert sorted(report.timed_out) == sorted(ids)


def test_a_pass_out_of_time_stops_and_the_next_resumes_where_it_stopped(world: World) -> None:
    ids = [rolling_out(world, name=f"web-{index}").id for index in range(5)]
    world.clock.advance(DEPLOY_TIMEOUT)
    progress = Progress()
    timed_out: list[str] = []
    examined = []
    for _ in range(3):  # a budget of 0: one page per pass
        report = reconcile(
            world.ports, page_size=2, budget_seconds=0, progress=progress, timer=lambda: 0.0
        )
        examined.append(report.deploys_examined)
        timed_out += report.timed_out
    assert examined == [2, 2, 1]
    assert sorted(timed_out) == sorted(ids)  # each once, none skipped
    assert not report.finished  # the runs and the outbox are still to walk
    while not report.finished:
        report = reconcile(
            world.ports, page_size=2, budget_seconds=0, progress=progress, timer=lambda: 0.0
        )
    assert (progress.walk, progress.cursor) == (0, None)  # the next pass starts over


def test_a_failing_repair_does_not_stop_the_others(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = rolling_out(world, name="one"), rolling_out(world, name="two")
    real_get = world.store.get_service

    def get_service(service_id: str) -> Service | None:
        if service_id == first.service_id:
            raise RuntimeError("store unavailable")
        return real_get(service_id)

    monkeypatch.setattr(world.store, "get_service", get_service)
    report = reconcile(world.ports, resume=True)
    assert (report.failed, report.resumed) == ([first.id], [second.id])


def test_running_reconcile_twice_changes_nothing_the_second_time(world: World) -> None:
    # One of every repair at once.
    stuck = in_preflight(world, name="stuck")
    lost_begin = world.create(name="lost-begin")
    lose_effects(world)
    _, rolling = live_then_rolling(world)
    busy = world.create(name="busy")
    world.drain()
    older = deploys.trigger_deploy(world.ports, busy.service.id, DeployTrigger.API).deploy
    deploys.trigger_deploy(world.ports, busy.service.id, DeployTrigger.API)
    lose_effects(world)  # the supersede job
    run = pending_run(world)
    world.clock.advance(RUN_TIMEOUT)

    first = reconcile(world.ports)
    assert first.changed and first.failed == []
    assert stuck.id in first.timed_out and rolling.id in first.timed_out
    assert busy.deploy.id in first.timed_out and older.id in first.canceled
    assert first.runs_timed_out == [run.id]
    assert lost_begin.deploy.id not in first.timed_out  # not begun: it gets begin again
    assert Job("begin", lost_begin.deploy.id) in first.requeued

    services = [
        stuck.service_id,
        lost_begin.service.id,
        rolling.service_id,
        busy.service.id,
        run.service_id,
    ]
    before = snapshot(world, *services)
    second = reconcile(world.ports)
    assert_quiet(second)
    assert snapshot(world, *services) == before
