"""``EcsRuntime`` under moto: one-off jobs (RunTask, once per job, stopped on cancel) and the
instances of a service (its running tasks)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from moto.moto_api import state_manager

from devkit.moto_aws import Aws, make_service, make_spec, record
from imagedeploy.adapters.aws.ecs_runtime import EcsRuntime
from imagedeploy.domain.services import ServiceType

pytestmark = pytest.mark.integration

DEP1 = f"dep-{1:020d}"
JOB = f"job-{7:020d}"
WORKER = make_service(ServiceType.BACKGROUND_WORKER, service_id="srv-0000000000000000000k")


def _tasks(aws: Aws, started_by: str, status: str) -> list[dict[str, object]]:
    ecs = aws.client("ecs")
    arns = ecs.list_tasks(cluster="imagedeploy", startedBy=started_by, desiredStatus=status)
    if not arns["taskArns"]:
        return []
    found = ecs.describe_tasks(cluster="imagedeploy", tasks=arns["taskArns"], include=["TAGS"])
    return list(found["tasks"])


def test_a_job_runs_once_with_its_command_token_and_tags_and_stops(
    aws: Aws, runtime: EcsRuntime
) -> None:
    spec = make_spec(WORKER, DEP1, command=("sh", "-c", "echo $GREETING"))
    calls = record(aws.client("ecs"))
    runtime.start_job(spec, JOB)
    runtime.start_job(spec, JOB)  # a repeated effect starts nothing more
    (run,) = calls.of("RunTask")
    assert run["clientToken"] == JOB and run["startedBy"] == JOB
    (task,) = _tasks(aws, JOB, "RUNNING")
    assert task["overrides"]["containerOverrides"][0]["command"] == ["sh", "-c", "echo $GREETING"]
    tags = {t["key"]: t["value"] for t in task["tags"]}  # type: ignore[attr-defined]
    assert (tags["imagedeploy:job"], tags["imagedeploy:role"]) == (JOB, "job")
    # the job's family is the service's: its logs go to the service's log group
    assert runtime.service_id_of(str(task["taskDefinitionArn"])) == WORKER.id
    subject = runtime.identify_task(task)
    assert subject is not None and (subject.role, subject.job_id) == ("job", JOB)

    runtime.stop_job(WORKER.id, JOB)
    assert _tasks(aws, JOB, "RUNNING") == []
    (stopped,) = _tasks(aws, JOB, "STOPPED")
    assert stopped["stoppedReason"] == "job canceled"


@pytest.fixture
def tasks_stay_running() -> Iterator[None]:
    """moto gap: each DescribeTasks moves a moto task one state on (RUNNING, DEACTIVATING,
    STOPPING ...); ECS tasks stay RUNNING until stopped. Hold them there for this test."""
    state_manager.set_transition(
        model_name="ecs::task", transition={"progression": "manual", "times": 10**6}
    )
    try:
        yield
    finally:
        state_manager.unset_transition("ecs::task")


@pytest.mark.usefixtures("tasks_stay_running")
def test_instances_are_the_running_tasks_of_the_service(aws: Aws, runtime: EcsRuntime) -> None:
    assert runtime.list_instances(WORKER.id) == []  # no ECS service yet
    runtime.rollout(make_spec(WORKER, DEP1, num_instances=2))
    ecs = aws.client("ecs")
    name = runtime.name_of(WORKER.id)
    (service,) = ecs.describe_services(cluster="imagedeploy", services=[name])["services"]
    # moto starts no service tasks itself: start two the way the ECS scheduler does
    for _ in range(2):
        ecs.run_task(
            cluster="imagedeploy",
            taskDefinition=service["taskDefinition"],
            launchType="FARGATE",
            networkConfiguration=service["networkConfiguration"],
            group=f"service:{name}",
            startedBy="ecs-svc/1234567890",
        )
    runtime.start_job(make_spec(WORKER, DEP1, command=("true",)), JOB)  # not an instance
    arns = ecs.list_tasks(cluster="imagedeploy", startedBy="ecs-svc/1234567890")["taskArns"]
    ecs.meta.events.register("after-call.ecs.DescribeTasks", _with_created_at)

    found = runtime.list_instances(WORKER.id)

    assert sorted(i.id for i in found) == sorted(a.rsplit("/", 1)[-1] for a in arns)
    assert all(i.created_at.tzinfo is not None for i in found)
    ecs.stop_task(cluster="imagedeploy", task=arns[0], reason="scaled in")
    assert arns[0].rsplit("/", 1)[-1] not in [i.id for i in runtime.list_instances(WORKER.id)]


def _with_created_at(parsed: dict[str, Any], **_: Any) -> None:
    """moto gap: its tasks carry no ``createdAt`` (ECS always sets it)."""
    for task in parsed.get("tasks", []):
        task.setdefault("createdAt", datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
