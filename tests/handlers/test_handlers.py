"""The Lambda handlers end to end under moto (see ``devkit.lambda_stack`` for what is real and
what is fake)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from devkit.httpserver import WebhookReceiver
from devkit.images import ImagePusher
from devkit.lambda_stack import (
    ECR_IMAGE,
    IMAGE,
    PLATFORM1,
    PLATFORM2,
    WEB_DETAILS,
    LambdaContext,
    Stack,
    create_service,
    deploy_status,
    live_web_service,
)
from devkit.moto_aws import ACCOUNT, REGION, Network, published, record
from devkit.registry import RunningRegistry
from devkit.sockets import Tarpit
from imagedeploy.domain.cron import RunStatus
from imagedeploy.domain.deploys import DeployStatus
from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.events import EventType
from imagedeploy.settings import LOOPBACK_NETWORKS, Settings
from imagedeploy.usecases.reconcile import LOST_JOB_GRACE_SECONDS

pytestmark = pytest.mark.integration


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


def create_cron_job(stack: Stack) -> dict[str, Any]:
    """A cron job every 10 minutes running ``report``."""
    return create_service(
        stack,
        "cron_job",
        {
            "runtime": "image",
            "plan": "starter",
            "schedule": "*/10 * * * *",
            "envSpecificDetails": {"dockerCommand": "report"},
        },
    )


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
    stack.drain()  # the notifications are effects of the commit
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


def test_pre_deploy_exit_1_fails_the_deploy_and_leaves_ecs_untouched(
    stack: Stack, essential_exit: Callable[..., dict[str, Any]]
) -> None:
    details = dict(WEB_DETAILS, preDeployCommand="./migrate --yes")
    created = create_service(stack, "web_service", details)
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain()
    assert deploy_status(stack, deploy_id) is DeployStatus.PRE_DEPLOY_IN_PROGRESS
    assert len(stack.tasks_started_by(deploy_id)) == 1
    event = essential_exit(deploy_id, 1)
    assert stack.ecs_event(event)["outcome"] == f"pre-deploy {deploy_id}: PreDeployExited"
    assert deploy_status(stack, deploy_id) is DeployStatus.PRE_DEPLOY_FAILED
    assert stack.ecs_service(service_id) is None  # no ECS service was created or updated
    assert EventType.PRE_DEPLOY_ENDED in event_types(stack, service_id)


def test_cron_handler_honours_the_single_run_rule(
    stack: Stack, essential_exit: Callable[..., dict[str, Any]]
) -> None:
    from imagedeploy.handlers import cron as cron_handler

    created = create_cron_job(stack)
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
    stack.drain()  # the launch is an effect of the commit
    assert run_id and len(stack.tasks_started_by(run_id)) == 1
    assert tick("2026-01-01T12:00:00Z")["duplicate"] is True  # redelivery of the same time
    assert tick("2026-01-01T12:10:00Z")["runId"] is None  # a run is active: remembered only
    runs = stack.app.ports.store.list_runs(service_id, 10).items
    assert [r.id for r in runs] == [run_id]

    ended = essential_exit(run_id, 0)
    assert stack.ecs_event(ended)["outcome"] == f"cron run {run_id}: successful"
    stack.ecs_event(ended)  # a duplicate delivery changes nothing
    stack.drain()
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


def test_duplicate_and_reordered_events_leave_the_same_state(
    stack: Stack, essential_exit: Callable[..., dict[str, Any]]
) -> None:
    created = create_service(stack, "web_service", WEB_DETAILS)
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain()
    ref = stack.ref(service_id)
    completed = stack.deployment_event(service_id)
    failed = stack.deployment_event(service_id, completed=False)
    crashed = essential_exit(ref.deployment_id, 1, ref.task_definition_arn)
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


def test_rollout_failures_fail_the_deploy(
    stack: Stack, essential_exit: Callable[..., dict[str, Any]]
) -> None:
    created = create_service(stack, "web_service", WEB_DETAILS, name="oom")
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain()
    ref = stack.ref(service_id)
    oom = essential_exit(ref.deployment_id, 137, ref.task_definition_arn)
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
    server = WebhookReceiver()
    received = server.received
    server.start("webhook-receiver")
    # AWS takes public https:// receivers only: open loopback and plain http for this one.
    stack.rebuild(
        settings=stack.app.settings.model_copy(
            update={
                "webhook_allowed_networks": LOOPBACK_NETWORKS,
                "webhook_allow_http_loopback": True,
            }
        )
    )
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
        created = create_service(stack, "web_service", WEB_DETAILS)
        kinds = stack.drain()
        assert "webhook_delivery" in kinds  # the API and the outbox only enqueued the deliveries
        assert received, "the worker delivered nothing"
        assert all("webhook-signature" in r["headers"] for r in received)
        log = stack.ok(stack.call("GET", f"/v1/webhooks/{webhook['id']}/events"))
        assert len(log) == len(received)
        assert created["service"]["id"] in json.dumps([r["body"] for r in received])
    finally:
        server.stop()


# -- reconcile repairs lost ECS events ----------------------------------------------------------


def test_reconcile_handler_completes_a_deploy_whose_completed_event_was_lost(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagedeploy.handlers import reconcile as reconcile_handler

    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")  # moto: new deployments are COMPLETED
    created = create_service(stack, "web_service", WEB_DETAILS)
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain()
    assert deploy_status(stack, deploy_id) is DeployStatus.UPDATE_IN_PROGRESS
    completed = stack.deployment_event(service_id)  # never delivered

    stack.clock.advance(LOST_JOB_GRACE_SECONDS)  # only deploys past a grace period are described
    report = reconcile_handler.lambda_handler({}, LambdaContext())
    assert (report["timedOut"], report["failed"]) == ([], [])
    assert deploy_status(stack, deploy_id) is DeployStatus.LIVE
    service = stack.app.ports.store.get_service(service_id)
    assert service is not None and service.live_deploy_id == deploy_id
    assert EventType.DEPLOY_ENDED in event_types(stack, service_id)

    # the event turning up late changes nothing
    events_before = event_types(stack, service_id)
    stack.ecs_event(completed)
    assert deploy_status(stack, deploy_id) is DeployStatus.LIVE
    assert event_types(stack, service_id) == events_before


def stop_task_with_exit(stack: Stack, task_arn: str, exit_code: int, reason: str) -> None:
    """Stop a task the way ECS reports a container that exited. moto gap: its containers always
    exit 0 and ``StopTask`` sets no exit code, so the exit code is set on moto's own model."""
    from moto.ecs.models import ecs_backends

    stack.aws.client("ecs").stop_task(cluster="imagedeploy", task=task_arn, reason=reason)
    task = ecs_backends[ACCOUNT][REGION].tasks["imagedeploy"][task_arn]
    for moto_container in task.containers:
        moto_container.exitCode = exit_code


