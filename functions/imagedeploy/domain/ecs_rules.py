"""Pure rules of the ECS runtime (docs/architecture.md §2.2), no AWS calls: the Fargate size of a
plan, the tags that tie ECS resources to deploys and runs (``RolloutRef``), how a stopped task is
classified into a runtime outcome (``classify_stop``, the same rule for the ECS events handler and
reconcile), and the deploy machine signals a described ECS state implies (``EcsStatus``).

The adapters (``adapters/aws/ecs_runtime.py`` and its parts) make the calls; this module reads
their answers, which have the shapes of ``DescribeTasks``/``DescribeServices`` and of the "ECS Task
State Change" event's ``detail`` (the same field names).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from imagedeploy.domain import deploy_machine as machine
from imagedeploy.domain.cron import RunEnd, run_outcome
from imagedeploy.domain.deploy_machine import (
    InstanceFailed,
    Phase,
    PreDeployExited,
    RolloutHealthy,
    Signal,
)
from imagedeploy.domain.outcomes import (
    EarlyExit,
    NonZeroExit,
    OomKilled,
    Outcome,
    PullFailed,
    Unhealthy,
)
from imagedeploy.domain.pull_failures import pull_failure_message, pull_failure_reason
from imagedeploy.domain.services import Resources

CONTAINER: Final = "app"
MAX_STOP_TIMEOUT_SECONDS: Final = 120  # Fargate's limit for stopTimeout
LOG_STREAM_PREFIX: Final = "app"

TAG_SERVICE: Final = "imagedeploy:service"
TAG_DEPLOY: Final = "imagedeploy:deploy"
TAG_ROLE: Final = "imagedeploy:role"
TAG_RUN: Final = "imagedeploy:run"
TAG_JOB: Final = "imagedeploy:job"
TAG_FINGERPRINT: Final = "imagedeploy:fingerprint"
TAG_DEPLOYMENT: Final = "imagedeploy:ecs-deployment"
TAG_TASK_DEFINITION: Final = "imagedeploy:task-definition"
TAG_PREVIOUS: Final = "imagedeploy:previous-task-definition"
#: what every resource made for a service carries (finding it in the console)
TAG_STACK: Final = "imagedeploy:stack"
TAG_OWNER: Final = "imagedeploy:owner"
TAG_SERVICE_NAME: Final = "imagedeploy:service-name"
TAG_TYPE: Final = "imagedeploy:type"

ROLLOUT_TAGS: Final = (TAG_DEPLOY, TAG_DEPLOYMENT, TAG_TASK_DEFINITION, TAG_PREVIOUS)

DEPLOYMENT_CONFIGURATION: Final[dict[str, Any]] = {
    "minimumHealthyPercent": 100,
    "maximumPercent": 200,
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
}

# -- Fargate sizes --------------------------------------------------------------------------------

#: Every valid Fargate task size: CPU units (1024 = 1 vCPU) and the memory (MiB) allowed with it.
FARGATE_SIZES: Final[tuple[tuple[int, tuple[int, ...]], ...]] = (
    (256, (512, 1024, 2048)),
    (512, tuple(range(1024, 4096 + 1, 1024))),
    (1024, tuple(range(2048, 8192 + 1, 1024))),
    (2048, tuple(range(4096, 16384 + 1, 1024))),
    (4096, tuple(range(8192, 30720 + 1, 1024))),
    (8192, tuple(range(16384, 61440 + 1, 4096))),
    (16384, tuple(range(32768, 122880 + 1, 8192))),
)


@dataclass(frozen=True, slots=True)
class FargateSize:
    cpu: int  # CPU units
    memory_mb: int


def fargate_size(resources: Resources) -> FargateSize:
    """The smallest valid Fargate size with at least the plan's CPU and memory: the smallest
    CPU tier that can hold the memory, then the smallest memory of that tier."""
    cpu_units = math.ceil(resources.cpu * 1024)
    for cpu, memories in FARGATE_SIZES:
        if cpu < cpu_units:
            continue
        for memory in memories:
            if memory >= resources.memory_mb:
                return FargateSize(cpu, memory)
    raise ValueError(
        f"no Fargate size has {resources.cpu:g} vCPU and {resources.memory_mb} MiB "
        "(the largest is 16 vCPU / 120 GiB)"
    )


def tag_map(tags: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    """ECS's ``[{"key", "value"}]`` tags as a mapping."""
    return {str(t.get("key")): str(t.get("value", "")) for t in tags or []}


