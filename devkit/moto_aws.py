"""The AWS side under moto (``mock_aws``), for the AWS adapter tests, the handler tests and the
benchmarks.

``mocked_aws()`` enters ``mock_aws`` with fake credentials and a region; ``Aws`` hands out
boto3 clients. The stack's shared resources are built the way ``template.yaml`` declares
them (``create_network``, ``create_cluster``, ...): a VPC with DNS hostnames enabled (moto 5.2's ECS needs it for ``awsvpc`` tasks, with an explicit security group
list) and two subnets, the tasks' security group and the private services' one (open to the VPC
CIDR only), an ECS cluster, an ALB with an HTTP listener, a Cloud Map private DNS namespace, an
SNS topic with an SQS queue subscribed (to read what was published), and a Scheduler group.

``record(client)`` keeps every request a client sends (operation and parameters, through a
botocore event hook): moto answers, and tests check what was *asked* where moto drops a
parameter it does not model (``deploymentConfiguration``, for one).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from imagedeploy.domain.registries import RegistryCredential, RegistryKind
from imagedeploy.domain.service_rules import runtime_env, validate_create
from imagedeploy.domain.services import PLAN_RESOURCES, Service, ServiceType
from imagedeploy.ports import RunSpec

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
VPC_CIDR = "10.20.0.0/16"
DIGEST = "sha256:" + "ab" * 32
OWNER = "tea-0000000000000000000a"


class Aws:
    """boto3 clients inside ``mock_aws`` (one per service name)."""

    def __init__(self) -> None:
        import boto3  # type: ignore[import-untyped]

        self._session = boto3.session.Session(region_name=REGION)
        self._clients: dict[str, Any] = {}

    def client(self, name: str) -> Any:
        if name not in self._clients:
            self._clients[name] = self._session.client(name, region_name=REGION)
        return self._clients[name]

    def new_client(self, name: str) -> Any:
        """A client of its own (e.g. to attach a botocore Stubber without touching others)."""
        return self._session.client(name, region_name=REGION)


def task_env(aws: Aws, container: dict[str, Any]) -> dict[str, str]:
    """A container definition's environment as ECS hands it to the container: the plaintext
    ``environment`` plus each of ``secrets`` read from Secrets Manager (``<secret ARN>:<JSON
    key>:<stage>:<version id>``)."""
    import json

    env = {e["name"]: e["value"] for e in container.get("environment", [])}
    for secret in container.get("secrets", []):
        arn, key, stage, version = secret["valueFrom"].rsplit(":", 3)
        pinned = {"VersionId": version} if version else {"VersionStage": stage or "AWSCURRENT"}
        value = aws.client("secretsmanager").get_secret_value(SecretId=arn, **pinned)
        env[secret["name"]] = json.loads(value["SecretString"])[key]
    return env


@dataclass
class Recorded:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def record(client: Any) -> Recorded:
    """Keep a copy of every request's parameters (moto still answers them)."""
    recorded = Recorded()

    def keep(params: dict[str, Any], model: Any, **_: Any) -> None:
        recorded.calls.append((model.name, json.loads(json.dumps(params, default=str))))

    client.meta.events.register("provide-client-params.*.*", keep)
    return recorded


@dataclass
class Fault:
    """A chosen AWS call answering with an error (``fail``): ``failures`` counts the errors
    given so far; after ``times`` of them (None: always) the call reaches moto again."""

    operation: str
    code: str
    message: str
    times: int | None
    status: int = 400
    failures: int = 0

    def __call__(self, **_: Any) -> tuple[Any, dict[str, Any]] | None:
        from botocore.awsrequest import AWSResponse  # type: ignore[import-untyped]

        if self.times is not None and self.failures >= self.times:
            return None
        self.failures += 1
        response = AWSResponse("https://aws.invalid/", self.status, {}, None)
        error = {"Code": self.code, "Message": self.message}
        return response, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": self.status}}


def fail(client: Any, operation: str, code: str, message: str, times: int | None = None) -> Fault:
    """Make ``operation`` (e.g. ``RegisterTaskDefinition``) of ``client`` raise the AWS error
    ``code: message`` ``times`` times (None: every time), through a botocore ``before-call``
    hook: the code under test gets a real ``ClientError``, as from AWS."""
    fault = Fault(operation, code, message, times)
    service_id = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-call.{service_id}.{operation}", fault)
    return fault


_FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@contextmanager
def mocked_aws() -> Iterator[Aws]:
    """``mock_aws`` with fake credentials and the region in the environment (``AWS_PROFILE``
    unset); the environment is restored afterwards."""
    from moto import mock_aws

    names = (*_FAKE_ENVIRONMENT, "AWS_PROFILE")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(_FAKE_ENVIRONMENT)
    os.environ.pop("AWS_PROFILE", None)
    try:
        with mock_aws():
            yield Aws()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnets: tuple[str, ...]
    tasks_sg: str
    private_sg: str
    alb_sg: str


