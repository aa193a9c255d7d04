"""The Lambda handlers end to end under moto: the real handlers, the real bootstrap wiring the
AWS adapters (DynamoDB, Secrets Manager, ECS, ELB, Cloud Map, EventBridge Scheduler, SNS, SQS),
driven with API Gateway v2 events, SQS records, EventBridge ECS events and scheduler payloads.
``lambda_stack(aws, network)`` builds it (the handler tests and ``bench.dynamodb_calls``).

Fakes, where moto cannot stand in: the registry preflight is ``devkit.fakes.FakeRegistry`` (no
network registry for ``ghcr.io``; a test can swap in a real ``RegistryClient`` on the local
registry with ``Stack.rebuild``), and the clock is ``devkit.fakes.FakeClock`` (reconcile
timeouts). ECS outcomes are fed as the EventBridge events ECS would send (``ecs_events/*.json``,
shaped like the AWS documentation's samples); moto runs no containers.
"""

from __future__ import annotations

import copy
import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devkit.apigw import Reply, http_api_event
from devkit.fakes import FakeClock, FakeRegistry
from devkit.moto_aws import (
    ACCOUNT,
    REGION,
    Aws,
    Network,
    Topic,
    create_alb,
    create_cluster,
    create_namespace,
    create_schedule_group,
    create_topic,
)
from imagedeploy import aws_bootstrap
from imagedeploy.adapters.aws.dynamodb_store import create_table
from imagedeploy.adapters.aws.ecs_runtime import EcsRuntime
from imagedeploy.aws_bootstrap import AwsApp
from imagedeploy.cli.main import main as cli_main
from imagedeploy.domain.deploys import DeployStatus
from imagedeploy.domain.ecs_rules import RolloutRef
from imagedeploy.settings import Settings

EVENTS = Path(__file__).parent / "ecs_events"
TABLE = "imagedeploy-test"
DIGEST1 = "sha256:" + "11" * 32
PLATFORM1 = "sha256:" + "a1" * 32
DIGEST2 = "sha256:" + "22" * 32
PLATFORM2 = "sha256:" + "a2" * 32
IMAGE = "ghcr.io/acme/shop"
ECR_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/acme/jobs"


@dataclass
class LambdaContext:
    function_name: str = "imagedeploy-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:imagedeploy-test"
    aws_request_id: str = "req-0001"


