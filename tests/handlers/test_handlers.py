"""The Lambda handlers end to end under moto (see conftest for what is real and what is fake)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from imagedeploy.domain.cron import RunStatus
from imagedeploy.domain.deploys import DeployStatus
from imagedeploy.domain.events import EventType
from imagedeploy.settings import LOOPBACK_NETWORKS
from tests.aws.conftest import published
from tests.handlers.conftest import (
    ECR_IMAGE,
    IMAGE,
    PLATFORM1,
    PLATFORM2,
    LambdaContext,
    Stack,
)
from tests.support._httpserver import LoopbackHTTPServer

pytestmark = pytest.mark.integration

WEB_DETAILS = {
    "runtime": "image",
    "plan": "standard",
    "region": "oregon",
    "numInstances": 2,
    "healthCheckPath": "/healthz",
    "envSpecificDetails": {"dockerCommand": "serve --port 10000"},
}


def create_credential(stack: Stack) -> dict[str, Any]:
    body = {
        "registry": "GITHUB",
        "name": "ghcr",
        "username": "octocat",
        "authToken": "ghp_s3cr3t_token",
        "ownerId": stack.owner_id,
    }
    created: dict[str, Any] = stack.ok(stack.call("POST", "/v1/registrycredentials", body))
    return created


def create_service(
    stack: Stack,
    service_type: str,
    details: dict[str, Any],
    *,
    image: str = f"{IMAGE}:1.0",
    credential_id: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    image_body: dict[str, Any] = {"ownerId": stack.owner_id, "imagePath": image}
    if credential_id:
        image_body["registryCredentialId"] = credential_id
    body = {
        "type": service_type,
        "name": name or f"my-{service_type.replace('_', '-')}",
        "ownerId": stack.owner_id,
        "image": image_body,
        "serviceDetails": details,
    }
    created: dict[str, Any] = stack.ok(stack.call("POST", "/v1/services", body), 201)
    return created


def deploy_status(stack: Stack, deploy_id: str) -> DeployStatus:
    deploy = stack.app.ports.store.get_deploy(deploy_id)
    assert deploy is not None
    return deploy.status


def event_types(stack: Stack, service_id: str) -> list[EventType]:
    return [e.type for e in stack.app.ports.store.list_events(service_id, 100).items]


def container(stack: Stack, task_definition_arn: str) -> dict[str, Any]:
    found = stack.aws.client("ecs").describe_task_definition(taskDefinition=task_definition_arn)
    definition: dict[str, Any] = found["taskDefinition"]
    assert definition["runtimePlatform"] == {
        "operatingSystemFamily": "LINUX",
        "cpuArchitecture": "X86_64",
    }
    return dict(definition["containerDefinitions"][0])


def live_web_service(stack: Stack) -> tuple[dict[str, Any], str, str]:
    """A web service pulling through a stored credential, its first deploy live."""
    credential = create_credential(stack)
    created = create_service(stack, "web_service", WEB_DETAILS, credential_id=credential["id"])
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain()
    assert deploy_status(stack, deploy_id) is DeployStatus.UPDATE_IN_PROGRESS
    stack.ecs_event(stack.deployment_event(service_id))
    assert deploy_status(stack, deploy_id) is DeployStatus.LIVE
    return created, credential["id"], deploy_id


def test_deploy_through_api_worker_and_ecs_events(stack: Stack) -> None:
    created, credential_id, first = live_web_service(stack)
    service_id = created["service"]["id"]
    # the credential's token is in Secrets Manager, in the shape ECS reads
    secret_arn = stack.app.secrets.arn_of(credential_id)
    assert secret_arn is not None
    value = stack.aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    assert json.loads(value["SecretString"]) == {
        "username": "octocat",
        "password": "ghp_s3cr3t_token",
    }
    ref = stack.ref(service_id)
    app = container(stack, ref.task_definition_arn)
    assert app["image"] == f"{IMAGE}@{PLATFORM1}"
    assert app["repositoryCredentials"] == {"credentialsParameter": secret_arn}
    assert stack.ecs_service(service_id) is not None

    # the deploy hook with imgURL: the request only enqueues; the worker rolls it out
    reply = stack.hook(created["deployHookUrl"], imgURL=f"{IMAGE}:2.0")
    assert reply.status in (200, 202), reply
    second = stack.app.ports.store.list_deploys(service_id, 1).items[0].id
    assert second != first
    assert stack.ref(service_id).deploy_id == first  # nothing happened in the request
    stack.drain()
    new_ref = stack.ref(service_id)
    assert new_ref.deploy_id == second
    assert new_ref.previous_task_definition_arn == ref.task_definition_arn
    assert container(stack, new_ref.task_definition_arn)["image"] == f"{IMAGE}@{PLATFORM2}"
    stack.ecs_event(stack.deployment_event(service_id))
    assert deploy_status(stack, second) is DeployStatus.LIVE
    assert deploy_status(stack, first) is DeployStatus.DEACTIVATED

    # POST works the same; without imgURL it redeploys the service's image
    reply = stack.hook(created["deployHookUrl"], method="POST")
    assert reply.status in (200, 202), reply
    third = stack.app.ports.store.list_deploys(service_id, 1).items[0].id
    stack.drain()
    assert stack.ref(service_id).deploy_id == third
    stack.ecs_event(stack.deployment_event(service_id))
    assert deploy_status(stack, third) is DeployStatus.LIVE
    assert deploy_status(stack, second) is DeployStatus.DEACTIVATED


def test_background_worker_with_an_ecr_image_has_no_repository_credentials(stack: Stack) -> None:
    worker = create_service(
        stack,
        "background_worker",
        {
            "runtime": "image",
            "plan": "starter",
            "numInstances": 1,
            "envSpecificDetails": {"dockerCommand": "worker"},
        },
        image=f"{ECR_IMAGE}:1.0",
    )
    stack.drain()
    ref = stack.ref(worker["service"]["id"])
    app = container(stack, ref.task_definition_arn)
    assert app["image"] == f"{ECR_IMAGE}@{PLATFORM1}"
    assert "repositoryCredentials" not in app  # ECR: the task execution role pulls
    service = stack.ecs_service(worker["service"]["id"])
    assert service is not None and not service.get("loadBalancers")


def test_image_pull_failure_during_rollout_fails_the_deploy_and_publishes(stack: Stack) -> None:
    created = create_service(stack, "web_service", WEB_DETAILS)
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain()
    ref = stack.ref(service_id)
    published(stack.aws, stack.topic)  # forget what was published so far
    event = stack.task_event(
        "task_stopped_cannot_pull.json",
        started_by=ref.deployment_id,
        task_definition_arn=ref.task_definition_arn,
    )
    assert stack.ecs_event(event)["outcome"] == f"rollout {deploy_id}: PullFailed"
    assert deploy_status(stack, deploy_id) is DeployStatus.UPDATE_FAILED
    pulls = [
        e
        for e in stack.app.ports.store.list_events(service_id, 100).items
        if e.type is EventType.IMAGE_PULL_FAILED
    ]
    assert len(pulls) == 1
    messages = published(stack.aws, stack.topic)
    pulled = [m for m in messages if m["Subject"].endswith(": image pull failed")]
    assert len(pulled) == 1, [m["Subject"] for m in messages]
    body = json.loads(pulled[0]["Message"])
    assert body["type"] == "image_pull_failed" and body["service"]["id"] == service_id
    assert pulled[0]["MessageAttributes"]["failure"]["Value"] == "true"


def test_pre_deploy_exit_1_fails_the_deploy_and_leaves_ecs_untouched(stack: Stack) -> None:
    details = dict(WEB_DETAILS, preDeployCommand="./migrate --yes")
    created = create_service(stack, "web_service", details)
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain()
    assert deploy_status(stack, deploy_id) is DeployStatus.PRE_DEPLOY_IN_PROGRESS
    tasks = stack.tasks_started_by(deploy_id)
    assert len(tasks) == 1
    task = stack.aws.client("ecs").describe_tasks(cluster="imagedeploy", tasks=tasks)["tasks"][0]
    event = stack.task_event(
        "task_stopped_essential_exit.json",
        started_by=deploy_id,
        task_definition_arn=task["taskDefinitionArn"],
        exit_code=1,
    )
    assert stack.ecs_event(event)["outcome"] == f"pre-deploy {deploy_id}: PreDeployExited"
    assert deploy_status(stack, deploy_id) is DeployStatus.PRE_DEPLOY_FAILED
    assert stack.ecs_service(service_id) is None  # no ECS service was created or updated
    assert EventType.PRE_DEPLOY_ENDED in event_types(stack, service_id)


def test_cron_handler_honours_the_single_run_rule(stack: Stack) -> None:
    from imagedeploy.handlers import cron as cron_handler

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
    service_id = created["service"]["id"]
    stack.drain()
    schedules = stack.aws.client("scheduler").list_schedules(GroupName="imagedeploy")
    assert [s["Name"] for s in schedules["Schedules"]] == [service_id]
    service = stack.app.ports.store.get_service(service_id)
    assert service is not None and service.live_deploy_id is not None

    def tick(at: str) -> dict[str, Any]:
        payload = {"serviceId": service_id, "scheduledTime": at}
        result: dict[str, Any] = cron_handler.lambda_handler(payload, LambdaContext())
        return result

    first = tick("2026-01-01T12:00:00Z")
    run_id = first["runId"]
    assert run_id and len(stack.tasks_started_by(run_id)) == 1
    assert tick("2026-01-01T12:00:00Z")["duplicate"] is True  # redelivery of the same time
    assert tick("2026-01-01T12:10:00Z")["runId"] is None  # a run is active: remembered only
    runs = stack.app.ports.store.list_runs(service_id, 10).items
    assert [r.id for r in runs] == [run_id]

    task = stack.aws.client("ecs").describe_tasks(
        cluster="imagedeploy", tasks=stack.tasks_started_by(run_id)
    )["tasks"][0]
    ended = stack.task_event(
        "task_stopped_essential_exit.json",
        started_by=run_id,
        task_definition_arn=task["taskDefinitionArn"],
        exit_code=0,
    )
    assert stack.ecs_event(ended)["outcome"] == f"cron run {run_id}: successful"
    stack.ecs_event(ended)  # a duplicate delivery changes nothing
    run = stack.app.ports.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCESSFUL
    runs = stack.app.ports.store.list_runs(service_id, 10).items
    assert len(runs) == 2  # the remembered tick started one (and only one) new run
    pending = [r for r in runs if r.status is RunStatus.PENDING]
    assert len(pending) == 1 and len(stack.tasks_started_by(pending[0].id)) == 1


def test_reconcile_handler_times_out_a_stuck_deploy(stack: Stack) -> None:
    from imagedeploy.handlers import reconcile as reconcile_handler

    created = create_service(stack, "web_service", WEB_DETAILS)
    deploy_id = created["deployId"]
    stack.drain()
    assert deploy_status(stack, deploy_id) is DeployStatus.UPDATE_IN_PROGRESS
    quiet = reconcile_handler.lambda_handler({}, LambdaContext())
    assert quiet["timedOut"] == []
    stack.clock.advance(stack.app.ports.limits.deploy_timeout_seconds + 60)
    report = reconcile_handler.lambda_handler({}, LambdaContext())
    assert report["timedOut"] == [deploy_id]
    assert deploy_status(stack, deploy_id) is DeployStatus.UPDATE_FAILED


def test_duplicate_and_reordered_events_leave_the_same_state(stack: Stack) -> None:
    created = create_service(stack, "web_service", WEB_DETAILS)
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain()
    ref = stack.ref(service_id)
    completed = stack.deployment_event(service_id)
    failed = stack.deployment_event(service_id, completed=False)
    crashed = stack.task_event(
        "task_stopped_essential_exit.json",
        started_by=ref.deployment_id,
        task_definition_arn=ref.task_definition_arn,
        exit_code=1,
    )
    assert stack.ecs_event(completed)["outcome"] == f"rollout {deploy_id}: RolloutHealthy"
    state = stack.app.ports.store.get_deploy(deploy_id)
    assert state is not None and state.status is DeployStatus.LIVE
    events_before = event_types(stack, service_id)
    # duplicates, and a late failure of the same rollout arriving after its success
    for event in (completed, failed, completed, failed):
        stack.ecs_event(event)
    assert stack.app.ports.store.get_deploy(deploy_id) == state
    assert event_types(stack, service_id) == events_before
    # a live instance crashing: one server_failed event, however often ECS delivers it
    assert stack.ecs_event(crashed)["outcome"] == f"service {service_id}: instance failed"
    assert stack.ecs_event(crashed)["outcome"] == "ignored: duplicate event"
    assert stack.app.ports.store.get_deploy(deploy_id) == state
    assert event_types(stack, service_id).count(EventType.SERVER_FAILED) == 1
    # events about tasks and services this stack did not start are ignored
    foreign = dict(completed, resources=["arn:aws:ecs:us-east-1:123456789012:service/x/other"])
    assert stack.ecs_event(foreign)["outcome"].startswith("ignored")


def test_worker_reports_a_failing_job_as_a_batch_item_failure(stack: Stack) -> None:
    from imagedeploy.handlers import worker

    records = [
        {"messageId": "m-1", "body": json.dumps({"kind": "no_such_job", "subject": "x"})},
        {"messageId": "m-2", "body": "not json"},
    ]
    answer = worker.lambda_handler({"Records": records}, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}


def test_handlers_import_without_settings_or_clients() -> None:
    """A cold start imports a handler module without reading settings, making clients or
    importing boto3 or httpx (a fresh interpreter with no IMAGEDEPLOY_* variables at all).
    botocore is imported: powertools' Logger imports it, and every invocation needs it anyway."""
    code = (
        "import sys\n"
        "for name in ('api', 'worker', 'ecs_events', 'cron', 'reconcile'):\n"
        "    module = __import__(f'imagedeploy.handlers.{name}', fromlist=['lambda_handler'])\n"
        "    assert callable(module.lambda_handler)\n"
        "import imagedeploy.aws_bootstrap\n"
        "print(sorted(m for m in ('boto3', 'httpx') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEDEPLOY_", "AWS_"))}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_rollout_failures_fail_the_deploy(stack: Stack) -> None:
    created = create_service(stack, "web_service", WEB_DETAILS, name="oom")
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain()
    ref = stack.ref(service_id)
    oom = stack.task_event(
        "task_stopped_essential_exit.json",
        started_by=ref.deployment_id,
        task_definition_arn=ref.task_definition_arn,
        exit_code=137,
    )
    oom["detail"]["containers"][0]["reason"] = (
        "OutOfMemoryError: Container killed due to memory usage"
    )
    assert stack.ecs_event(oom)["outcome"] == f"rollout {deploy_id}: InstanceFailed"
    assert deploy_status(stack, deploy_id) is DeployStatus.UPDATE_FAILED

    other = create_service(stack, "web_service", WEB_DETAILS, name="breaker")
    other_id, other_deploy = other["service"]["id"], other["deployId"]
    stack.drain()
    outcome = stack.ecs_event(stack.deployment_event(other_id, completed=False))["outcome"]
    assert outcome == f"rollout {other_deploy}: InstanceFailed"
    assert deploy_status(stack, other_deploy) is DeployStatus.UPDATE_FAILED
    # a deployment ECS started on its own (a circuit-breaker rollback) is no deploy's
    stray = stack.deployment_event(other_id, deployment_id="ecs-svc/0000000000000000000")
    assert stack.ecs_event(stray)["outcome"] == "ignored: not a deploy's rollout"