def test_reconcile_handler_fails_a_deploy_whose_pre_deploy_exit_event_was_lost(
    stack: Stack,
) -> None:
    from imagedeploy.handlers import reconcile as reconcile_handler

    details = dict(WEB_DETAILS, preDeployCommand="./migrate --yes")
    created = create_service(stack, "web_service", details)
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain()
    assert deploy_status(stack, deploy_id) is DeployStatus.PRE_DEPLOY_IN_PROGRESS
    quiet = reconcile_handler.lambda_handler({}, LambdaContext())  # still running
    assert quiet["timedOut"] == [] and deploy_status(stack, deploy_id) is (
        DeployStatus.PRE_DEPLOY_IN_PROGRESS
    )
    (task_arn,) = stack.tasks_started_by(deploy_id)
    stop_task_with_exit(stack, task_arn, 1, "Essential container in task exited")

    stack.clock.advance(LOST_JOB_GRACE_SECONDS)  # only deploys past a grace period are described
    report = reconcile_handler.lambda_handler({}, LambdaContext())
    assert (report["timedOut"], report["failed"]) == ([], [])
    deploy = stack.app.ports.store.get_deploy(deploy_id)
    assert deploy is not None and deploy.status is DeployStatus.PRE_DEPLOY_FAILED
    assert deploy.reason == {"failure": {"evicted": False, "nonZeroExit": 1}}
    assert EventType.PRE_DEPLOY_ENDED in event_types(stack, service_id)
    assert stack.ecs_service(service_id) is None  # the rollout never started


# -- the real local registry --------------------------------------------------------------------


