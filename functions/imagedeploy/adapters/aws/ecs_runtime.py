"""``EcsRuntime``: the ``Runtime`` port on ECS Fargate (linux/amd64), docs/architecture.md §2.2.

What it creates, per imagedeploy service ``<id>`` (``<p>`` = ``EcsConfig.name_prefix``):

- a **task definition** family ``<p>-<id>``, one revision per deploy (the environment carries
  ``RENDER_DEPLOY_ID``), pinned to ``RunSpec.image`` (``repository@<linux/amd64 digest>``), Fargate,
  ``awsvpc``, ``runtimePlatform`` LINUX/X86_64, the nearest valid Fargate size at or above the
  plan (``FARGATE_SIZES``), awslogs to ``<log prefix>/<id>``, ``stopTimeout`` capped at Fargate's
  120 s, ``repositoryCredentials`` = the credential's Secrets Manager ARN for private registries
  other than ECR (ECR pulls through the task execution role). A revision is registered only when
  its content changes (a content fingerprint is kept as a tag), so retries and cron runs reuse it;
  a deploy with a pre-deploy command has a second revision (its command) for that one task.
- an **ECS service** ``<p>-<id>`` for web, private and worker services, rolling with
  ``minimumHealthyPercent`` 100 / ``maximumPercent`` 200 and the deployment circuit breaker with
  rollback. Web: behind the stack's shared ALB through a target group (``ip`` targets) and a
  listener rule (host ``<slug>.<base domain>``, or the path ``/<slug>/*`` without a base domain).
  Private: Cloud Map service discovery (A records ``<slug>.<namespace>``), in the security group
  open to the VPC only. Worker: no load balancer, in the worker security group (no inbound
  traffic; ``EcsConfig.worker_groups``).
- **RunTask** tasks for pre-deploy commands (``startedBy`` = the deploy id) and cron runs
  (``startedBy`` = the run id), with the command as a container override, in the worker
  security group.

Matching ECS back to deploys (the ``handlers.ecs_events`` and reconcile side):

- RunTask tasks: ``startedBy`` is the deploy id (pre-deploy) or the run id (cron); tags
  ``imagedeploy:service``/``:deploy``/``:role``/``:run`` say the same.
- Service tasks: ECS sets their ``startedBy`` to the ECS deployment id (``ecs-svc/...``).
- Each rollout records on the ECS service itself, as tags, which deploy it is for, the ECS
  deployment id ``UpdateService``/``CreateService`` returned, this deploy's task definition and
  the previous one (what ``cancel`` rolls back to): ``RolloutRef``, read back with
  ``rollout_ref``. No store change is needed: a "Deployment State Change" whose ``deploymentId``
  is the ref's belongs to the ref's deploy; any other (a circuit-breaker rollback, a restart) does
  not. ``describe`` reads all of it back for the reconcile step, and ``EcsStatus`` turns it
  into the deploy machine's signals with the same classification an event handler uses
  (``classify_stop``).

Every method is idempotent per deploy or run and returns once ECS has accepted the request;
outcomes come back through ECS events (or ``describe``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.pull_failures import pull_failure_message, pull_failure_reason
from imagedeploy.domain.deploy_machine import (
    InstanceFailed,
    Phase,
    PreDeployExited,
    PullFailed,
    RolloutHealthy,
    Signal,
)
from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.reference import parse_reference
from imagedeploy.domain.registries import RegistryKind, registry_kind_of
from imagedeploy.domain.services import Resources
from imagedeploy.ports import RunSpec

logger = logging.getLogger(__name__)

__all__ = [
    "CONTAINER",
    "DEPLOYMENT_CONFIGURATION",
    "FARGATE_SIZES",
    "MAX_STOP_TIMEOUT_SECONDS",
    "DeploymentState",
    "EcsConfig",
    "EcsRuntime",
    "EcsRuntimeError",
    "EcsStatus",
    "FargateSize",
    "PullFailure",
    "RolloutRef",
    "ServiceKind",
    "TaskOutcome",
    "TaskSubject",
    "classify_stop",
    "fargate_size",
    "service_kind",
    "task_outcome",
]

CONTAINER: Final = "app"
MAX_STOP_TIMEOUT_SECONDS: Final = 120  # Fargate's limit for stopTimeout
LOG_STREAM_PREFIX: Final = "app"

TAG_SERVICE: Final = "imagedeploy:service"
TAG_DEPLOY: Final = "imagedeploy:deploy"
TAG_ROLE: Final = "imagedeploy:role"
TAG_RUN: Final = "imagedeploy:run"
TAG_FINGERPRINT: Final = "imagedeploy:fingerprint"
TAG_DEPLOYMENT: Final = "imagedeploy:ecs-deployment"
TAG_TASK_DEFINITION: Final = "imagedeploy:task-definition"
TAG_PREVIOUS: Final = "imagedeploy:previous-task-definition"

_ROLLOUT_TAGS: Final = (TAG_DEPLOY, TAG_DEPLOYMENT, TAG_TASK_DEFINITION, TAG_PREVIOUS)

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


# -- configuration and kinds --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EcsConfig:
    """The stack's shared resources (outputs of ``template.yaml``) and naming."""

    cluster: str
    region: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]  # web services (ingress from the ALB)
    execution_role_arn: str  # pulls ECR images, reads registry secrets, writes logs
    task_role_arn: str  # what the containers themselves may do (nothing, by default)
    vpc_id: str = ""  # web services: their target groups
    listener_arn: str = ""  # web services: the shared ALB's listener
    base_domain: str = ""  # "<slug>.<base_domain>" host rules; "" = "/<slug>/*" path rules
    private_security_groups: tuple[str, ...] = ()  # private services: open to the VPC only
    namespace_id: str = ""  # private services: the Cloud Map namespace
    name_prefix: str = "imagedeploy"  # ECS services and task definition families
    target_group_prefix: str = "imgd"  # target group names are at most 32 characters
    log_group_prefix: str = "/imagedeploy/services"
    log_retention_days: int = 30
    assign_public_ip: bool = False  # True only in public subnets without a NAT gateway
    platform_version: str = "LATEST"
    health_check_grace_seconds: int = 300  # settings.health_check_grace_seconds
    deregistration_delay_seconds: int = 30
    #: workers, cron runs and pre-deploy tasks: no inbound traffic; () = ``security_groups``
    worker_security_groups: tuple[str, ...] = ()

    @property
    def worker_groups(self) -> tuple[str, ...]:
        """The groups of background workers and one-off tasks (cron runs, pre-deploy
        commands): ``worker_security_groups``, or ``security_groups`` without them."""
        return self.worker_security_groups or self.security_groups


