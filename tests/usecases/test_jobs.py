"""One-off jobs through the use cases: created with their launch, run on the live digest with
the service's env and the job's plan, running once accepted, ended once, canceled with a stop."""

from __future__ import annotations

import pytest

from devkit.world import AMD1, IMAGE, World
from imagedeploy.domain.cron import RunEnd, RunStatus
from imagedeploy.domain.errors import InvalidInput, NotFound
from imagedeploy.domain.jobs import JobStatus
from imagedeploy.domain.listing import JobFilter
from imagedeploy.domain.services import PLAN_RESOURCES, EnvVar, Plan, ServiceType
from imagedeploy.ports import Instance
from imagedeploy.usecases import instances, jobs

pytestmark = pytest.mark.unit


def live_web(world: World) -> str:
    created = world.create(ServiceType.WEB_SERVICE, env_vars=(EnvVar("GREETING", "hi"),))
    world.go_live(created.deploy.id)
    return created.service.id


def test_a_job_runs_the_live_digest_with_the_service_env_and_its_plan(world: World) -> None:
    service_id = live_web(world)
    job = jobs.create_job(world.ports, service_id, "sh -c 'echo $GREETING'", "pro")
    assert job.status is JobStatus.PENDING and job.image == f"{IMAGE}@{AMD1}"
    world.drain()
    assert world.runtime.calls[-1] == ("start_job", job.id)
    spec = world.runtime.specs[-1]
    assert spec.command == ("sh", "-c", "echo $GREETING")
    assert spec.env["GREETING"] == "hi"
    assert spec.resources == PLAN_RESOURCES[Plan.PRO] and spec.num_instances == 1
    running = jobs.get_job(world.ports, service_id, job.id)
    assert running.status is JobStatus.RUNNING and running.started_at is not None
    ended = jobs.job_ended(world.ports, job.id, RunEnd(RunStatus.UNSUCCESSFUL, 3, "exit 3"))
    assert ended is not None and ended.status is JobStatus.FAILED and ended.exit_code == 3
    # an end reported twice is recorded once
    assert jobs.job_ended(world.ports, job.id, RunEnd(RunStatus.SUCCESSFUL, 0)) is None


def test_a_job_without_a_plan_uses_the_services(world: World) -> None:
    service_id = live_web(world)
    job = jobs.create_job(world.ports, service_id, "true")
    service = world.store.get_service(service_id)
    assert service is not None and job.plan is service.plan


@pytest.mark.parametrize(
    ("command", "plan", "problem"),
    [("", None, "startCommand"), ("  ", None, "startCommand"), ("true", "huge", "planId")],
)
def test_bad_input_is_refused(world: World, command: str, plan: str | None, problem: str) -> None:
    service_id = live_web(world)
    with pytest.raises(InvalidInput, match=problem):
        jobs.create_job(world.ports, service_id, command, plan)


def test_a_service_without_a_live_deploy_cannot_run_a_job(world: World) -> None:
    created = world.create(ServiceType.BACKGROUND_WORKER)
    with pytest.raises(InvalidInput, match="no live deploy"):
        jobs.create_job(world.ports, created.service.id, "true")
    assert world.store.list_jobs(created.service.id, 10).items == []


def test_cancel_stops_the_job_and_a_late_end_changes_nothing(world: World) -> None:
    service_id = live_web(world)
    job = jobs.create_job(world.ports, service_id, "sleep 600")
    world.drain()
    canceled = jobs.cancel_job(world.ports, service_id, job.id)
    assert canceled.status is JobStatus.CANCELED and canceled.finished_at is not None
    world.drain()
    assert world.runtime.calls[-1] == ("stop_job", job.id)
    assert jobs.job_ended(world.ports, job.id, RunEnd(RunStatus.UNSUCCESSFUL, 143)) is None
    assert jobs.cancel_job(world.ports, service_id, job.id) == canceled  # idempotent


def test_a_job_canceled_before_its_launch_never_starts(world: World) -> None:
    service_id = live_web(world)
    job = jobs.create_job(world.ports, service_id, "sleep 600")
    jobs.cancel_job(world.ports, service_id, job.id)
    world.drain()
    assert ("start_job", job.id) not in world.runtime.calls


def test_a_finished_job_cannot_be_canceled(world: World) -> None:
    service_id = live_web(world)
    job = jobs.create_job(world.ports, service_id, "true")
    world.drain()
    jobs.job_ended(world.ports, job.id, RunEnd(RunStatus.SUCCESSFUL, 0))
    with pytest.raises(InvalidInput, match="already succeeded"):
        jobs.cancel_job(world.ports, service_id, job.id)


def test_a_job_of_another_service_is_not_found(world: World) -> None:
    service_id = live_web(world)
    other = world.create(ServiceType.BACKGROUND_WORKER, name="other").service.id
    job = jobs.create_job(world.ports, service_id, "true")
    with pytest.raises(NotFound):
        jobs.get_job(world.ports, other, job.id)


def test_jobs_list_newest_first_and_filter_by_status(world: World) -> None:
    service_id = live_web(world)
    first = jobs.create_job(world.ports, service_id, "true")
    second = jobs.create_job(world.ports, service_id, "false")
    world.drain()
    jobs.job_ended(world.ports, second.id, RunEnd(RunStatus.UNSUCCESSFUL, 1))
    listed = jobs.list_jobs(world.ports, service_id, 10, None).items
    assert [j.id for j in listed] == [second.id, first.id]
    failed = JobFilter(statuses=frozenset({JobStatus.FAILED}))
    assert [j.id for j in jobs.list_jobs(world.ports, service_id, 10, None, failed).items] == [
        second.id
    ]


def test_instances_come_from_the_runtime_for_long_running_services_only(world: World) -> None:
    service_id = live_web(world)
    live = [Instance("srv-x-abcde", world.clock.now())]
    world.runtime.instances[service_id] = live
    assert instances.list_instances(world.ports, service_id) == live
    cron_job = world.create(ServiceType.CRON_JOB, name="c").service.id
    assert instances.list_instances(world.ports, cron_job) == []