def test_rollback_to_a_digest_deleted_from_the_registry_fails_and_keeps_the_live_version(
    stack: Stack, anon_registry: RunningRegistry, image_pusher: ImagePusher
) -> None:
    """The one handler test on the real local registry (``devkit``) instead of
    ``FakeRegistry``: the worker's preflight asks the registry whether the digest a rollback
    goes back to still exists."""
    from imagedeploy.registry import RegistryClient

    settings = Settings.model_validate(
        {
            "registry_allowed_networks": LOOPBACK_NETWORKS,
            "registry_request_timeout_seconds": 5.0,
            "registry_retry_budget_seconds": 20.0,
        }
    )
    registry = RegistryClient(settings)
    stack.rebuild(registry=registry)
    try:
        repo = f"scratch/{uuid.uuid4().hex[:12]}"
        first = image_pusher.push_docker_image(repo, "1.0", "rollback 1.0")
        second = image_pusher.push_docker_image(repo, "2.0", "rollback 2.0")
        created = create_service(
            stack, "web_service", WEB_DETAILS, image=first.ref_on(anon_registry.host)
        )
        service_id, deploy1 = created["service"]["id"], created["deployId"]
        stack.drain()
        stack.ecs_event(stack.deployment_event(service_id))
        assert deploy_status(stack, deploy1) is DeployStatus.LIVE
        live1 = stack.app.ports.store.get_deploy(deploy1)
        assert live1 is not None and live1.platform_digest == first.amd64_digest

        reply = stack.hook(created["deployHookUrl"], imgURL=second.ref_on(anon_registry.host))
        assert reply.status in (200, 202), reply
        deploy2 = stack.app.ports.store.list_deploys(service_id, 1).items[0].id
        stack.drain()
        stack.ecs_event(stack.deployment_event(service_id))
        assert deploy_status(stack, deploy2) is DeployStatus.LIVE
        live_ref = stack.ref(service_id)
        app = container(stack, live_ref.task_definition_arn)
        assert app["image"] == second.pinned_on(anon_registry.host)

        image_pusher.delete_manifest(first.reference)  # by digest: tag 1.0 goes with it
        published(stack.aws, stack.topic)  # forget what was published so far
        rolled = stack.ok(
            stack.call("POST", f"/v1/services/{service_id}/rollback", {"deployId": deploy1}), 201
        )
        rollback_id = rolled["id"]
        assert rolled["trigger"] == "rollback"
        stack.drain()

        failed = stack.app.ports.store.get_deploy(rollback_id)
        assert failed is not None and failed.status is DeployStatus.UPDATE_FAILED
        pulls = [
            e
            for e in stack.app.ports.store.list_events(service_id, 100).items
            if e.type is EventType.IMAGE_PULL_FAILED
        ]
        assert len(pulls) == 1
        pinned = f"{anon_registry.host}/{repo}@{first.digest}"  # what the rollback goes back to
        assert pulls[0].details["imageURL"] == pinned
        assert failed.reason["imagePullFailed"]["reason"] == PullFailureReason.NOT_FOUND.value
        messages = published(stack.aws, stack.topic)
        pulled = [m for m in messages if m["Subject"].endswith(": image pull failed")]
        assert len(pulled) == 1, [m["Subject"] for m in messages]
        assert json.loads(pulled[0]["Message"])["service"]["id"] == service_id
        # ECS was never touched: the service still runs tag 2.0's task definition
        assert stack.ref(service_id) == live_ref
        ecs_service = stack.ecs_service(service_id)
        assert ecs_service is not None
        assert ecs_service["taskDefinition"] == live_ref.task_definition_arn
        assert deploy_status(stack, deploy2) is DeployStatus.LIVE
        service = stack.app.ports.store.get_service(service_id)
        assert service is not None and service.live_deploy_id == deploy2
    finally:
        registry.close()


def test_the_api_lambda_gives_registry_io_the_short_request_budget(stack: Stack) -> None:
    """A registry that never answers costs an API request ``request_registry_budget_seconds``
    and a 503, not the worker's retry budget (which would outlast API Gateway's 29 s)."""
    from imagedeploy.registry import RegistryClient

    registry = RegistryClient(
        Settings.model_validate(
            {
                "registry_allowed_networks": LOOPBACK_NETWORKS,
                "registry_request_timeout_seconds": 30.0,
                "registry_retry_budget_seconds": 120.0,
            }
        )
    )
    settings = stack.overrides["settings"].model_copy(
        update={"request_registry_budget_seconds": 1.0}
    )
    stack.rebuild(registry=registry, settings=settings)
    try:
        with Tarpit() as tarpit:
            reply = stack.call("POST", "/v1/images/verify", {"imageUrl": f"{tarpit.host}/x/y:1"})
            attempts = tarpit.connections
        assert reply.status == 503, reply
        assert reply.json["id"] == "image_pull_failed"
        assert attempts == 1  # the worker's budget would have tried again after the timeout
        assert reply.headers["retry-after"]
    finally:
        registry.close()