class ServiceKind(StrEnum):
    WEB = "web"
    PRIVATE = "pserv"
    WORKER = "worker"
    CRON = "cron"


def service_kind(spec: RunSpec) -> ServiceKind:
    """The kind of service a spec runs, from the platform variable ``RENDER_SERVICE_TYPE``
    (always injected by ``runtime_env``); without it: a port means web, none a worker."""
    value = spec.env.get("RENDER_SERVICE_TYPE", "")
    try:
        return ServiceKind(value)
    except ValueError:
        return ServiceKind.WORKER if spec.port is None else ServiceKind.WEB


class EcsRuntimeError(Exception):
    """ECS refused or could not place something; the caller's retry (Lambda) tries again."""


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


@dataclass(frozen=True, slots=True)
class PullFailure:
    reason: PullFailureReason
    message: str


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
) -> PullFailure | dict[str, Any] | None:
    """Why a stopped task failed, in Render's terms: a ``PullFailure``, a server failure reason
    (``{"nonZeroExit": 1}``, ``{"oomKilled": {...}}``, ``{"unhealthy": ...}``,
    ``{"earlyExit": True}``), or None when the stop was not a failure (ECS scaling or replacing
    it for a deployment, a stop we asked for, a successful exit of a one-off task)."""
    if not task.stopped:
        return None
    reason = task.stopped_reason or task.container_reason
    text = f"{task.stopped_reason} {task.container_reason}".lower()
    if any(marker in text for marker in _PULL_MARKERS):
        pull_reason = pull_failure_reason(text)
        return PullFailure(pull_reason, pull_failure_message(pull_reason, reason))
    if "outofmemory" in text or "out of memory" in text:
        return {"oomKilled": {"memoryLimit": f"{memory_mb}Mi" if memory_mb else ""}}
    if "health check" in text:
        return {"unhealthy": reason}
    if task.stop_code in _DELIBERATE_STOPS:
        return None  # stopped on purpose (exit code 143/137 after SIGTERM is no failure)
    if task.stop_code == "TaskFailedToStart":
        return {"unhealthy": reason or "the task failed to start"}
    if task.exit_code:
        return {"nonZeroExit": task.exit_code}
    if long_running:
        return {"earlyExit": True}  # a service's container must not exit, even with 0
    return None


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
            if isinstance(failure, PullFailure):
                return PullFailed(Phase.ROLLOUT, failure.reason, failure.message)
            if failure is not None:
                return InstanceFailed(failure)
        deployment = self.deployment
        if deployment is None:
            if self.service_task_definition_arn != self.ref.task_definition_arn:
                return InstanceFailed(
                    {"unhealthy": "ECS rolled the deployment back or replaced it"}
                )
            return None
        if deployment.rollout_state == "COMPLETED" and deployment.status == "PRIMARY":
            return RolloutHealthy()
        if deployment.rollout_state == "FAILED":
            return InstanceFailed(
                {"unhealthy": deployment.rollout_reason or "the ECS deployment failed"}
            )
        return None

    def pre_deploy_signal(self) -> Signal | None:
        """The signal for the pre-deploy phase once its task stopped; None while it runs or
        when it was stopped on purpose (a cancel)."""
        task = self.pre_deploy
        if task is None or not task.stopped:
            return None
        failure = classify_stop(task, long_running=False, memory_mb=self.memory_mb)
        if isinstance(failure, PullFailure):
            return PullFailed(Phase.PRE_DEPLOY, failure.reason, failure.message)
        if task.stop_code == "UserInitiated":
            return None
        if task.exit_code is not None:
            return PreDeployExited(task.exit_code)
        if isinstance(failure, dict) and "oomKilled" in failure:
            return PreDeployExited(137)
        return PreDeployExited(-1)  # it never ran (e.g. could not start): a failure


@dataclass(frozen=True, slots=True)
class TaskSubject:
    """Whose task an ECS task event is about."""

    service_id: str
    role: str  # "pre_deploy", "cron", "instance" or "unknown"
    deploy_id: str | None = None  # pre-deploy tasks
    run_id: str | None = None  # cron tasks
    deployment_id: str | None = None  # instance tasks: the ECS deployment that started it


# -- the runtime ------------------------------------------------------------------------------


def _client(name: str, given: Any, region: str) -> Any:
    if given is not None:
        return given
    import boto3  # type: ignore[import-untyped]  # lazily: keeps handler cold starts small

    return boto3.client(name, region_name=region)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _discovery_description(service_id: str) -> str:
    return f"imagedeploy private service {service_id}"


