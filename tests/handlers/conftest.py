"""The Lambda stack under moto (``devkit.lambda_stack`` says what is real and what is fake)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devkit.lambda_stack import Stack, lambda_stack
from devkit.moto_aws import Aws, Network, create_network, mocked_aws


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mocked_aws() as made:
        yield made


@pytest.fixture
def network(aws: Aws) -> Network:
    return create_network(aws)


@pytest.fixture
def stack(aws: Aws, network: Network) -> Iterator[Stack]:
    with lambda_stack(aws, network) as made:
        yield made


@pytest.fixture
def essential_exit(stack: Stack) -> Callable[..., dict[str, Any]]:
    """``essential_exit(started_by, exit_code, task_definition_arn=None)``: the "ECS Task State
    Change" of the task ``started_by`` started, stopped because its essential container exited
    with ``exit_code``; ``task_definition_arn`` is the task's (by default read from the first
    task ECS lists as started by ``started_by``)."""

    def event(
        started_by: str, exit_code: int, task_definition_arn: str | None = None
    ) -> dict[str, Any]:
        if task_definition_arn is None:
            arns = stack.tasks_started_by(started_by)
            task = stack.aws.client("ecs").describe_tasks(cluster="imagedeploy", tasks=arns)
            task_definition_arn = str(task["tasks"][0]["taskDefinitionArn"])
        return stack.task_event(
            "task_stopped_essential_exit.json",
            started_by=started_by,
            task_definition_arn=task_definition_arn,
            exit_code=exit_code,
        )

    return event
