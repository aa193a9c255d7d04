"""Effects survive AWS failures (issue 9): through the real handlers under moto, with a botocore
``before-call`` hook making chosen calls fail (``devkit.moto_aws.fail``). The outbox dispatcher
retries a failing effect with backoff (SQS ``DelaySeconds``: these tests wait the 1 + 2 + 4 s of
a 7 s retry budget) and, once the budget is spent, fails what the effect was for with the AWS
error text, at once rather than after the 15-minute timeout."""

from __future__ import annotations

from typing import Any

import pytest

from devkit.lambda_stack import WEB_DETAILS, LambdaContext, Stack, create_service, deploy_status
from devkit.moto_aws import fail
from imagedeploy.domain.cron import RunStatus
from imagedeploy.domain.deploys import DeployStatus
from imagedeploy.domain.events import EventType

pytestmark = pytest.mark.integration

RETRY_SECONDS = 7  # retries after 1, 2 and 4 s: four attempts in all


def with_retry_budget(stack: Stack, seconds: int = RETRY_SECONDS) -> None:
    settings = stack.app.settings.model_copy(update={"effect_retry_seconds": seconds})
    stack.rebuild(settings=settings)


def outbox_is_empty(stack: Stack) -> bool:
    return stack.app.ports.store.list_outbox(10).items == []


def test_a_throttled_task_definition_is_retried_and_the_deploy_goes_live(stack: Stack) -> None:
    with_retry_budget(stack)
    throttled = fail(
        stack.aws.client("ecs"),
        "RegisterTaskDefinition",
        "ThrottlingException",
        "Rate exceeded",
        times=3,
    )
    created = create_service(stack, "web_service", WEB_DETAILS)
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain(delayed=True)
    assert throttled.failures == 3
    assert deploy_status(stack, deploy_id) is DeployStatus.UPDATE_IN_PROGRESS
    stack.ecs_event(stack.deployment_event(service_id))
    assert deploy_status(stack, deploy_id) is DeployStatus.LIVE
    stack.drain()  # its notifications
    assert outbox_is_empty(stack)


@pytest.mark.parametrize(
    ("client", "operation", "code", "message"),
    [
        (
            "elbv2",
            "CreateRule",
            "TooManyRules",
            "The maximum number of rules on the listener has been reached",
        ),
        (
            "ecs",
            "CreateService",
            "AccessDeniedException",
            "User is not authorized to perform: ecs:CreateService",
        ),
    ],
)
def test_a_call_refused_for_good_fails_the_deploy_with_the_aws_error(
    stack: Stack, client: str, operation: str, code: str, message: str
) -> None:
    with_retry_budget(stack)
    refused = fail(stack.aws.client(client), operation, code, message)
    created = create_service(stack, "web_service", WEB_DETAILS)
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain(delayed=True)
    assert refused.failures == 4  # every attempt of the budget, then no more
    deploy = stack.app.ports.store.get_deploy(deploy_id)
    assert deploy is not None and deploy.status is DeployStatus.UPDATE_FAILED
    error = deploy.reason["failure"]["platformError"]
    assert error == f"{code}: {message}"
    ended = [
        e
        for e in stack.app.ports.store.list_events(service_id, 100).items
        if e.type is EventType.DEPLOY_ENDED
    ]
    assert ended[0].details["reason"]["failure"]["platformError"] == error
    assert "timedOutSeconds" not in deploy.reason["failure"]  # failed now, not after 15 min
    wire = stack.ok(stack.call("GET", f"/v1/services/{service_id}/deploys/{deploy_id}"))
    assert wire["status"] == "update_failed"
    assert outbox_is_empty(stack)


def create_cron_job(stack: Stack) -> str:
    created = create_service(
        stack,
        "cron_job",
        {
            "runtime": "image",
            "plan": "starter",
            "schedule": "*/10 * * * *",
            "envSpecificDetails": {"dockerCommand": "report"},
        },
    )
    stack.drain()
    service_id: str = created["service"]["id"]
    return service_id


def tick(service_id: str, at: str) -> dict[str, Any]:
    from imagedeploy.handlers import cron as cron_handler

    payload = {"serviceId": service_id, "scheduledTime": at}
    result: dict[str, Any] = cron_handler.lambda_handler(payload, LambdaContext())
    return result


