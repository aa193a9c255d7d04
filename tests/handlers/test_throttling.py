"""Throttling-proof (issue 10, item 4), through the real handlers under moto: cron schedules
send their ticks to the ticks queue, which the cron function drains in batches (a storm of
ticks is a backlog, never thousands of concurrent invocations); a redelivered tick is dropped;
a failing tick is a batch item failure, its batch mates are not; a deploy's new task
definition revision queues the ``prune_revisions`` job, which deletes the old revisions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devkit.lambda_stack import WEB_DETAILS, Stack, create_service
from devkit.moto_aws import ACCOUNT, REGION

pytestmark = pytest.mark.integration


def create_cron_job(stack: Stack, name: str) -> str:
    created = create_service(
        stack,
        "cron_job",
        {
            "runtime": "image",
            "plan": "starter",
            "schedule": "0 * * * *",
            "envSpecificDetails": {"dockerCommand": "report"},
        },
        name=name,
    )
    stack.drain()
    service_id: str = created["service"]["id"]
    return service_id


def test_cron_schedules_send_ticks_to_the_queue_the_cron_function_drains(stack: Stack) -> None:
    jobs = [create_cron_job(stack, f"report {n}") for n in range(12)]
    group = stack.app.settings.scheduler_group
    schedule = stack.aws.client("scheduler").get_schedule(Name=jobs[0], GroupName=group)
    assert schedule["Target"]["Arn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:cron-ticks"

    for service_id in jobs:  # all at the top of the hour
        stack.fire_schedule(service_id, "2026-01-01T13:00:00Z")
    stack.fire_schedule(jobs[0], "2026-01-01T13:00:00Z")  # an at-least-once redelivery
    assert stack.drain_ticks() == []
    stack.drain()

    for service_id in jobs:
        (run,) = stack.app.ports.store.list_runs(service_id, 10).items
        assert len(stack.tasks_started_by(run.id)) == 1  # one run each, the duplicate dropped


def test_a_failing_tick_is_retried_alone(stack: Stack) -> None:
    service_id = create_cron_job(stack, "report")
    sqs = stack.aws.client("sqs")
    sqs.send_message(QueueUrl=stack.ticks_queue_url, MessageBody=json.dumps({"nothing": 1}))
    stack.fire_schedule(service_id, "2026-01-01T13:00:00Z")
    failures = stack.drain_ticks()
    assert len(failures) == 1  # the malformed one, reported for SQS to retry (then dead-letter)
    stack.drain()
    assert len(stack.app.ports.store.list_runs(service_id, 10).items) == 1


def test_a_direct_invocation_by_an_older_schedule_still_ticks(stack: Stack) -> None:
    from devkit.lambda_stack import LambdaContext
    from imagedeploy.handlers import cron

    service_id = create_cron_job(stack, "report")
    payload: dict[str, Any] = {"serviceId": service_id, "scheduledTime": "2026-01-01T13:00:00Z"}
    result = cron.lambda_handler(payload, LambdaContext())
    assert result["runId"]


def test_a_deploy_queues_the_clean_up_of_old_task_definition_revisions(stack: Stack) -> None:
    created = create_service(stack, "web_service", WEB_DETAILS)
    service_id = created["service"]["id"]
    assert "prune_revisions" in stack.drain()
    ecs = stack.aws.client("ecs")
    family = stack.app.ecs.name_of(service_id)  # the family is the ECS name
    for n in range(6):  # six more deploys, each with a new revision (its RENDER_DEPLOY_ID)
        stack.ecs_event(stack.deployment_event(service_id))
        reply = stack.call("POST", f"/v1/services/{service_id}/deploys", {"clearCache": "clear"})
        assert reply.status in (201, 202), (n, reply)
        assert "prune_revisions" in stack.drain()
    active = ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"]
    inactive = ecs.list_task_definitions(familyPrefix=family, status="INACTIVE")
    assert 2 <= len(active) <= 5  # live, rollback and the newest few: not all seven
    assert inactive["taskDefinitionArns"] == []  # deregistered ones are deleted
