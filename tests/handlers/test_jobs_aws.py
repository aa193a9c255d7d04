"""One-off jobs on the Lambda stack under moto: the API commits the job, the worker's outbox
dispatch runs one ECS task (RunTask), and the ECS task-state event ends it; cancel stops it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devkit.lambda_stack import Stack, live_web_service
from imagedeploy.domain.ecs_rules import CONTAINER

pytestmark = pytest.mark.integration


def _task(stack: Stack, job_id: str) -> dict[str, Any]:
    (arn,) = stack.tasks_started_by(job_id)
    found = stack.aws.client("ecs").describe_tasks(cluster="imagedeploy", tasks=[arn])
    return dict(found["tasks"][0])


def _run(stack: Stack, service_id: str, command: str) -> str:
    reply = stack.call("POST", f"/v1/services/{service_id}/jobs", {"startCommand": command})
    job = stack.ok(reply, 201)
    assert job["status"] == "pending"
    stack.drain()
    return str(job["id"])


def _status(stack: Stack, service_id: str, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = stack.ok(stack.call("GET", f"/v1/services/{service_id}/jobs/{job_id}"))
    return body


def test_jobs_run_as_ecs_tasks_and_end_from_task_events(
    stack: Stack, essential_exit: Callable[..., dict[str, Any]]
) -> None:
    created, _, _ = live_web_service(stack)
    service_id = created["service"]["id"]

    ok_job = _run(stack, service_id, "bin/migrate --check")
    task = _task(stack, ok_job)
    override = task["overrides"]["containerOverrides"][0]
    assert (override["name"], override["command"]) == (CONTAINER, ["bin/migrate", "--check"])
    assert _status(stack, service_id, ok_job)["status"] == "running"
    stack.drain()  # a repeated dispatch starts no second task
    assert len(stack.tasks_started_by(ok_job)) == 1

    event = essential_exit(ok_job, 0, task["taskDefinitionArn"])
    assert stack.ecs_event(event)["outcome"] == f"job {ok_job}: succeeded"
    assert stack.ecs_event(event)["outcome"] == f"job {ok_job}: ended already"
    body = _status(stack, service_id, ok_job)
    assert body["status"] == "succeeded" and "finishedAt" in body and body["exitCode"] == 0

    failing = _run(stack, service_id, "false")
    event = essential_exit(failing, 2, _task(stack, failing)["taskDefinitionArn"])
    assert stack.ecs_event(event)["outcome"] == f"job {failing}: failed"
    assert _status(stack, service_id, failing)["exitCode"] == 2


def test_a_canceled_job_stops_its_task_and_its_stop_event_changes_nothing(
    stack: Stack, essential_exit: Callable[..., dict[str, Any]]
) -> None:
    created, _, _ = live_web_service(stack)
    service_id = created["service"]["id"]
    job_id = _run(stack, service_id, "sleep 600")
    task = _task(stack, job_id)

    reply = stack.call("POST", f"/v1/services/{service_id}/jobs/{job_id}/cancel")
    assert stack.ok(reply)["status"] == "canceled"
    stack.drain()
    stopped = _task(stack, job_id)
    assert (stopped["desiredStatus"], stopped["stoppedReason"]) == ("STOPPED", "job canceled")

    event = essential_exit(job_id, 143, task["taskDefinitionArn"])
    event["detail"]["stopCode"] = "UserInitiated"
    assert stack.ecs_event(event)["outcome"] == f"job {job_id}: ended already"
    assert _status(stack, service_id, job_id)["status"] == "canceled"


def test_reconcile_ends_a_job_whose_stop_event_was_lost(stack: Stack) -> None:
    from imagedeploy.domain.ecs_rules import run_end, task_outcome
    from imagedeploy.domain.jobs import job_status
    from imagedeploy.usecases.reconcile import Thresholds, reconcile

    created, _, _ = live_web_service(stack)
    service_id = created["service"]["id"]
    job_id = _run(stack, service_id, "bin/report")
    ecs = stack.aws.client("ecs")
    # the task stops and ECS's event never arrives
    ecs.stop_task(cluster="imagedeploy", task=_task(stack, job_id)["taskArn"], reason="host lost")
    assert _status(stack, service_id, job_id)["status"] == "running"

    report = reconcile(stack.app.ports, thresholds=Thresholds(lost_job_grace_seconds=0))

    assert job_id in report.recovered
    body = _status(stack, service_id, job_id)
    # ended as the lost event would have ended it (moto reports the stopped task's exit 0)
    expected = job_status(run_end(task_outcome(_task(stack, job_id))))
    assert body["status"] == expected.value and "finishedAt" in body, body
    assert (
        reconcile(stack.app.ports, thresholds=Thresholds(lost_job_grace_seconds=0)).recovered == []
    )