@dataclass
class Stack:
    aws: Aws
    app: AwsApp
    registry: FakeRegistry
    clock: FakeClock
    queue_url: str
    topic: Topic
    api_key: str
    owner_id: str
    handled: list[dict[str, Any]] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)  # what ``configure`` was given
    ticks_queue_url: str = ""  # the cron schedules' target (template.yaml CronTicksQueue)

    @property
    def ecs(self) -> EcsRuntime:
        return self.app.ecs

    def rebuild(self, **changes: Any) -> AwsApp:
        """A new cold start with some of the bootstrap's overrides replaced (``settings``,
        ``registry``, ...); the AWS state (moto) stays."""
        self.overrides = {**self.overrides, **changes}
        aws_bootstrap.configure(**self.overrides)
        self.app = aws_bootstrap.app()
        return self.app

    # -- API Gateway v2 -----------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        key: str | None = "default",
    ) -> Reply:
        from imagedeploy.handlers import api

        bearer = None if key is None else (self.api_key if key == "default" else key)
        event = http_api_event(
            method, path, body, query=query, bearer=bearer, source_ip="203.0.113.7"
        )
        return Reply.of(api.lambda_handler(event, LambdaContext()))

    def ok(self, reply: Reply, status: int = 200) -> Any:
        assert reply.status == status, reply
        return reply.json

    def hook(self, hook_url: str, method: str = "GET", **params: str) -> Reply:
        parts = urlsplit(hook_url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()} | params
        return self.call(method, parts.path, query=query, key=None)

    # -- SQS → worker -------------------------------------------------------------------------
    def drain(self, limit: int = 50, *, delayed: bool = False) -> list[str]:
        """Run every queued job through the worker handler; returns the jobs' kinds.
        ``delayed``: also wait for delayed messages (retries with backoff) to come due."""
        from imagedeploy.handlers import worker

        sqs = self.aws.client("sqs")
        kinds: list[str] = []
        for _ in range(limit):
            got = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0
            ).get("Messages", [])
            while not got and delayed and self._delayed_messages():
                time.sleep(0.2)
                got = sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0
                ).get("Messages", [])
            if not got and delayed:
                # One that came due between the receive and the count: it is visible now.
                got = sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0
                ).get("Messages", [])
            if not got:
                return kinds
            message = got[0]
            record = {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs",
                "awsRegion": REGION,
            }
            answer = worker.lambda_handler({"Records": [record]}, LambdaContext())
            assert answer == {"batchItemFailures": []}, (message["Body"], answer)
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            kinds.append(json.loads(message["Body"])["kind"])
        raise AssertionError("the jobs queue never drained")

    def _delayed_messages(self) -> int:
        attributes = self.aws.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesDelayed"])

    # -- EventBridge Scheduler → cron ticks queue → cron ------------------------------------------
    def fire_schedule(self, name: str, at: str) -> None:
        """What EventBridge Scheduler does when schedule ``name`` fires at ``at``: send its
        target's Input, context attributes filled in, to its target (the ticks queue)."""
        group = self.app.settings.scheduler_group
        target = self.aws.client("scheduler").get_schedule(Name=name, GroupName=group)["Target"]
        assert target["Arn"] == self.app.settings.cron_target_arn, target["Arn"]
        body = target["Input"].replace("<aws.scheduler.scheduled-time>", at)
        body = body.replace("<aws.scheduler.schedule-arn>", f"arn:aws:scheduler:::{name}")
        self.aws.client("sqs").send_message(QueueUrl=self.ticks_queue_url, MessageBody=body)

    def drain_ticks(self, batch_size: int = 10) -> list[dict[str, str]]:
        """Run the queued ticks through the cron handler in batches (the SQS event source);
        returns the batch item failures (those messages stay queued)."""
        from imagedeploy.handlers import cron

        sqs = self.aws.client("sqs")
        failures: list[dict[str, str]] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=self.ticks_queue_url,
                MaxNumberOfMessages=batch_size,
                VisibilityTimeout=300,
            ).get("Messages", [])
            if not got:
                return failures
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "eventSource": "aws:sqs",
                }
                for m in got
            ]
            answer = cron.lambda_handler({"Records": records}, LambdaContext())
            failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            failures.extend(answer["batchItemFailures"])
            for message in got:
                if message["MessageId"] not in failed:
                    sqs.delete_message(
                        QueueUrl=self.ticks_queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )

    # -- EventBridge → ecs_events ---------------------------------------------------------------
    def ecs_event(self, event: dict[str, Any]) -> dict[str, Any]:
        from imagedeploy.handlers import ecs_events

        result: dict[str, Any] = ecs_events.lambda_handler(copy.deepcopy(event), LambdaContext())
        self.handled.append(result)
        return result

    def ref(self, service_id: str) -> RolloutRef:
        ref = self.ecs.rollout_ref(service_id)
        assert ref is not None
        return ref

    def deployment_event(
        self, service_id: str, completed: bool = True, deployment_id: str | None = None
    ) -> dict[str, Any]:
        name = "deployment_completed.json" if completed else "deployment_failed.json"
        event: dict[str, Any] = json.loads((EVENTS / name).read_text())
        ecs_name = self.app.ecs.name_of(service_id)
        service_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/imagedeploy/{ecs_name}"
        event["resources"] = [service_arn]
        event["detail"]["deploymentId"] = deployment_id or self.ref(service_id).deployment_id
        return event

    def task_event(
        self,
        sample: str,
        *,
        started_by: str,
        task_definition_arn: str,
        exit_code: int | None = None,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = json.loads((EVENTS / sample).read_text())
        detail = event["detail"]
        detail["startedBy"] = started_by
        detail["taskDefinitionArn"] = task_definition_arn
        if exit_code is not None:
            detail["containers"][0]["exitCode"] = exit_code
        if event_id:
            event["id"] = event_id
        return event

    def ecs_service(self, service_id: str) -> dict[str, Any] | None:
        found = self.aws.client("ecs").describe_services(
            cluster="imagedeploy", services=[self.app.ecs.name_of(service_id)]
        )["services"]
        active = [s for s in found if s.get("status") == "ACTIVE"]
        return active[0] if active else None

    def tasks_started_by(self, started_by: str) -> list[str]:
        ecs = self.aws.client("ecs")
        arns: list[str] = []
        for status in ("RUNNING", "STOPPED"):
            arns += ecs.list_tasks(
                cluster="imagedeploy", startedBy=started_by, desiredStatus=status
            )["taskArns"]
        return arns


@contextmanager
def lambda_stack(aws: Aws, network: Network) -> Iterator[Stack]:
    """The whole Lambda stack inside ``mock_aws`` (``aws``), in ``network``: cluster, ALB,
    Cloud Map namespace, SNS topic, Scheduler group, the table, the jobs queue, the first API
    key, and the bootstrap configured with them (reset at the end)."""
    cluster = create_cluster(aws)
    alb = create_alb(aws, network)
    namespace = create_namespace(aws, network)
    topic = create_topic(aws)
    schedule_group = create_schedule_group(aws)
    create_table(aws.client("dynamodb"), TABLE)
    queue_url = aws.client("sqs").create_queue(QueueName="jobs")["QueueUrl"]
    ticks_queue_url = aws.client("sqs").create_queue(QueueName="cron-ticks")["QueueUrl"]
    # The first API key, the way docs/aws.md says: the admin command, with the caller's AWS
    # credentials, straight into the table.
    out = io.StringIO()
    assert cli_main(["admin", "create-api-key", "--table", TABLE], stdout=out) == 0
    printed = out.getvalue()
    api_key = printed.rsplit(": ", 1)[-1].strip()
    owner_id = printed.split()[1]
    assert api_key.startswith("rnd_")
    assert owner_id.startswith("tea-")
    # As the template does: the function is given the secret's ARN, and reads the key itself.
    session_secret_arn = aws.client("secretsmanager").create_secret(
        Name="imagedeploy-dashboard-session", SecretString="lambda stack tests: not a real secret"
    )["ARN"]
    settings = Settings.model_validate(
        {
            "aws_region": REGION,
            "table_name": TABLE,
            "jobs_queue_url": queue_url,
            "topic_arn": topic.arn,
            "secret_prefix": "imagedeploy/test",
            "base_domain": "apps.example.com",
            "cluster": cluster,
            "vpc_id": network.vpc_id,
            "subnets": ",".join(network.subnets),
            "security_group_web": network.tasks_sg,
            "security_group_private": network.private_sg,
            "security_group_worker": network.tasks_sg,
            "task_execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/imagedeploy-execution",
            "task_role_arn": f"arn:aws:iam::{ACCOUNT}:role/imagedeploy-task",
            "listener_arn": alb.listener_arn,
            "cloudmap_namespace_id": namespace,
            "scheduler_group": schedule_group,
            "scheduler_role_arn": f"arn:aws:iam::{ACCOUNT}:role/imagedeploy-scheduler",
            "cron_target_arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:cron-ticks",
            "dashboard_session_secret_arn": session_secret_arn,
        }
    )
    registry = FakeRegistry()
    registry.add(f"{IMAGE}:1.0", DIGEST1, PLATFORM1)
    registry.add(f"{IMAGE}:2.0", DIGEST2, PLATFORM2)
    registry.add(f"{ECR_IMAGE}:1.0", DIGEST1, PLATFORM1)
    clock = FakeClock()
    names = ("dynamodb", "secretsmanager", "ecs", "elbv2", "servicediscovery", "logs", "sqs")
    overrides: dict[str, Any] = {
        "settings": settings,
        "clients": {n: aws.client(n) for n in (*names, "scheduler", "sns")},
        "registry": registry,
        "clock": clock,
    }
    aws_bootstrap.configure(**overrides)
    try:
        yield Stack(
            aws,
            aws_bootstrap.app(),
            registry,
            clock,
            queue_url,
            topic,
            api_key,
            owner_id,
            overrides=overrides,
            ticks_queue_url=ticks_queue_url,
        )
    finally:
        aws_bootstrap.reset()


# -- what several handler scenarios (and bench.dynamodb_calls) start from ---------------------

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