# -- security groups ----------------------------------------------------------------------------


def test_workers_cron_runs_and_pre_deploy_tasks_run_in_the_worker_security_group(
    stack: Stack, network: Network, essential_exit: Callable[..., dict[str, Any]]
) -> None:
    from imagedeploy.handlers import cron as cron_handler

    ec2 = stack.aws.client("ec2")
    worker_sg = ec2.create_security_group(
        GroupName="worker", Description="no inbound traffic", VpcId=network.vpc_id
    )["GroupId"]
    settings = stack.app.settings.model_copy(update={"security_group_worker": worker_sg})
    stack.rebuild(settings=settings)  # IMAGEDEPLOY_SECURITY_GROUP_WORKER, as template.yaml sets it
    calls = record(stack.aws.client("ecs"))

    def groups(request: dict[str, Any]) -> list[str]:
        return list(request["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"])

    def created_service(service_id: str) -> dict[str, Any]:
        (request,) = [
            c
            for c in calls.of("CreateService")
            if c["serviceName"] == stack.app.ecs.name_of(service_id)
        ]
        return request

    # a background worker's ECS service
    worker = create_service(
        stack,
        "background_worker",
        {
            "runtime": "image",
            "plan": "starter",
            "numInstances": 1,
            "envSpecificDetails": {"dockerCommand": "worker"},
        },
    )
    stack.drain()
    # every task also joins its workspace's group (its private services admit that group only)
    (workspace,) = [
        g["GroupId"]
        for g in ec2.describe_security_groups()["SecurityGroups"]
        if g["GroupName"] == f"imagedeploy-ws-{stack.owner_id}"
    ]
    assert groups(created_service(worker["service"]["id"])) == [worker_sg, workspace]

    # a web service's pre-deploy task, then its ECS service in the web group
    details = dict(WEB_DETAILS, preDeployCommand="./migrate --yes")
    web = create_service(stack, "web_service", details)
    web_id, deploy_id = web["service"]["id"], web["deployId"]
    stack.drain()
    (pre_deploy,) = [c for c in calls.of("RunTask") if c["startedBy"] == deploy_id]
    assert groups(pre_deploy) == [worker_sg, workspace]
    (task_arn,) = stack.tasks_started_by(deploy_id)
    task = stack.aws.client("ecs").describe_tasks(cluster="imagedeploy", tasks=[task_arn])
    exited = essential_exit(deploy_id, 0, task["tasks"][0]["taskDefinitionArn"])
    stack.ecs_event(exited)
    stack.drain()
    assert groups(created_service(web_id)) == [network.tasks_sg, workspace]  # ALB ingress

    # a cron run
    cron_job = create_service(
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
    payload = {"serviceId": cron_job["service"]["id"], "scheduledTime": "2026-01-01T12:00:00Z"}
    run_id = cron_handler.lambda_handler(payload, LambdaContext())["runId"]
    stack.drain()
    (run,) = [c for c in calls.of("RunTask") if c["startedBy"] == run_id]
    assert groups(run) == [worker_sg, workspace]


# -- more ECS outcomes --------------------------------------------------------------------------


def pull_failures(stack: Stack, service_id: str) -> list[Any]:
    return [
        e
        for e in stack.app.ports.store.list_events(service_id, 100).items
        if e.type is EventType.IMAGE_PULL_FAILED
    ]


def test_a_pre_deploy_task_that_cannot_pull_its_image_fails_the_deploy(stack: Stack) -> None:
    details = dict(WEB_DETAILS, preDeployCommand="./migrate --yes")
    created = create_service(stack, "web_service", details)
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    stack.drain()
    assert deploy_status(stack, deploy_id) is DeployStatus.PRE_DEPLOY_IN_PROGRESS
    (task_arn,) = stack.tasks_started_by(deploy_id)
    task = stack.aws.client("ecs").describe_tasks(cluster="imagedeploy", tasks=[task_arn])
    published(stack.aws, stack.topic)  # forget what was published so far
    event = stack.task_event(
        "task_stopped_cannot_pull.json",
        started_by=deploy_id,
        task_definition_arn=task["tasks"][0]["taskDefinitionArn"],
    )
    assert stack.ecs_event(event)["outcome"] == f"pre-deploy {deploy_id}: PullFailed"
    stack.drain()

    deploy = stack.app.ports.store.get_deploy(deploy_id)
    assert deploy is not None and deploy.status is DeployStatus.PRE_DEPLOY_FAILED
    assert deploy.reason["imagePullFailed"]["reason"] == PullFailureReason.UNAUTHORIZED.value
    (pull,) = pull_failures(stack, service_id)
    assert pull.details["imageURL"] == f"{IMAGE}@{PLATFORM1}"  # the pinned digest
    assert EventType.PRE_DEPLOY_ENDED in event_types(stack, service_id)
    subjects = [m["Subject"] for m in published(stack.aws, stack.topic)]
    assert any(s.endswith(": image pull failed") for s in subjects), subjects
    assert stack.ecs_service(service_id) is None  # the rollout never started


def test_a_resource_initialization_error_during_a_rollout_fails_it_as_a_pull_failure(
    stack: Stack,
) -> None:
    """ECS could not read the registry credential's secret (or authenticate to the registry)
    before starting a task of the rollout: a pull failure (unauthorized); ECS goes back to the
    live version."""
    created, _, first = live_web_service(stack)
    service_id = created["service"]["id"]
    live_ref = stack.ref(service_id)
    reply = stack.hook(created["deployHookUrl"], imgURL=f"{IMAGE}:2.0")
    assert reply.status in (200, 202), reply
    second = stack.app.ports.store.list_deploys(service_id, 1).items[0].id
    stack.drain()
    ref = stack.ref(service_id)
    assert ref.deploy_id == second
    secret_arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:imagedeploy/test/cred-x"
    reason = (
        "ResourceInitializationError: unable to pull secrets or registry auth: execution "
        "resource retrieval failed: unable to retrieve secret from asm: service call has been "
        f"retried 1 time(s): failed to fetch secret {secret_arn} from secrets manager: "
        "AccessDeniedException: User is not authorized to perform: "
        "secretsmanager:GetSecretValue on resource"
    )
    event = stack.task_event(
        "task_stopped_cannot_pull.json",
        started_by=ref.deployment_id,
        task_definition_arn=ref.task_definition_arn,
    )
    event["detail"]["stoppedReason"] = reason
    event["detail"]["containers"][0].pop("reason")  # the container was never created
    published(stack.aws, stack.topic)
    assert stack.ecs_event(event)["outcome"] == f"rollout {second}: PullFailed"
    stack.drain()

    failed = stack.app.ports.store.get_deploy(second)
    assert failed is not None and failed.status is DeployStatus.UPDATE_FAILED
    assert failed.reason["imagePullFailed"]["reason"] == PullFailureReason.UNAUTHORIZED.value
    (pull,) = pull_failures(stack, service_id)
    assert pull.details["imageURL"] == f"{IMAGE}@{PLATFORM2}"
    subjects = [m["Subject"] for m in published(stack.aws, stack.topic)]
    assert any(s.endswith(": image pull failed") for s in subjects), subjects
    # the live version serves on: ECS is rolled back to its task definition
    assert deploy_status(stack, first) is DeployStatus.LIVE
    ecs_service = stack.ecs_service(service_id)
    assert ecs_service is not None
    assert ecs_service["taskDefinition"] == live_ref.task_definition_arn


def test_a_cron_run_canceled_by_a_user_is_stopped_and_its_stop_event_changes_nothing(
    stack: Stack, essential_exit: Callable[..., dict[str, Any]]
) -> None:
    from imagedeploy.handlers import cron as cron_handler

    created = create_cron_job(stack)
    service_id = created["service"]["id"]
    stack.drain()
    payload = {"serviceId": service_id, "scheduledTime": "2026-01-01T12:00:00Z"}
    run_id = cron_handler.lambda_handler(payload, LambdaContext())["runId"]
    stack.drain()
    ecs = stack.aws.client("ecs")
    running = ecs.list_tasks(cluster="imagedeploy", startedBy=run_id, desiredStatus="RUNNING")
    (task_arn,) = running["taskArns"]

    reply = stack.call("DELETE", f"/v1/cron-jobs/{service_id}/runs")
    assert reply.status == 204, reply
    run = stack.app.ports.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.CANCELED
    stack.drain()
    # the task was stopped (moto: desired status STOPPED)
    assert not ecs.list_tasks(cluster="imagedeploy", startedBy=run_id, desiredStatus="RUNNING")[
        "taskArns"
    ]
    task = ecs.describe_tasks(cluster="imagedeploy", tasks=[task_arn])["tasks"][0]
    assert task["desiredStatus"] == "STOPPED"
    events_before = event_types(stack, service_id)
    assert events_before.count(EventType.CRON_JOB_RUN_ENDED) == 1

    # ECS then reports the task stopped by the user (SIGTERM: exit 143)
    stopped = essential_exit(run_id, 143, task["taskDefinitionArn"])
    stopped["detail"]["stopCode"] = "UserInitiated"
    stopped["detail"]["stoppedReason"] = "cron run stopped"
    assert stack.ecs_event(stopped)["outcome"] == f"cron run {run_id}: canceled"
    assert stack.app.ports.store.get_run(run_id) == run  # ended once, by the user
    assert event_types(stack, service_id) == events_before
    service = stack.app.ports.store.get_service(service_id)
    assert service is not None and service.active_run_id is None
    # with the run gone, the next tick starts a new one
    later = {"serviceId": service_id, "scheduledTime": "2026-01-01T12:10:00Z"}
    assert cron_handler.lambda_handler(later, LambdaContext())["runId"] not in (None, run_id)


def test_a_private_service_registers_in_cloud_map_without_a_load_balancer(stack: Stack) -> None:
    created = create_service(
        stack,
        "private_service",
        {"runtime": "image", "plan": "standard", "numInstances": 2},
    )
    service_id = created["service"]["id"]
    stack.drain()
    service = stack.ecs_service(service_id)
    assert service is not None
    assert service.get("serviceRegistries"), "reachable by name through Cloud Map"
    assert not service.get("loadBalancers")
    assert service["desiredCount"] == 2
    ref = stack.ref(service_id)
    definition = stack.aws.client("ecs").describe_task_definition(
        taskDefinition=ref.task_definition_arn
    )["taskDefinition"]
    assert definition["runtimePlatform"] == {
        "operatingSystemFamily": "LINUX",
        "cpuArchitecture": "X86_64",
    }
    assert (definition["cpu"], definition["memory"]) == ("1024", "2048")  # standard: 1 vCPU/2 GB
    stack.ecs_event(stack.deployment_event(service_id))
    assert deploy_status(stack, created["deployId"]) is DeployStatus.LIVE
    address = stack.call("GET", f"/v1/services/{service_id}").json["serviceDetails"]["url"]
    assert address.endswith(":10000")


def test_the_api_lambda_reads_what_ecs_wrote_to_cloudwatch(stack: Stack) -> None:
    """``GET /v1/logs`` on AWS: the lines awslogs put in the service's group, found by text,
    with the task as the instance and a registry token masked."""
    created, _, _ = live_web_service(stack)
    service_id = created["service"]["id"]
    logs = stack.aws.client("logs")
    group = f"{stack.app.settings.log_group_prefix}/{service_id}"
    stream = "app/app/0123456789abcdef"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now_ms = int(stack.app.ports.clock.now().timestamp() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[
            {"timestamp": now_ms - 2000, "message": "listening on :10000"},
            {"timestamp": now_ms - 1000, "message": "pulled with ghp_s3cr3t_token ok"},
        ],
    )
    query = {"ownerId": stack.owner_id, "resource": service_id, "text": "pulled"}
    body = stack.ok(stack.call("GET", "/v1/logs", query=query))
    assert [entry["message"] for entry in body["logs"]] == ["pulled with ******** ok"]
    labels = {label["name"]: label["value"] for label in body["logs"][0]["labels"]}
    assert labels["instance"] == "0123456789abcdef" and labels["resource"] == service_id
    values = {**query, "label": "instance"}
    values.pop("text")
    assert stack.ok(stack.call("GET", "/v1/logs/values", query=values)) == ["0123456789abcdef"]