def test_a_cron_run_fargate_cannot_place_fails_with_the_reason_and_the_next_tick_runs(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_retry_budget(stack)
    service_id = create_cron_job(stack)
    ecs = stack.aws.client("ecs")
    no_capacity = {"tasks": [], "failures": [{"reason": "RESOURCE:FARGATE", "arn": "x"}]}
    attempts: list[str] = []

    def run_task(**params: Any) -> dict[str, Any]:
        attempts.append(params["startedBy"])
        return no_capacity

    monkeypatch.setattr(stack.app.ecs._ecs, "run_task", run_task)
    first = tick(service_id, "2026-01-01T12:00:00Z")["runId"]
    stack.drain(delayed=True)
    assert attempts == [first] * 4  # retried, then given up
    run = stack.app.ports.store.get_run(first)
    assert run is not None and run.status is RunStatus.UNSUCCESSFUL
    assert "RESOURCE:FARGATE" in run.reason
    ended = stack.app.ports.store.list_events(service_id, 1).items[0]
    assert ended.type is EventType.CRON_JOB_RUN_ENDED
    assert "RESOURCE:FARGATE" in ended.details["reason"]["platformError"]

    monkeypatch.undo()  # capacity is back
    second = tick(service_id, "2026-01-01T12:10:00Z")["runId"]
    assert second and second != first
    stack.drain()
    assert len(stack.tasks_started_by(second)) == 1
    assert ecs.list_tasks(cluster="imagedeploy", startedBy=second)["taskArns"]
    assert outbox_is_empty(stack)


def test_a_deleted_private_service_is_removed_once_cloud_map_lets_go(stack: Stack) -> None:
    with_retry_budget(stack)
    created = create_service(
        stack, "private_service", {"runtime": "image", "plan": "standard", "numInstances": 1}
    )
    service_id = created["service"]["id"]
    stack.drain()
    discovery = stack.aws.client("servicediscovery")
    (cloud_map,) = discovery.list_services()["Services"]
    in_use = fail(
        discovery,
        "DeleteService",
        "ResourceInUse",
        "The service has instances registered",
        times=2,
    )

    reply = stack.call("DELETE", f"/v1/services/{service_id}")
    assert reply.status == 204, reply  # at once: the removal is a job
    stack.drain(delayed=True)
    assert in_use.failures == 2
    assert discovery.list_services()["Services"] == [], cloud_map
    assert stack.ecs_service(service_id) is None
    definitions = stack.aws.client("ecs").list_task_definitions(
        familyPrefix="imagedeploy-", status="ACTIVE"
    )
    assert [a for a in definitions["taskDefinitionArns"] if service_id in a] == []
    assert outbox_is_empty(stack)


def _app_resources(stack: Stack) -> dict[str, set[str]]:
    """What the app can leave behind in the account, per resource type (the stack's own parts
    are there from the start: the test compares with that)."""
    settings = stack.app.settings
    aws = stack.aws
    ecs, elb = aws.client("ecs"), aws.client("elbv2")
    arns = ecs.list_services(cluster=settings.cluster)["serviceArns"]
    described = ecs.describe_services(cluster=settings.cluster, services=arns)["services"]
    groups = aws.client("logs").describe_log_groups()["logGroups"]
    schedules = aws.client("scheduler").list_schedules(GroupName=settings.scheduler_group)
    return {
        "ECS services": {s["serviceName"] for s in described if s["status"] != "INACTIVE"},
        "target groups": {
            t["TargetGroupArn"] for t in elb.describe_target_groups()["TargetGroups"]
        },
        "listener rules": {
            r["RuleArn"]
            for r in elb.describe_rules(ListenerArn=settings.listener_arn)["Rules"]
            if not r["IsDefault"]
        },
        "Cloud Map services": {
            s["Id"] for s in aws.client("servicediscovery").list_services()["Services"]
        },
        "task definitions (ACTIVE)": set(
            ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]
        ),
        "schedules": {s["Name"] for s in schedules["Schedules"]},
        "log groups": {g["logGroupName"] for g in groups},
    }


def test_deleting_every_service_leaves_nothing_that_would_outlive_the_stack(
    stack: Stack,
) -> None:
    """What ``sam delete`` finds after every service is deleted through the API: the removal
    jobs ran to completion (Cloud Map answering ResourceInUse twice meanwhile), and nothing the
    app made remains, per resource type."""
    with_retry_budget(stack)
    before = _app_resources(stack)
    private = {"runtime": "image", "plan": "standard", "numInstances": 1}
    ids = [
        create_service(stack, "web_service", WEB_DETAILS)["service"]["id"],
        create_service(stack, "private_service", private)["service"]["id"],
        create_service(stack, "background_worker", private)["service"]["id"],
    ]
    stack.drain()
    ids.append(create_cron_job(stack))
    made = _app_resources(stack)
    for kind, names in made.items():  # every kind was made, or the test proves nothing
        assert names - before[kind], f"no {kind} made"
    discovery = stack.aws.client("servicediscovery")
    in_use = fail(
        discovery, "DeleteService", "ResourceInUse", "The service has instances registered", times=2
    )

    for service_id in ids:
        reply = stack.call("DELETE", f"/v1/services/{service_id}")
        assert reply.status == 204, reply
    stack.drain(delayed=True)

    assert in_use.failures == 2
    assert _app_resources(stack) == before
    assert outbox_is_empty(stack)
