"""Old task definition revisions are cleaned up in the background (issue 10, item 4): under
moto, ``prune_revisions`` (the ``prune_revisions`` job) deregisters and deletes every revision
but the ECS service's, its rollout's previous one and the newest few; registering a revision
queues that job instead of cleaning up in the deploy's effect; removal deletes them all."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from devkit.moto_aws import Aws, make_service, make_spec, record
from imagedeploy.adapters.aws.ecs_runtime import EcsConfig, EcsRuntime
from imagedeploy.adapters.aws.ecs_task_definitions import KEEP_NEWEST
from imagedeploy.ports import RunSpec

pytestmark = pytest.mark.integration

WEB = make_service(health_check_path="/healthz")


def deploy(n: int) -> str:
    return f"dep-{n:020d}"


def spec(n: int) -> RunSpec:
    return dataclasses.replace(make_spec(WEB, deploy(n)), env={**make_spec(WEB).env, "V": str(n)})


def revisions(aws: Aws, status: str) -> list[str]:
    """The service's revisions: its family's, whatever the family is named (readable names)."""
    arns = aws.client("ecs").list_task_definitions(status=status)["taskDefinitionArns"]
    return [a for a in arns if WEB.slug in a.rsplit("/", 1)[-1] or WEB.id in a]


def test_pruning_keeps_the_live_the_rollback_and_the_newest_revisions(
    aws: Aws, runtime: EcsRuntime
) -> None:
    live = runtime.rollout(spec(1))
    rolled = runtime.rollout(spec(2))
    assert rolled.previous_task_definition_arn == live.task_definition_arn
    extra = [runtime.task_definitions.ensure(spec(n)) for n in range(3, 9)]  # e.g. pre-deploys
    assert len(revisions(aws, "ACTIVE")) == 8

    calls = record(aws.client("ecs"))
    runtime.prune_revisions(WEB.id)

    kept = set(revisions(aws, "ACTIVE"))
    assert kept == {live.task_definition_arn, rolled.task_definition_arn, *extra[-KEEP_NEWEST:]}
    assert revisions(aws, "INACTIVE") == []  # deregistered, then deleted
    assert len(calls.of("DeregisterTaskDefinition")) == 8 - len(kept)
    assert calls.of("DeleteTaskDefinitions")
    runtime.prune_revisions(WEB.id)  # again (a redelivered job): nothing more goes
    assert set(revisions(aws, "ACTIVE")) == kept


def test_a_new_revision_queues_the_prune_job_and_reusing_one_does_not(
    aws: Aws, ecs_config: EcsConfig, runtime_of: Callable[..., EcsRuntime]
) -> None:
    queued: list[str] = []
    runtime = runtime_of(ecs_config, on_new_revision=queued.append)
    calls = record(aws.client("ecs"))
    runtime.task_definitions.ensure(spec(1))
    runtime.task_definitions.ensure(spec(1))  # same content: the same revision
    assert queued == [WEB.id]
    assert "DeregisterTaskDefinition" not in calls.names()  # never in the deploy's own effect


def test_removal_deletes_every_revision(aws: Aws, runtime: EcsRuntime) -> None:
    runtime.rollout(spec(1))
    runtime.task_definitions.ensure(spec(2))
    runtime.remove(WEB.id)
    assert revisions(aws, "ACTIVE") == []
    assert revisions(aws, "INACTIVE") == []