def test_webhooks_are_queued_and_delivered_by_the_worker(stack: Stack) -> None:
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            received.append(
                {"headers": dict(self.headers), "body": json.loads(self.rfile.read(length))}
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = LoopbackHTTPServer(Receiver)
    server.start("webhook-receiver")
    try:
        webhook = stack.ok(
            stack.call(
                "POST",
                "/v1/webhooks",
                {
                    "ownerId": stack.owner_id,
                    "name": "hooks",
                    "url": f"http://{server.host}/hook",
                    "enabled": True,
                    "eventFilter": [],
                },
            ),
            201,
        )
        stack.ok(
            stack.call(
                "PATCH",
                f"/v1/notification-settings/owners/{stack.owner_id}",
                {"notificationsToSend": "all"},
            )
        )
        settings = stack.app.settings.model_copy(
            update={"webhook_allowed_networks": LOOPBACK_NETWORKS}
        )
        stack.app.settings = settings
        created = create_service(stack, "web_service", WEB_DETAILS)
        kinds = stack.drain()
        assert "notify" in kinds  # the API and the worker only enqueued the deliveries
        assert received, "the worker delivered nothing"
        assert all("webhook-signature" in r["headers"] for r in received)
        log = stack.ok(stack.call("GET", f"/v1/webhooks/{webhook['id']}/events"))
        assert len(log) == len(received)
        assert created["service"]["id"] in json.dumps([r["body"] for r in received])
    finally:
        server.stop()