# -- what ECS reports -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RolloutRef:
    """The latest rollout of a service, kept as tags on its ECS service."""

    service_id: str
    deploy_id: str
    deployment_id: str  # ECS's "ecs-svc/..." id of this rollout
    task_definition_arn: str
    previous_task_definition_arn: str  # "" for a service's first deploy

    def tags(self) -> list[dict[str, str]]:
        pairs = {
            TAG_SERVICE: self.service_id,
            TAG_DEPLOY: self.deploy_id,
            TAG_DEPLOYMENT: self.deployment_id,
            TAG_TASK_DEFINITION: self.task_definition_arn,
            TAG_PREVIOUS: self.previous_task_definition_arn,
        }
        return [{"key": k, "value": v} for k, v in pairs.items() if v]

    @classmethod
    def from_tags(cls, service_id: str, tags: Mapping[str, str]) -> RolloutRef | None:
        if not tags.get(TAG_DEPLOY):
            return None
        return cls(
            service_id=service_id,
            deploy_id=tags[TAG_DEPLOY],
            deployment_id=tags.get(TAG_DEPLOYMENT, ""),
            task_definition_arn=tags.get(TAG_TASK_DEFINITION, ""),
            previous_task_definition_arn=tags.get(TAG_PREVIOUS, ""),
        )


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """One task as ``DescribeTasks`` or an "ECS Task State Change" event's ``detail`` shows it
    (both use the same field names)."""

    task_arn: str
    last_status: str
    desired_status: str
    started_by: str
    exit_code: int | None
    stop_code: str
    stopped_reason: str
    container_reason: str

    @property
    def stopped(self) -> bool:
        return self.last_status == "STOPPED"


def task_outcome(task: Mapping[str, Any]) -> TaskOutcome:
    containers = [c for c in task.get("containers") or [] if isinstance(c, Mapping)]
    app = next((c for c in containers if c.get("name") == CONTAINER), None)
    app = app or (containers[0] if containers else {})
    exit_code = app.get("exitCode")
    return TaskOutcome(
        task_arn=str(task.get("taskArn", "")),
        last_status=str(task.get("lastStatus", "")),
        desired_status=str(task.get("desiredStatus", "")),
        started_by=str(task.get("startedBy", "")),
        exit_code=int(exit_code) if isinstance(exit_code, int) else None,
        stop_code=str(task.get("stopCode", "")),
        stopped_reason=str(task.get("stoppedReason", "")),
        container_reason=str(app.get("reason", "")),
    )


#: Stops someone meant: ours (cancel, scale, suspend) or ECS's (a deployment replacing or
#: scaling in tasks, capacity reclaimed); ECS starts replacements where a service needs them.
_DELIBERATE_STOPS = frozenset(
    {"UserInitiated", "ServiceSchedulerInitiated", "SpotInterruption", "TerminationNotice"}
)
_PULL_MARKERS = (
    "cannotpullcontainererror",
    "pull image manifest",
    "unable to pull secrets or registry auth",
    "failed to resolve ref",
)


def classify_stop(
    task: TaskOutcome, *, long_running: bool, memory_mb: int | None = None
) -> Outcome | None:
    """Why a stopped task failed, as a runtime outcome (``domain.outcomes``), or None when the
    stop was not a failure (ECS scaling or replacing it for a deployment, a stop we asked for,
    a successful exit of a one-off task)."""
    if not task.stopped:
        return None
    reason = task.stopped_reason or task.container_reason
    text = f"{task.stopped_reason} {task.container_reason}".lower()
    if any(marker in text for marker in _PULL_MARKERS):
        pull_reason = pull_failure_reason(text)
        return PullFailed(pull_reason, pull_failure_message(pull_reason, reason))
    if "outofmemory" in text or "out of memory" in text:
        return OomKilled(memory_mb)
    if "health check" in text:
        return Unhealthy(reason)
    if task.stop_code in _DELIBERATE_STOPS:
        return None  # stopped on purpose (exit code 143/137 after SIGTERM is no failure)
    if task.stop_code == "TaskFailedToStart":
        return Unhealthy(reason or "the task failed to start")
    if task.exit_code:
        return NonZeroExit(task.exit_code)
    if long_running:
        return EarlyExit()  # a service's container must not exit, even with 0
    return None


def run_end(task: TaskOutcome, memory_mb: int | None = None) -> RunEnd:
    """How the cron run a stopped task ran ended (``domain.cron.run_outcome``)."""
    return run_outcome(
        exit_code=task.exit_code,
        failure=classify_stop(task, long_running=False, memory_mb=memory_mb),
        canceled=task.stop_code == "UserInitiated",
        message=task.stopped_reason or task.container_reason,
    )


