"""The ECS runtime's pure rules: the Fargate size table and plan → size, how a stopped task is
classified (on documents shaped like AWS's ``DescribeTasks`` output and "ECS Task State Change"
event samples), and the deploy machine signals ``EcsStatus`` derives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagedeploy.domain.cron import RunStatus
from imagedeploy.domain.deploy_machine import (
    InstanceFailed,
    Phase,
    PreDeployExited,
    PullFailed,
    RolloutHealthy,
)
from imagedeploy.domain.ecs_rules import (
    FARGATE_SIZES,
    DeploymentState,
    EcsStatus,
    FargateSize,
    RolloutRef,
    TaskOutcome,
    classify_stop,
    fargate_size,
    run_end,
    task_outcome,
)
from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.outcomes import EarlyExit, NonZeroExit, OomKilled, Unhealthy
from imagedeploy.domain.outcomes import PullFailed as PullFailedOutcome
from imagedeploy.domain.services import PLAN_RESOURCES, Plan, Resources

pytestmark = pytest.mark.unit

SUCCESS, FAILED, CANCELED = RunStatus.SUCCESSFUL, RunStatus.UNSUCCESSFUL, RunStatus.CANCELED

# -- Fargate sizes --------------------------------------------------------------------------------

# AWS's table of valid task sizes (ECS developer guide, "Task CPU and memory"), written out.
DOCUMENTED = {
    256: [512, 1024, 2048],
    512: [1024, 2048, 3072, 4096],
    1024: [2048 + 1024 * i for i in range(7)],  # 2 GB .. 8 GB in 1 GB steps
    2048: [4096 + 1024 * i for i in range(13)],  # 4 GB .. 16 GB in 1 GB steps
    4096: [8192 + 1024 * i for i in range(23)],  # 8 GB .. 30 GB in 1 GB steps
    8192: [16384 + 4096 * i for i in range(12)],  # 16 GB .. 60 GB in 4 GB steps
    16384: [32768 + 8192 * i for i in range(12)],  # 32 GB .. 120 GB in 8 GB steps
}


def test_the_table_is_aws_s() -> None:
    assert {cpu: list(memories) for cpu, memories in FARGATE_SIZES} == DOCUMENTED


@pytest.mark.parametrize(
    ("plan", "size"),
    [
        (Plan.STARTER, FargateSize(512, 1024)),  # 0.5 vCPU / 512 MB: 512 MiB is not valid
        (Plan.STANDARD, FargateSize(1024, 2048)),
        (Plan.PRO, FargateSize(2048, 4096)),
        (Plan.PRO_PLUS, FargateSize(4096, 8192)),
        (Plan.PRO_MAX, FargateSize(4096, 16384)),
        (Plan.PRO_ULTRA, FargateSize(8192, 32768)),
    ],
)
def test_plans(plan: Plan, size: FargateSize) -> None:
    assert fargate_size(PLAN_RESOURCES[plan]) == size


@pytest.mark.parametrize(
    ("cpu", "memory", "size"),
    [
        (0.25, 512, FargateSize(256, 512)),
        (0.1, 100, FargateSize(256, 512)),
        (0.25, 4096, FargateSize(512, 4096)),  # memory forces the next CPU tier
        (0.25, 2049, FargateSize(512, 3072)),
        (1, 1024, FargateSize(1024, 2048)),
        (1, 9000, FargateSize(2048, 9216)),
        (3, 4096, FargateSize(4096, 8192)),
        (4, 31000, FargateSize(8192, 32768)),
        (8, 17000, FargateSize(8192, 20480)),
        (16, 122880, FargateSize(16384, 122880)),
    ],
)
def test_nearest_valid_size_at_or_above(cpu: float, memory: int, size: FargateSize) -> None:
    assert fargate_size(Resources(cpu, memory)) == size


@pytest.mark.parametrize(("cpu", "memory"), [(17, 1024), (16, 122881), (0.5, 200_000)])
def test_too_big_for_fargate(cpu: float, memory: int) -> None:
    with pytest.raises(ValueError, match="no Fargate size"):
        fargate_size(Resources(cpu, memory))


@given(
    cpu=st.sampled_from([0.1, 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16]),
    memory=st.integers(1, 122880),
)
def test_the_size_is_valid_big_enough_and_the_smallest(cpu: float, memory: int) -> None:
    size = fargate_size(Resources(cpu, memory))
    assert size.memory_mb in DOCUMENTED[size.cpu]
    assert size.cpu >= cpu * 1024 and size.memory_mb >= memory
    fits = [(c, m) for c, ms in DOCUMENTED.items() for m in ms if c >= cpu * 1024 and m >= memory]
    assert (size.cpu, size.memory_mb) == min(fits)


# -- stopped tasks ------------------------------------------------------------------------------

TASK_DEFINITION = "arn:aws:ecs:us-east-1:111122223333:task-definition/imagedeploy-srv-x:6"


def stopped(
    stop_code: str,
    reason: str,
    exit_code: int | None = None,
    container_reason: str = "",
    started_by: str = "ecs-svc/9223370556150183303",
) -> dict[str, Any]:
    """The ``detail`` of an "ECS Task State Change" event (AWS's sample, trimmed)."""
    container: dict[str, Any] = {
        "containerArn": "arn:aws:ecs:us-east-1:111122223333:container/3305bea1",
        "lastStatus": "STOPPED",
        "name": "app",
        "taskArn": "arn:aws:ecs:us-east-1:111122223333:task/default/b99d40b3",
    }
    if exit_code is not None:
        container["exitCode"] = exit_code
    if container_reason:
        container["reason"] = container_reason
    return {
        "clusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/default",
        "containers": [container],
        "desiredStatus": "STOPPED",
        "group": "service:imagedeploy-srv-x",
        "lastStatus": "STOPPED",
        "launchType": "FARGATE",
        "startedBy": started_by,
        "stopCode": stop_code,
        "stoppedReason": reason,
        "taskArn": "arn:aws:ecs:us-east-1:111122223333:task/default/b99d40b3",
        "taskDefinitionArn": TASK_DEFINITION,
        "version": 3,
    }


@pytest.mark.parametrize(
    ("detail", "long_running", "expected"),
    [
        (
            stopped(
                "TaskFailedToStart",
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
                "failed to resolve ref ghcr.io/acme/shop@sha256:ab: not found",
            ),
            True,
            PullFailedOutcome(PullFailureReason.NOT_FOUND, ""),
        ),
        (
            stopped(
                "TaskFailedToStart",
                "CannotPullContainerError: Error response from daemon: pull access denied for "
                "acme/shop, repository does not exist or may require 'docker login'",
            ),
            True,
            PullFailedOutcome(PullFailureReason.UNAUTHORIZED, ""),
        ),
        (
            stopped(
                "TaskFailedToStart",
                "CannotPullContainerError: failed to copy: httpReadSeeker: failed open: "
                "unexpected status code 401 Unauthorized",
            ),
            True,
            PullFailedOutcome(PullFailureReason.UNAUTHORIZED, ""),
        ),
        (
            stopped(
                "TaskFailedToStart",
                "CannotPullContainerError: toomanyrequests: You have reached your pull rate limit.",
            ),
            False,
            PullFailedOutcome(PullFailureReason.RATE_LIMITED, ""),
        ),
        (
            stopped(
                "TaskFailedToStart",
                "ResourceInitializationError: unable to pull secrets or registry auth: "
                "execution resource retrieval failed: unable to retrieve secret from asm",
            ),
            True,
            PullFailedOutcome(PullFailureReason.UNAUTHORIZED, ""),
        ),
        (
            stopped(
                "TaskFailedToStart",
                "CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: "
                "dial tcp 10.0.0.1:443: i/o timeout",
            ),
            True,
            PullFailedOutcome(PullFailureReason.REGISTRY_UNAVAILABLE, ""),
        ),
        (
            stopped(
                "EssentialContainerExited",
                "Essential container in task exited",
                137,
                "OutOfMemoryError: Container killed due to memory usage",
            ),
            True,
            OomKilled(1024),
        ),
        (
            stopped("EssentialContainerExited", "Essential container in task exited", 1),
            True,
            NonZeroExit(1),
        ),
        (
            stopped("EssentialContainerExited", "Essential container in task exited", 0),
            True,
            EarlyExit(),
        ),
        (
            stopped("EssentialContainerExited", "Essential container in task exited", 0),
            False,
            None,  # a one-off task that succeeded
        ),
        (
            stopped("EssentialContainerExited", "Essential container in task exited", 2),
            False,
            NonZeroExit(2),
        ),
        (
            stopped(
                "ServiceSchedulerInitiated",
                "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:"
                "us-east-1:111122223333:targetgroup/imgd-srv-x/73e2d6bc24d8a067)",
                143,
            ),
            True,
            Unhealthy(
                "Task failed ELB health checks in (target-group arn:aws:"
                "elasticloadbalancing:us-east-1:111122223333:targetgroup/imgd-srv-x/"
                "73e2d6bc24d8a067)"
            ),
        ),
        (
            stopped(
                "ServiceSchedulerInitiated",
                "Scaling activity initiated by (deployment ecs-svc/9223370556150183303)",
                143,
            ),
            True,
            None,  # replaced by a deployment: SIGTERM's 143 is no failure
        ),
        (stopped("UserInitiated", "deploy canceled", 137), True, None),
        (stopped("SpotInterruption", "Your Spot Task was interrupted.", 143), True, None),
        (
            stopped(
                "TaskFailedToStart",
                "ResourceInitializationError: failed to validate logger args: the specified "
                "log group does not exist",
            ),
            True,
            Unhealthy(
                "ResourceInitializationError: failed to validate logger args: "
                "the specified log group does not exist"
            ),
        ),
    ],
)
def test_classify_stop(detail: dict[str, Any], long_running: bool, expected: object) -> None:
    outcome = task_outcome(detail)
    found = classify_stop(outcome, long_running=long_running, memory_mb=1024)
    if isinstance(expected, PullFailedOutcome):
        assert isinstance(found, PullFailedOutcome)
        assert found.reason is expected.reason
        # ECS's text, first (an unreachable registry adds how to give tasks egress).
        assert found.message.startswith(detail["stoppedReason"])
    else:
        assert found == expected


def test_a_running_task_is_no_failure() -> None:
    detail = stopped("EssentialContainerExited", "x", 1) | {"lastStatus": "RUNNING"}
    assert classify_stop(task_outcome(detail), long_running=True) is None


def test_task_outcome_reads_the_app_container() -> None:
    detail = stopped("EssentialContainerExited", "Essential container in task exited", 3)
    detail["containers"].insert(0, {"name": "sidecar", "exitCode": 0})
    outcome = task_outcome(detail)
    assert outcome.exit_code == 3
    assert outcome.started_by == "ecs-svc/9223370556150183303"
    assert outcome.stopped
    assert task_outcome({}).exit_code is None


# -- EcsStatus signals ----------------------------------------------------------------------------

REF = RolloutRef("srv-x", "dep-1", "ecs-svc/1", "arn:td:2", "arn:td:1")


def deployment(state: str, status: str = "PRIMARY", reason: str = "") -> DeploymentState:
    return DeploymentState("ecs-svc/1", status, state, reason, "arn:td:2", 2, 2, 0, 0)


def status(**changes: Any) -> EcsStatus:
    base: dict[str, Any] = {
        "service_id": "srv-x",
        "deploy_id": "dep-1",
        "service_exists": True,
        "ref": REF,
        "deployment": deployment("IN_PROGRESS"),
        "service_task_definition_arn": "arn:td:2",
        "desired_count": 2,
        "running_count": 1,
        "stopped_tasks": (),
        "pre_deploy": None,
        "memory_mb": 512,
    }
    return EcsStatus(**(base | changes))


def outcome(detail: dict[str, Any]) -> TaskOutcome:
    return task_outcome(detail)


def test_rollout_signals() -> None:
    assert status().rollout_signal() is None
    assert status(deployment=deployment("COMPLETED")).rollout_signal() == RolloutHealthy()
    assert status(deployment=deployment("COMPLETED", status="ACTIVE")).rollout_signal() is None
    failed = status(deployment=deployment("FAILED", reason="circuit breaker tripped"))
    assert failed.rollout_signal() == InstanceFailed(Unhealthy("circuit breaker tripped"))
    crashed = status(stopped_tasks=(outcome(stopped("EssentialContainerExited", "x", 1)),))
    assert crashed.rollout_signal() == InstanceFailed(NonZeroExit(1))
    oom = status(
        deployment=deployment("COMPLETED"),
        stopped_tasks=(
            outcome(stopped("EssentialContainerExited", "x", 137, "OutOfMemoryError: x")),
        ),
    )
    assert oom.rollout_signal() == InstanceFailed(OomKilled(512))
    pull = status(
        stopped_tasks=(
            outcome(stopped("TaskFailedToStart", "CannotPullContainerError: not found")),
        )
    )
    assert pull.rollout_signal() == PullFailed(
        Phase.ROLLOUT, PullFailureReason.NOT_FOUND, "CannotPullContainerError: not found"
    )
    scaled = status(stopped_tasks=(outcome(stopped("ServiceSchedulerInitiated", "Scaling", 143)),))
    assert scaled.rollout_signal() is None


def test_rollout_signals_when_the_deployment_is_gone_or_not_ours() -> None:
    rolled_back = status(deployment=None, service_task_definition_arn="arn:td:1")
    assert isinstance(rolled_back.rollout_signal(), InstanceFailed)
    assert status(deployment=None).rollout_signal() is None  # still on ours: undecided
    assert status(deploy_id="dep-0").rollout_signal() is None
    assert status(service_exists=False).rollout_signal() is None
    assert status(ref=None).rollout_signal() is None


@pytest.mark.parametrize(
    ("detail", "signal"),
    [
        (stopped("EssentialContainerExited", "x", 0, started_by="dep-1"), PreDeployExited(0)),
        (stopped("EssentialContainerExited", "x", 3, started_by="dep-1"), PreDeployExited(3)),
        (
            stopped(
                "TaskFailedToStart", "CannotPullContainerError: 403 Forbidden", started_by="dep-1"
            ),
            PullFailed(
                Phase.PRE_DEPLOY,
                PullFailureReason.UNAUTHORIZED,
                "CannotPullContainerError: 403 Forbidden",
            ),
        ),
        (stopped("UserInitiated", "deploy canceled", 137, started_by="dep-1"), None),
        (
            stopped(
                "EssentialContainerExited", "x", None, "OutOfMemoryError: y", started_by="dep-1"
            ),
            PreDeployExited(137),
        ),
        (
            stopped("TaskFailedToStart", "ResourceInitializationError: logs", started_by="dep-1"),
            PreDeployExited(-1),
        ),
        (stopped("x", "y", started_by="dep-1") | {"lastStatus": "RUNNING"}, None),
    ],
)
def test_pre_deploy_signals(detail: dict[str, Any], signal: object) -> None:
    assert status(pre_deploy=outcome(detail)).pre_deploy_signal() == signal


def test_no_pre_deploy_task_no_signal() -> None:
    assert status().pre_deploy_signal() is None


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        (stopped("EssentialContainerExited", "x", 0, started_by="run-1"), (SUCCESS, 0, "")),
        (stopped("EssentialContainerExited", "x", 2, started_by="run-1"), (FAILED, 2, "x")),
        (
            stopped("EssentialContainerExited", "x", None, "OutOfMemoryError: y", "run-1"),
            (FAILED, 137, "out of memory"),
        ),
        (stopped("UserInitiated", "cron run stopped", 143, started_by="run-1"), (CANCELED, 143)),
        (
            stopped("TaskFailedToStart", "CannotPullContainerError: not found", started_by="run-1"),
            (FAILED, None, "image pull failed (not_found): CannotPullContainerError: not found"),
        ),
    ],
)
def test_how_a_cron_task_ended(detail: dict[str, Any], expected: tuple[object, ...]) -> None:
    end = run_end(task_outcome(detail), 512)
    assert (end.status, end.exit_code, end.reason)[: len(expected)] == expected