def create_network(aws: Aws) -> Network:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    # moto quirk (docs/architecture.md §15): awsvpc tasks need a VPC with DNS hostnames enabled.
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    subnets = tuple(
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.20.1.0/24", f"{REGION}a"), ("10.20.2.0/24", f"{REGION}b"))
    )

    def group(name: str) -> str:
        return str(
            ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        )

    alb_sg, tasks_sg, private_sg = group("alb"), group("tasks"), group("private")
    ec2.authorize_security_group_ingress(
        GroupId=tasks_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 0,
                "ToPort": 65535,
                "UserIdGroupPairs": [{"GroupId": alb_sg}],
            }
        ],
    )
    ec2.authorize_security_group_ingress(  # private services: reachable from the VPC only
        GroupId=private_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 0,
                "ToPort": 65535,
                "IpRanges": [{"CidrIp": VPC_CIDR}],
            }
        ],
    )
    return Network(vpc, subnets, tasks_sg, private_sg, alb_sg)


def create_cluster(aws: Aws) -> str:
    return str(
        aws.client("ecs").create_cluster(clusterName="imagedeploy")["cluster"]["clusterName"]
    )


@dataclass(frozen=True)
class Alb:
    arn: str
    listener_arn: str


def create_alb(aws: Aws, network: Network) -> Alb:
    elbv2 = aws.client("elbv2")
    lb = elbv2.create_load_balancer(
        Name="imagedeploy",
        Subnets=list(network.subnets),
        SecurityGroups=[network.alb_sg],
        Scheme="internet-facing",
        Type="application",
    )["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
            }
        ],
    )["Listeners"][0]["ListenerArn"]
    return Alb(lb, listener)


def create_namespace(aws: Aws, network: Network) -> str:
    discovery = aws.client("servicediscovery")
    discovery.create_private_dns_namespace(Name="internal", Vpc=network.vpc_id)
    found = discovery.list_namespaces()["Namespaces"]
    return str(next(n["Id"] for n in found if n["Name"] == "internal"))


@dataclass(frozen=True)
class Topic:
    arn: str
    queue_url: str


def create_topic(aws: Aws) -> Topic:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    arn = sns.create_topic(Name="imagedeploy-notifications")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    return Topic(arn, queue_url)


def published(aws: Aws, topic: Topic) -> list[dict[str, Any]]:
    """The SNS envelopes (Subject, Message, MessageAttributes) the queue received."""
    answer = aws.client("sqs").receive_message(
        QueueUrl=topic.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    )
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def create_schedule_group(aws: Aws) -> str:
    aws.client("scheduler").create_schedule_group(Name="imagedeploy")
    return "imagedeploy"


# -- run specs --------------------------------------------------------------------------------


def make_service(
    type_: ServiceType = ServiceType.WEB_SERVICE,
    *,
    service_id: str = "srv-0000000000000000000w",
    name: str = "shop web",
    **settings: Any,
) -> Service:
    settings.setdefault("image_path", "ghcr.io/acme/shop:1.0")
    if type_ is ServiceType.CRON_JOB:
        settings.setdefault("schedule", "*/5 * * * *")
    spec = validate_create(type_, name, **settings)
    return spec.to_service(
        id=service_id, owner_id=OWNER, hook_key_hash="0" * 64, now=datetime(2026, 1, 1, tzinfo=UTC)
    )


def make_spec(
    service: Service,
    deploy_id: str = "dep-00000000000000000001",
    *,
    image: str = f"ghcr.io/acme/shop@{DIGEST}",
    command: tuple[str, ...] | None = ("bin/server", "--port", "10000"),
    credential: RegistryCredential | None = None,
    credential_id: str | None = None,
    **changes: Any,
) -> RunSpec:
    """What ``usecases.deploys.run_spec`` builds for ``service``'s deploy ``deploy_id``."""
    env = runtime_env(service, deploy_id)
    spec = RunSpec(
        service_id=service.id,
        deploy_id=deploy_id,
        image=image,
        command=command,
        env=env,
        resources=PLAN_RESOURCES[service.plan],
        port=service.port if service.type.has_port else None,
        health_check_path=service.health_check_path,
        num_instances=service.num_instances,
        stop_timeout_seconds=service.max_shutdown_delay_seconds,
        credential=credential,
        internal_host=service.slug if service.type.has_port else "",
        credential_id=credential_id,
        slug=service.slug,
        owner_id=service.owner_id,
        service_name=service.name,
    )
    return dataclasses.replace(spec, **changes) if changes else spec


def ghcr_credential() -> RegistryCredential:
    return RegistryCredential(RegistryKind.GITHUB, "octocat", SecretStr("ghp_s3cr3t"))