@dataclass(frozen=True, slots=True)
class DeploymentState:
    """One entry of an ECS service's ``deployments``."""

    id: str
    status: str  # PRIMARY | ACTIVE | INACTIVE
    rollout_state: str  # IN_PROGRESS | COMPLETED | FAILED
    rollout_reason: str
    task_definition_arn: str
    desired_count: int
    running_count: int
    pending_count: int
    failed_tasks: int


@dataclass(frozen=True, slots=True)
class EcsStatus:
    """What ECS says about one deploy of one service (``EcsRuntime.describe``)."""

    service_id: str
    deploy_id: str
    service_exists: bool
    ref: RolloutRef | None  # the service's latest rollout
    deployment: DeploymentState | None  # this deploy's ECS deployment, while ECS lists it
    service_task_definition_arn: str
    desired_count: int
    running_count: int
    stopped_tasks: tuple[TaskOutcome, ...]  # this deploy's rollout tasks that stopped
    pre_deploy: TaskOutcome | None
    memory_mb: int | None = None

    @property
    def is_current_rollout(self) -> bool:
        return self.ref is not None and self.ref.deploy_id == self.deploy_id

    def rollout_signal(self) -> Signal | None:
        """The deploy machine's signal for the rollout phase, or None while it is undecided:
        a failed task of the rollout fails it at once (fail fast), a COMPLETED primary
        deployment is healthy, a FAILED one (or one ECS already rolled back) failed."""
        if not self.service_exists or not self.is_current_rollout or self.ref is None:
            return None
        for task in self.stopped_tasks:
            failure = classify_stop(task, long_running=True, memory_mb=self.memory_mb)
            if failure is not None:
                return rollout_failed(failure)
        deployment = self.deployment
        if deployment is None:
            if self.service_task_definition_arn != self.ref.task_definition_arn:
                return InstanceFailed(Unhealthy("ECS rolled the deployment back or replaced it"))
            return None
        if deployment.rollout_state == "COMPLETED" and deployment.status == "PRIMARY":
            return RolloutHealthy()
        if deployment.rollout_state == "FAILED":
            return InstanceFailed(
                Unhealthy(deployment.rollout_reason or "the ECS deployment failed")
            )
        return None

    def pre_deploy_signal(self) -> Signal | None:
        """The signal for the pre-deploy phase once its task stopped; None while it runs or
        when it was stopped on purpose (a cancel)."""
        task = self.pre_deploy
        if task is None or not task.stopped:
            return None
        failure = classify_stop(task, long_running=False, memory_mb=self.memory_mb)
        if isinstance(failure, PullFailed):
            return machine.PullFailed(Phase.PRE_DEPLOY, failure.reason, failure.message)
        if task.stop_code == "UserInitiated":
            return None
        if task.exit_code is not None:
            return PreDeployExited(task.exit_code)
        if isinstance(failure, OomKilled):
            return PreDeployExited(137)
        return PreDeployExited(-1)  # it never ran (e.g. could not start): a failure


@dataclass(frozen=True, slots=True)
class TaskSubject:
    """Whose task an ECS task event is about."""

    service_id: str
    role: str  # "pre_deploy", "cron", "job", "instance" or "unknown"
    deploy_id: str | None = None  # pre-deploy tasks
    run_id: str | None = None  # cron tasks
    job_id: str | None = None  # one-off job tasks
    deployment_id: str | None = None  # instance tasks: the ECS deployment that started it


def rollout_failed(failure: Outcome) -> Signal:
    """The deploy machine's signal for a task of a deploy's rollout that failed."""
    if isinstance(failure, PullFailed):
        return machine.PullFailed(Phase.ROLLOUT, failure.reason, failure.message)
    return InstanceFailed(failure)


# -- reading ECS's answers ------------------------------------------------------------------


def primary_deployment(service: Mapping[str, Any]) -> str:
    deployments = service.get("deployments") or []
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    primary = primary or (deployments[0] if deployments else {})
    return str(primary.get("id", ""))


def deployment_state(deployment: Mapping[str, Any]) -> DeploymentState:
    return DeploymentState(
        id=str(deployment.get("id", "")),
        status=str(deployment.get("status", "")),
        rollout_state=str(deployment.get("rolloutState", "")),
        rollout_reason=str(deployment.get("rolloutStateReason", "")),
        task_definition_arn=str(deployment.get("taskDefinition", "")),
        desired_count=int(deployment.get("desiredCount", 0)),
        running_count=int(deployment.get("runningCount", 0)),
        pending_count=int(deployment.get("pendingCount", 0)),
        failed_tasks=int(deployment.get("failedTasks", 0)),
    )