def _tag_map(tags: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    return {str(t.get("key")): str(t.get("value", "")) for t in tags or []}


class EcsRuntime:
    def __init__(
        self,
        config: EcsConfig,
        *,
        ecs: Any = None,
        elbv2: Any = None,
        servicediscovery: Any = None,
        logs: Any = None,
        secret_arn: Callable[[str], str | None] | None = None,
    ) -> None:
        self._config = config
        self._ecs = _client("ecs", ecs, config.region)
        self._elbv2_given = elbv2
        self._discovery_given = servicediscovery
        self._logs_given = logs
        self._secret_arn = secret_arn

    # lazily created: a worker-only stack never needs them
    @property
    def _elbv2(self) -> Any:
        self._elbv2_given = _client("elbv2", self._elbv2_given, self._config.region)
        return self._elbv2_given

    @property
    def _discovery(self) -> Any:
        self._discovery_given = _client(
            "servicediscovery", self._discovery_given, self._config.region
        )
        return self._discovery_given

    @property
    def _logs(self) -> Any:
        self._logs_given = _client("logs", self._logs_given, self._config.region)
        return self._logs_given

    # -- names ------------------------------------------------------------------------------
    def name_of(self, service_id: str) -> str:
        """The ECS service name and task definition family of an imagedeploy service."""
        return f"{self._config.name_prefix}-{service_id}"

    def service_id_of(self, arn_or_name: str) -> str | None:
        """The imagedeploy service id of an ECS service ARN or name, or of a task definition
        (family or ARN); None for anything this stack did not create."""
        name = arn_or_name.rsplit("/", 1)[-1].split(":", 1)[0]
        prefix = f"{self._config.name_prefix}-"
        return name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else None

    def target_group_name(self, service_id: str) -> str:
        # Without the id's type ("srv-"): "imd<8 hex>-<20 chars>" is ELB's 32 characters.
        name = f"{self._config.target_group_prefix}-{service_id.partition('-')[2]}"
        if len(name) > 32:
            raise ValueError(f"target group name {name!r} is longer than 32 characters")
        return name

    def log_group(self, service_id: str) -> str:
        return f"{self._config.log_group_prefix}/{service_id}"

    def log_location(self, service_id: str, task_arn: str) -> tuple[str, str]:
        """Where a task's output is (CloudWatch Logs group and stream): pre-deploy output to
        keep with its deploy, a cron run's."""
        task_id = task_arn.rsplit("/", 1)[-1]
        return self.log_group(service_id), f"{LOG_STREAM_PREFIX}/{CONTAINER}/{task_id}"

    # -- Runtime port ----------------------------------------------------------------------
    def allocate_port(self, service_id: str) -> int | None:
        return None  # the ALB routes by host name (or path)

    def start_pre_deploy(self, spec: RunSpec, execution_id: str) -> None:
        """One RunTask of the new digest with the pre-deploy command, ``startedBy`` = the
        deploy id; nothing is started when a task of this deploy already exists."""
        self._run_once(spec, started_by=spec.deploy_id, role="pre_deploy")

    def start_rollout(self, spec: RunSpec) -> None:
        self.rollout(spec)

    def rollout(self, spec: RunSpec) -> RolloutRef:
        """``start_rollout``, returning the ``RolloutRef`` it recorded on the ECS service."""
        kind = service_kind(spec)
        if kind is ServiceKind.CRON:
            raise ValueError("cron jobs have no ECS service; their runs use start_cron_run")
        current = self._describe_service(spec.service_id)
        tags = _tag_map(current.get("tags")) if current else {}
        known = RolloutRef.from_tags(spec.service_id, tags)
        if current is not None and known is not None and known.deploy_id == spec.deploy_id:
            return known  # already started (a retried job or a duplicate signal)
        task_definition = self._task_definition(spec)
        if current is not None and current.get("taskDefinition") == task_definition:
            # Started, but the tags were not written (a crash between the two calls).
            ref = RolloutRef(
                spec.service_id,
                spec.deploy_id,
                _primary_deployment(current),
                task_definition,
                known.task_definition_arn if known else "",
            )
            self._record(current["serviceArn"], ref, tags)
            return ref
        wiring = self._wiring(spec, kind)
        if current is None:
            previous = ""
            service = self._ecs.create_service(
                cluster=self._config.cluster,
                serviceName=self.name_of(spec.service_id),
                taskDefinition=task_definition,
                desiredCount=spec.num_instances,
                launchType="FARGATE",
                platformVersion=self._config.platform_version,
                schedulingStrategy="REPLICA",
                deploymentController={"type": "ECS"},
                deploymentConfiguration=DEPLOYMENT_CONFIGURATION,
                propagateTags="TASK_DEFINITION",
                enableECSManagedTags=True,
                tags=[{"key": TAG_SERVICE, "value": spec.service_id}],
                **wiring,
            )["service"]
        else:
            previous = str(current.get("taskDefinition", ""))
            service = self._ecs.update_service(
                cluster=self._config.cluster,
                service=self.name_of(spec.service_id),
                taskDefinition=task_definition,
                desiredCount=spec.num_instances,
                forceNewDeployment=True,
                deploymentConfiguration=DEPLOYMENT_CONFIGURATION,
                **wiring,
            )["service"]
        ref = RolloutRef(
            spec.service_id,
            spec.deploy_id,
            _primary_deployment(service),
            task_definition,
            previous,
        )
        self._record(service["serviceArn"], ref, tags)
        logger.info(
            "rollout started",
            extra={
                "service_id": spec.service_id,
                "deploy_id": spec.deploy_id,
                "ecs_deployment": ref.deployment_id,
            },
        )
        return ref

    def _record(self, service_arn: str, ref: RolloutRef, old_tags: Mapping[str, str]) -> None:
        """Keep ``ref`` as the service's tags (and drop a stale one ``ref`` leaves empty)."""
        new_tags = ref.tags()
        self._ecs.tag_resource(resourceArn=service_arn, tags=new_tags)
        kept = {t["key"] for t in new_tags}
        stale = [k for k in _ROLLOUT_TAGS if k in old_tags and k not in kept]
        if stale:
            self._ecs.untag_resource(resourceArn=service_arn, tagKeys=stale)

    def cancel(self, service_id: str, deploy_id: str) -> None:
        """Stop the deploy's pre-deploy task; if the service is rolling out this deploy, update
        it back to the previous task definition (a new ECS deployment of the live version: its
        tasks keep serving until the replacements are healthy, then the new ones stop). A
        first deploy has nothing to go back to: the service is scaled to zero. Waiting for
        the circuit breaker instead would not do: it only trips after several failed tasks,
        never for a user's cancel of healthy tasks, and fail fast must not wait for it."""
        self._stop_started_by(deploy_id, "deploy canceled")
        current = self._describe_service(service_id)
        if current is None:
            return
        ref = RolloutRef.from_tags(service_id, _tag_map(current.get("tags")))
        if ref is None or ref.deploy_id != deploy_id:
            return  # this deploy never reached the service (or a newer one replaced it)
        if current.get("taskDefinition") != ref.task_definition_arn:
            return  # already rolled back (by the circuit breaker or an earlier cancel)
        if ref.previous_task_definition_arn:
            self._ecs.update_service(
                cluster=self._config.cluster,
                service=self.name_of(service_id),
                taskDefinition=ref.previous_task_definition_arn,
                deploymentConfiguration=DEPLOYMENT_CONFIGURATION,
            )
        else:
            self._ecs.update_service(
                cluster=self._config.cluster, service=self.name_of(service_id), desiredCount=0
            )
        logger.info("rollout canceled", extra={"service_id": service_id, "deploy_id": deploy_id})

    def converge(self, spec: RunSpec) -> None:
        """Run ``spec.num_instances`` tasks of the live deploy (scale, resume)."""
        self._set_live(spec, force_new_deployment=False)

    def restart(self, spec: RunSpec) -> None:
        """Replace every task of the live deploy through a rolling ECS deployment."""
        self._set_live(spec, force_new_deployment=True)

    def suspend(self, service_id: str) -> None:
        if self._describe_service(service_id) is None:
            return
        self._ecs.update_service(
            cluster=self._config.cluster, service=self.name_of(service_id), desiredCount=0
        )

    def remove(self, service_id: str) -> None:
        """Delete the ECS service, its routing (listener rule, target group, Cloud Map
        service) and task definitions; stop its one-off tasks. Logs stay (retention ends
        them). Idempotent; every part is tried, and if AWS still holds one (a Cloud Map service
        whose instances are deregistering answers ``ResourceInUse``) the call raises with
        what is left, so that the removal job retries it."""
        current = self._describe_service(service_id)
        registries = [
            r.get("registryArn", "") for r in (current or {}).get("serviceRegistries", [])
        ]
        errors: list[str] = []
        if current is not None:
            self._trying(
                errors,
                "delete the ECS service",
                lambda: self._ecs.delete_service(
                    cluster=self._config.cluster, service=self.name_of(service_id), force=True
                ),
            )
        for task_arn in self._task_arns(family=self.name_of(service_id)):
            self._trying(
                errors, "stop a task", functools.partial(self._stop_task, task_arn, "removed")
            )
        if self._config.listener_arn:
            self._trying(errors, "delete the route", lambda: self._delete_route(service_id))
        for registry_arn in registries or self._discovery_of(service_id):
            if registry_arn:
                self._trying(
                    errors,
                    "delete the Cloud Map service",
                    functools.partial(self._delete_discovery, registry_arn),
                )
        self._trying(
            errors,
            "deregister task definitions",
            lambda: self._deregister_task_definitions(self.name_of(service_id)),
        )
        if errors:
            raise EcsRuntimeError(f"service {service_id} is not removed yet: {'; '.join(errors)}")

    def start_cron_run(self, spec: RunSpec, run_id: str) -> None:
        self._run_once(spec, started_by=run_id, role="cron", run_id=run_id)

    def stop_cron_run(self, service_id: str, run_id: str) -> None:
        self._stop_started_by(run_id, "cron run stopped")

    # -- reading ECS back ------------------------------------------------------------------
    def rollout_ref(self, service_id: str) -> RolloutRef | None:
        """The service's latest rollout (tags on its ECS service), or None."""
        current = self._describe_service(service_id)
        if current is None:
            return None
        return RolloutRef.from_tags(service_id, _tag_map(current.get("tags")))

    def identify_task(self, task: Mapping[str, Any]) -> TaskSubject | None:
        """Whose task a ``DescribeTasks`` item or an "ECS Task State Change" ``detail`` is:
        by its task definition family (the service) and ``startedBy`` (the deploy, run or ECS
        deployment). None for tasks this stack did not start."""
        service_id = self.service_id_of(str(task.get("taskDefinitionArn", "")))
        if service_id is None:
            group = str(task.get("group", ""))
            service_id = self.service_id_of(group.partition(":")[2]) if ":" in group else None
        if service_id is None:
            return None
        started_by = str(task.get("startedBy", ""))
        if started_by.startswith("ecs-svc/"):
            return TaskSubject(service_id, "instance", deployment_id=started_by)
        if started_by.startswith("dep-"):
            return TaskSubject(service_id, "pre_deploy", deploy_id=started_by)
        if started_by.startswith("run-"):
            return TaskSubject(service_id, "cron", run_id=started_by)
        return TaskSubject(service_id, "unknown")

    def one_off_task(self, started_by: str) -> TaskOutcome | None:
        """The task a pre-deploy (deploy id) or cron run (run id) started, while ECS still
        lists it (stopped tasks stay about an hour): for reconciling a run whose "Task State
        Change" event was lost. None when there is none."""
        found = self._describe_tasks(self._task_arns(started_by=started_by)[:1])
        return found[0] if found else None

    def describe(self, service_id: str, deploy_id: str) -> EcsStatus:
        """What ECS says about ``deploy_id`` of ``service_id``: its rollout (the ECS deployment,
        counts, stopped tasks with their reasons) and its pre-deploy task. For the reconcile
        step, which repairs lost events from it (``EcsStatus.rollout_signal`` and
        ``pre_deploy_signal``)."""
        current = self._describe_service(service_id)
        ref = RolloutRef.from_tags(service_id, _tag_map(current.get("tags"))) if current else None
        deployment: DeploymentState | None = None
        stopped: tuple[TaskOutcome, ...] = ()
        if current is not None and ref is not None and ref.deploy_id == deploy_id:
            deployment = next(
                (
                    _deployment_state(d)
                    for d in current.get("deployments", [])
                    if d.get("id") == ref.deployment_id
                ),
                None,
            )
            if ref.deployment_id:
                arns = self._task_arns(started_by=ref.deployment_id, statuses=("STOPPED",))
                stopped = tuple(t for t in self._describe_tasks(arns[:20]) if t.stopped)
        pre = self.one_off_task(deploy_id)
        memory = None
        if ref is not None and ref.task_definition_arn:
            memory = self._task_memory(ref.task_definition_arn)
        return EcsStatus(
            service_id=service_id,
            deploy_id=deploy_id,
            service_exists=current is not None,
            ref=ref,
            deployment=deployment,
            service_task_definition_arn=str((current or {}).get("taskDefinition", "")),
            desired_count=int((current or {}).get("desiredCount", 0)),
            running_count=int((current or {}).get("runningCount", 0)),
            stopped_tasks=stopped,
            pre_deploy=pre,
            memory_mb=memory,
        )

    def describe_deploy(self, service_id: str, deploy_id: str) -> Signal | None:
        """``ports.DescribesDeploys``: the signal ECS's current state implies for the deploy
        (the reconcile step applies it when the event that carried it was lost). Once the
        service's latest rollout is this deploy's, its rollout decides
        (``EcsStatus.rollout_signal``); before that, its pre-deploy task
        (``EcsStatus.pre_deploy_signal``). None while either is undecided."""
        status = self.describe(service_id, deploy_id)
        if status.is_current_rollout:
            return status.rollout_signal()
        return status.pre_deploy_signal()

    # -- task definitions ------------------------------------------------------------------
    def task_definition_body(self, spec: RunSpec) -> dict[str, Any]:
        """The ``RegisterTaskDefinition`` request for ``spec`` (without tags)."""
        size = fargate_size(spec.resources)
        env = dict(spec.env)
        if spec.port is not None:
            env.setdefault("PORT", str(spec.port))
        container: dict[str, Any] = {
            "name": CONTAINER,
            "image": spec.image,
            "essential": True,
            "memory": size.memory_mb,  # the hard limit; moto also needs it to account tasks
            "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
            "stopTimeout": max(1, min(spec.stop_timeout_seconds, MAX_STOP_TIMEOUT_SECONDS)),
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": self.log_group(spec.service_id),
                    "awslogs-region": self._config.region,
                    "awslogs-stream-prefix": LOG_STREAM_PREFIX,
                },
            },
        }
        if spec.command:
            container["command"] = list(spec.command)  # exec form: no shell
        if spec.port is not None:
            container["portMappings"] = [{"containerPort": spec.port, "protocol": "tcp"}]
        credentials = self._repository_credentials(spec)
        if credentials is not None:
            container["repositoryCredentials"] = credentials
        return {
            "family": self.name_of(spec.service_id),
            "taskRoleArn": self._config.task_role_arn,
            "executionRoleArn": self._config.execution_role_arn,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": str(size.cpu),
            "memory": str(size.memory_mb),
            "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"},
            "containerDefinitions": [container],
        }

    def _repository_credentials(self, spec: RunSpec) -> dict[str, str] | None:
        """A private registry's login for ECS: the credential's Secrets Manager secret (JSON
        ``{"username", "password"}``). None for public images and for ECR, whose images the
        task execution role pulls (a stored 12-hour ECR token would expire under ECS)."""
        if spec.credential is None:
            return None
        if registry_kind_of(parse_reference(spec.image).registry) is RegistryKind.AWS_ECR:
            return None
        credential_id = spec.credential_id
        if not credential_id or self._secret_arn is None:
            raise EcsRuntimeError(
                f"deploy {spec.deploy_id} pulls from a private registry, but the runtime "
                "cannot name the credential's secret (RunSpec.credential_id and EcsRuntime's "
                "secret_arn are both needed)"
            )
        arn = self._secret_arn(str(credential_id))
        if not arn:
            raise EcsRuntimeError(
                f"registry credential {credential_id} has no secret (deleted, or never stored); "
                "choose another credential and deploy again"
            )
        return {"credentialsParameter": arn}

    def _task_definition(self, spec: RunSpec) -> str:
        """The ARN of a task definition revision with exactly ``spec``'s content: the family's
        latest revision when its fingerprint matches, else a new one."""
        body = self.task_definition_body(spec)
        fingerprint = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()[:32]
        try:
            latest = self._ecs.describe_task_definition(
                taskDefinition=body["family"], include=["TAGS"]
            )
        except ClientError as exc:
            if _error_code(exc) not in ("ClientException", "InvalidParameterException"):
                raise
            latest = None
        if latest is not None:
            definition = latest.get("taskDefinition", {})
            if (
                definition.get("status", "ACTIVE") == "ACTIVE"
                and _tag_map(latest.get("tags")).get(TAG_FINGERPRINT) == fingerprint
            ):
                return str(definition["taskDefinitionArn"])
        self._ensure_log_group(spec.service_id)
        registered = self._ecs.register_task_definition(
            **body,
            tags=[
                {"key": TAG_SERVICE, "value": spec.service_id},
                {"key": TAG_DEPLOY, "value": spec.deploy_id},
                {"key": TAG_FINGERPRINT, "value": fingerprint},
            ],
        )
        return str(registered["taskDefinition"]["taskDefinitionArn"])

    def _task_memory(self, task_definition_arn: str) -> int | None:
        try:
            found = self._ecs.describe_task_definition(taskDefinition=task_definition_arn)
        except ClientError:
            return None
        memory = found.get("taskDefinition", {}).get("memory")
        return int(memory) if memory else None

    def _ensure_log_group(self, service_id: str) -> None:
        group = self.log_group(service_id)
        try:
            # Tagged like the ECS service, so the console's tag filters find it too.
            tags = {TAG_SERVICE: service_id, "imagedeploy:stack": self._config.name_prefix}
            self._logs.create_log_group(logGroupName=group, tags=tags)
        except ClientError as exc:
            if _error_code(exc) != "ResourceAlreadyExistsException":
                raise
            return
        if self._config.log_retention_days:
            self._logs.put_retention_policy(
                logGroupName=group, retentionInDays=self._config.log_retention_days
            )

    def _deregister_task_definitions(self, family: str) -> None:
        paginator = self._ecs.get_paginator("list_task_definitions")
        for page in paginator.paginate(familyPrefix=family, status="ACTIVE"):
            for arn in page.get("taskDefinitionArns", []):
                if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family:
                    self._ecs.deregister_task_definition(taskDefinition=arn)

    # -- services --------------------------------------------------------------------------
    def _describe_service(self, service_id: str) -> dict[str, Any] | None:
        found = self._ecs.describe_services(
            cluster=self._config.cluster,
            services=[self.name_of(service_id)],
            include=["TAGS"],
        )
        for service in found.get("services", []):
            if service.get("status") == "ACTIVE":
                return dict(service)
        return None  # missing, or INACTIVE/DRAINING after a delete

    def _set_live(self, spec: RunSpec, *, force_new_deployment: bool) -> None:
        current = self._describe_service(spec.service_id)
        if current is None:
            if spec.num_instances > 0:
                self.rollout(spec)  # e.g. created again after a remove
            return
        params: dict[str, Any] = {
            "cluster": self._config.cluster,
            "service": self.name_of(spec.service_id),
            "desiredCount": spec.num_instances,
        }
        if not self._runs_deploy(str(current.get("taskDefinition", "")), spec.deploy_id):
            params["taskDefinition"] = self._task_definition(spec)
            params["deploymentConfiguration"] = DEPLOYMENT_CONFIGURATION
        if force_new_deployment:
            params["forceNewDeployment"] = True
        self._ecs.update_service(**params)

    def _runs_deploy(self, task_definition_arn: str, deploy_id: str) -> bool:
        if not task_definition_arn:
            return False
        try:
            found = self._ecs.describe_task_definition(
                taskDefinition=task_definition_arn, include=["TAGS"]
            )
        except ClientError:
            return False
        return _tag_map(found.get("tags")).get(TAG_DEPLOY) == deploy_id

    def _network(self, security_groups: tuple[str, ...]) -> dict[str, Any]:
        return {
            "awsvpcConfiguration": {
                "subnets": list(self._config.subnets),
                "securityGroups": list(security_groups),
                "assignPublicIp": "ENABLED" if self._config.assign_public_ip else "DISABLED",
            }
        }

    def _wiring(self, spec: RunSpec, kind: ServiceKind) -> dict[str, Any]:
        """Network, load balancer and service discovery settings of the ECS service."""
        if kind is ServiceKind.WEB:
            if spec.port is None:
                raise ValueError("a web service needs a port")
            target_group = self._ensure_target_group(spec)
            self._ensure_listener_rule(spec, target_group)
            return {
                "networkConfiguration": self._network(self._config.security_groups),
                "loadBalancers": [
                    {
                        "targetGroupArn": target_group,
                        "containerName": CONTAINER,
                        "containerPort": spec.port,
                    }
                ],
                "healthCheckGracePeriodSeconds": self._config.health_check_grace_seconds,
            }
        if kind is ServiceKind.PRIVATE:
            if not self._config.private_security_groups or not self._config.namespace_id:
                raise EcsRuntimeError(
                    "private services need EcsConfig.private_security_groups and namespace_id"
                )
            return {
                "networkConfiguration": self._network(self._config.private_security_groups),
                "serviceRegistries": [{"registryArn": self._ensure_discovery(spec)}],
            }
        return {"networkConfiguration": self._network(self._config.worker_groups)}

    # -- web: target group and listener rule ---------------------------------------------------
    def _health_check(self, path: str) -> dict[str, Any]:
        """An ALB target group only has HTTP health checks. With a path: 2xx/3xx within 5 s.
        Without one, the rule is a TCP connect (docs/architecture.md §6.2, §17); the nearest an
        ALB can do is GET / and accept any HTTP answer (200-499): the port is open and speaks
        HTTP."""
        return {
            "HealthCheckEnabled": True,
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPort": "traffic-port",
            "HealthCheckPath": path or "/",
            "HealthCheckTimeoutSeconds": 5,
            "HealthCheckIntervalSeconds": 10,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 3,
            "Matcher": {"HttpCode": "200-399" if path else "200-499"},
        }

    def _ensure_target_group(self, spec: RunSpec) -> str:
        name = self.target_group_name(spec.service_id)
        health = self._health_check(spec.health_check_path)
        try:
            found = self._elbv2.describe_target_groups(Names=[name])["TargetGroups"]
        except ClientError as exc:
            if _error_code(exc) != "TargetGroupNotFound":
                raise
            found = []
        if found:
            group = found[0]
            arn = str(group["TargetGroupArn"])
            if any(group.get(k) != v for k, v in health.items()):
                self._elbv2.modify_target_group(TargetGroupArn=arn, **health)
            return arn
        created = self._elbv2.create_target_group(
            Name=name,
            Protocol="HTTP",
            ProtocolVersion="HTTP1",
            Port=spec.port,
            VpcId=self._config.vpc_id,
            TargetType="ip",
            Tags=[{"Key": TAG_SERVICE, "Value": spec.service_id}],
            **health,
        )
        arn = str(created["TargetGroups"][0]["TargetGroupArn"])
        self._elbv2.modify_target_group_attributes(
            TargetGroupArn=arn,
            Attributes=[
                {
                    "Key": "deregistration_delay.timeout_seconds",
                    "Value": str(self._config.deregistration_delay_seconds),
                }
            ],
        )
        return arn

    def route_conditions(self, slug: str) -> list[dict[str, Any]]:
        """Host ``<slug>.<base domain>``; without a base domain the path ``/<slug>`` and
        ``/<slug>/*``, which only works for apps that serve under that prefix (the ALB does
        not strip it)."""
        if self._config.base_domain:
            host = f"{slug}.{self._config.base_domain}"
            return [{"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}]
        paths = [f"/{slug}", f"/{slug}/*"]
        return [{"Field": "path-pattern", "PathPatternConfig": {"Values": paths}}]

    def _ensure_listener_rule(self, spec: RunSpec, target_group_arn: str) -> None:
        if not self._config.listener_arn:
            raise EcsRuntimeError("web services need EcsConfig.listener_arn (the shared ALB)")
        conditions = self.route_conditions(spec.internal_host or spec.service_id)
        actions = [{"Type": "forward", "TargetGroupArn": target_group_arn}]
        for rule in self._rules():
            if _forwards_to(rule, target_group_arn):
                if _condition_values(rule.get("Conditions", [])) != _condition_values(conditions):
                    self._elbv2.modify_rule(
                        RuleArn=rule["RuleArn"], Conditions=conditions, Actions=actions
                    )
                return
        priority = _priority(spec.service_id)
        for _ in range(100):
            try:
                self._elbv2.create_rule(
                    ListenerArn=self._config.listener_arn,
                    Conditions=conditions,
                    Priority=priority,
                    Actions=actions,
                    Tags=[{"Key": TAG_SERVICE, "Value": spec.service_id}],
                )
                return
            except ClientError as exc:
                if _error_code(exc) != "PriorityInUse":
                    raise
                priority = priority % 50_000 + 1
        raise EcsRuntimeError("no free listener rule priority found")

    def _rules(self) -> Iterator[dict[str, Any]]:
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"ListenerArn": self._config.listener_arn, "PageSize": 400}
            if marker:
                params["Marker"] = marker
            page = self._elbv2.describe_rules(**params)
            yield from page.get("Rules", [])
            marker = page.get("NextMarker")
            if not marker:
                return

    def _delete_route(self, service_id: str) -> None:
        try:
            groups = self._elbv2.describe_target_groups(Names=[self.target_group_name(service_id)])[
                "TargetGroups"
            ]
        except ClientError as exc:
            if _error_code(exc) == "TargetGroupNotFound":
                return
            raise
        for group in groups:
            arn = group["TargetGroupArn"]
            for rule in list(self._rules()):
                if _forwards_to(rule, arn) and not rule.get("IsDefault"):
                    self._elbv2.delete_rule(RuleArn=rule["RuleArn"])
            self._elbv2.delete_target_group(TargetGroupArn=arn)

    # -- private: Cloud Map --------------------------------------------------------------------
    def _ensure_discovery(self, spec: RunSpec) -> str:
        name = spec.internal_host or spec.service_id
        namespace = self._config.namespace_id
        filters = [{"Name": "NAMESPACE_ID", "Values": [namespace], "Condition": "EQ"}]
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Filters": filters}
            if token:
                params["NextToken"] = token
            page = self._discovery.list_services(**params)
            for service in page.get("Services", []):
                if (
                    service.get("Name") == name
                    and service.get("NamespaceId", namespace) == namespace
                ):
                    return str(service["Arn"])
            token = page.get("NextToken")
            if not token:
                break
        created = self._discovery.create_service(
            Name=name,
            NamespaceId=namespace,
            CreatorRequestId=f"{spec.service_id}-{name}"[:64],
            Description=_discovery_description(spec.service_id),
            DnsConfig={"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 10}]},
            HealthCheckCustomConfig={"FailureThreshold": 1},
            Tags=[{"Key": TAG_SERVICE, "Value": spec.service_id}],
        )
        return str(created["Service"]["Arn"])

    def _discovery_of(self, service_id: str) -> list[str]:
        """The Cloud Map services made for ``service_id`` (by their description: a retried
        removal runs after the ECS service that named them is gone)."""
        namespace = self._config.namespace_id
        if not namespace:
            return []
        filters = [{"Name": "NAMESPACE_ID", "Values": [namespace], "Condition": "EQ"}]
        wanted = _discovery_description(service_id)
        return [
            str(service["Arn"])
            for page in self._discovery.get_paginator("list_services").paginate(Filters=filters)
            for service in page.get("Services", [])
            if service.get("Description") == wanted
        ]

    def _delete_discovery(self, registry_arn: str) -> None:
        service_id = registry_arn.rsplit("/", 1)[-1]
        try:
            for instance in self._discovery.list_instances(ServiceId=service_id).get(
                "Instances", []
            ):
                self._discovery.deregister_instance(ServiceId=service_id, InstanceId=instance["Id"])
            self._discovery.delete_service(Id=service_id)
        except ClientError as exc:
            if _error_code(exc) != "ServiceNotFound":
                raise

    # -- one-off tasks -----------------------------------------------------------------------
    def _run_once(
        self, spec: RunSpec, *, started_by: str, role: str, run_id: str | None = None
    ) -> None:
        if self._task_arns(started_by=started_by):
            return  # already started (and maybe finished): never run a one-off task twice
        task_definition = self._task_definition(spec)
        override: dict[str, Any] = {"name": CONTAINER}
        if spec.command:
            override["command"] = list(spec.command)
        tags = {TAG_SERVICE: spec.service_id, TAG_DEPLOY: spec.deploy_id, TAG_ROLE: role}
        if run_id:
            tags[TAG_RUN] = run_id
        answer = self._ecs.run_task(
            cluster=self._config.cluster,
            taskDefinition=task_definition,
            count=1,
            launchType="FARGATE",
            platformVersion=self._config.platform_version,
            # one-off tasks take no inbound traffic, whatever kind of service runs them
            networkConfiguration=self._network(self._config.worker_groups),
            startedBy=started_by,
            overrides={"containerOverrides": [override]},
            enableECSManagedTags=True,
            tags=[{"key": k, "value": v} for k, v in tags.items()],
        )
        failures = answer.get("failures") or []
        if failures or not answer.get("tasks"):
            reasons = "; ".join(
                f"{f.get('reason', '?')}: {f.get('detail', '')}".strip() for f in failures
            )
            raise EcsRuntimeError(f"ECS could not start the {role} task: {reasons or 'no task'}")
        logger.info(
            "task started",
            extra={"service_id": spec.service_id, "role": role, "started_by": started_by},
        )

    def _task_arns(
        self,
        *,
        started_by: str | None = None,
        family: str | None = None,
        statuses: tuple[str, ...] = ("RUNNING", "STOPPED"),
    ) -> list[str]:
        """Tasks (desired status RUNNING, then recently STOPPED) started by ``started_by`` or of
        ``family``."""
        arns: list[str] = []
        paginator = self._ecs.get_paginator("list_tasks")
        for status in statuses:
            params: dict[str, Any] = {"cluster": self._config.cluster, "desiredStatus": status}
            if started_by:
                params["startedBy"] = started_by
            if family:
                params["family"] = family
            for page in paginator.paginate(**params):
                arns.extend(a for a in page.get("taskArns", []) if a not in arns)
        return arns

    def _describe_tasks(self, arns: Sequence[str]) -> list[TaskOutcome]:
        if not arns:
            return []
        found = self._ecs.describe_tasks(cluster=self._config.cluster, tasks=list(arns))
        return [task_outcome(t) for t in found.get("tasks", [])]

    def _stop_started_by(self, started_by: str, reason: str) -> None:
        for arn in self._task_arns(started_by=started_by, statuses=("RUNNING",)):
            self._stop_task(arn, reason)

    def _stop_task(self, task_arn: str, reason: str) -> None:
        self._ecs.stop_task(cluster=self._config.cluster, task=task_arn, reason=reason)

    @staticmethod
    def _trying(errors: list[str], what: str, operation: Callable[[], object]) -> None:
        try:
            operation()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            errors.append(f"could not {what}: {error.get('Code')}: {error.get('Message', '')}")
            logger.warning(
                "could not %s; the removal retries", what, extra={"error": error.get("Code")}
            )


# -- helpers --------------------------------------------------------------------------------------


def _primary_deployment(service: Mapping[str, Any]) -> str:
    deployments = service.get("deployments") or []
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    primary = primary or (deployments[0] if deployments else {})
    return str(primary.get("id", ""))


def _deployment_state(deployment: Mapping[str, Any]) -> DeploymentState:
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


def _forwards_to(rule: Mapping[str, Any], target_group_arn: str) -> bool:
    for action in rule.get("Actions", []):
        if action.get("TargetGroupArn") == target_group_arn:
            return True
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        if any(g.get("TargetGroupArn") == target_group_arn for g in groups):
            return True
    return False


def _condition_values(conditions: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    values: set[tuple[str, str]] = set()
    for condition in conditions:
        field = str(condition.get("Field", ""))
        config = condition.get("HostHeaderConfig") or condition.get("PathPatternConfig") or {}
        for value in [*condition.get("Values", []), *config.get("Values", [])]:
            values.add((field, str(value)))
    return values


def _priority(service_id: str) -> int:
    """A listener rule priority spread by the service id, so concurrent creates rarely collide
    (a collision moves on to the next free one)."""
    return int(hashlib.sha256(service_id.encode()).hexdigest(), 16) % 50_000 + 1
