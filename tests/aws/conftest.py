"""Fixtures for the AWS adapters under moto (helpers in ``devkit.moto_aws``).

``aws`` enters ``mock_aws`` with fake credentials and a region, and hands out boto3 clients; the
other fixtures build the stack's shared resources the way ``template.yaml`` declares them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devkit.moto_aws import (
    ACCOUNT,
    REGION,
    Alb,
    Aws,
    Network,
    Topic,
    create_alb,
    create_cluster,
    create_namespace,
    create_network,
    create_schedule_group,
    create_topic,
    mocked_aws,
)
from imagedeploy.adapters.aws.dynamodb_store import create_table
from imagedeploy.adapters.aws.ecs_runtime import EcsConfig, EcsRuntime


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mocked_aws() as made:
        yield made


@pytest.fixture
def network(aws: Aws) -> Network:
    return create_network(aws)


@pytest.fixture
def cluster(aws: Aws) -> str:
    return create_cluster(aws)


@pytest.fixture
def alb(aws: Aws, network: Network) -> Alb:
    return create_alb(aws, network)


@pytest.fixture
def namespace(aws: Aws, network: Network) -> str:
    return create_namespace(aws, network)


@pytest.fixture
def topic(aws: Aws) -> Topic:
    return create_topic(aws)


@pytest.fixture
def schedule_group(aws: Aws) -> str:
    return create_schedule_group(aws)


@pytest.fixture
def table(aws: Aws) -> str:
    """The stack's DynamoDB table (the runtime records routes in it)."""
    create_table(aws.client("dynamodb"), "imagedeploy")
    return "imagedeploy"


@pytest.fixture
def ecs_config(network: Network, cluster: str, alb: Alb, namespace: str, table: str) -> EcsConfig:
    return EcsConfig(
        cluster=cluster,
        region=REGION,
        subnets=network.subnets,
        security_groups=(network.tasks_sg,),
        execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/imagedeploy-execution",
        task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/imagedeploy-task",
        vpc_id=network.vpc_id,
        listener_arn=alb.listener_arn,
        base_domain="apps.example.com",
        private_security_groups=(network.private_sg,),
        namespace_id=namespace,
        table_name=table,
    )


@pytest.fixture
def secret_arns() -> dict[str, str]:
    """credential id -> Secrets Manager ARN, what ``SecretsManagerSecretStore.arn_of`` says."""
    return {}


@pytest.fixture
def runtime_of(aws: Aws) -> Callable[..., EcsRuntime]:
    """Makes an ``EcsRuntime`` of a config on moto's clients; ``options``: ``secret_arn``,
    ``on_new_revision``."""

    def make(config: EcsConfig, **options: Any) -> EcsRuntime:
        clients = ("ecs", "elbv2", "servicediscovery", "logs", "secretsmanager", "ec2")
        return EcsRuntime(
            config,
            **{name: aws.client(name) for name in clients},
            dynamodb=aws.client("dynamodb"),
            route53=aws.client("route53"),
            **options,
        )

    return make


@pytest.fixture
def runtime(
    runtime_of: Callable[..., EcsRuntime], ecs_config: EcsConfig, secret_arns: dict[str, str]
) -> EcsRuntime:
    return runtime_of(ecs_config, secret_arn=secret_arns.get)
