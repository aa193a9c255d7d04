"""``EcsRuntime``: the ``Runtime`` port on ECS Fargate (linux/amd64), docs/architecture.md §2.2.

What it creates, per imagedeploy service ``<id>`` (``<p>`` = ``EcsConfig.name_prefix``):

- a **task definition** family ``<p>-<id>``, one revision per deploy (the environment carries
  ``RENDER_DEPLOY_ID``), pinned to ``RunSpec.image`` (``repository@<linux/amd64 digest>``), Fargate,
  ``awsvpc``, ``runtimePlatform`` LINUX/X86_64, the nearest valid Fargate size at or above the
  plan (``FARGATE_SIZES``), environment values as ``secrets`` from the service's Secrets Manager
  secret ``<secret prefix>/service-env/<id>`` (``service_env.py``; deleted by ``remove``), awslogs to ``<log prefix>/<id>``, ``stopTimeout`` capped at Fargate's
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

The parts: the pure rules (Fargate sizes, tags, stop classification, ``EcsStatus``) are
``domain/ecs_rules.py``; names and whose a task is ``ecs_names.py``; ECS services and rollouts
``ecs_services.py``; one-off tasks ``ecs_one_off_tasks.py``; removal and revision pruning
``ecs_cleanup.py``; task definitions ``ecs_task_definitions.py``; task networks
``ecs_network.py``; ALB routing ``alb_routing.py``; Cloud Map ``cloud_map.py``; configuration
``ecs_config.py``. This module is the ``Runtime`` port over them, and reads ECS back for the
reconcile step (``describe``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from imagedeploy.adapters.aws.alb_routing import AlbRouting
from imagedeploy.adapters.aws.clients import lazy_client
from imagedeploy.adapters.aws.cloud_map import CloudMap
from imagedeploy.adapters.aws.ecs_cleanup import ServiceCleanup
from imagedeploy.adapters.aws.ecs_config import EcsConfig, EcsRuntimeError
from imagedeploy.adapters.aws.ecs_names import EcsNames
from imagedeploy.adapters.aws.ecs_network import TaskNetwork
from imagedeploy.adapters.aws.ecs_one_off_tasks import OneOffTasks
from imagedeploy.adapters.aws.ecs_services import EcsServices
from imagedeploy.adapters.aws.ecs_task_definitions import TaskDefinitions
from imagedeploy.adapters.aws.route_records import RouteRecords
from imagedeploy.adapters.aws.service_env import ServiceEnvSecrets
from imagedeploy.adapters.aws.workspace_groups import WorkspaceGroups
from imagedeploy.domain.cron import RunEnd
from imagedeploy.domain.deploy_machine import Signal
from imagedeploy.domain.ecs_rules import (
    DeploymentState,
    EcsStatus,
    RolloutRef,
    TaskOutcome,
    TaskSubject,
    deployment_state,
    run_end,
    tag_map,
)
from imagedeploy.ports import Instance, RunSpec

__all__ = ["EcsConfig", "EcsRuntime", "EcsRuntimeError"]


class EcsRuntime:
    def __init__(
        self,
        config: EcsConfig,
        *,
        ecs: Any = None,
        elbv2: Any = None,
        servicediscovery: Any = None,
        logs: Any = None,
        secretsmanager: Any = None,
        ec2: Any = None,
        dynamodb: Any = None,
        route53: Any = None,
        secret_arn: Callable[[str], str | None] | None = None,
        on_new_revision: Callable[[str], None] | None = None,
    ) -> None:
        """``on_new_revision(service_id)`` is told of each task definition revision registered
        (the composition root enqueues a ``prune_revisions`` job: never in a request)."""
        self._config = config
        self._ecs = lazy_client("ecs", ecs, config.region)()
        self.records = RouteRecords(
            config.table_name, lazy_client("dynamodb", dynamodb, config.region)
        )
        self.names = EcsNames(config, self._ecs, self.records)
        self.task_definitions = TaskDefinitions(
            config,
            self._ecs,
            lazy_client("logs", logs, config.region),
            secret_arn,
            ServiceEnvSecrets(
                config.secret_prefix, lazy_client("secretsmanager", secretsmanager, config.region)
            ),
            on_new_revision,
            names=self.names.name_of,
        )
        self.workspaces = WorkspaceGroups(config, lazy_client("ec2", ec2, config.region))
        self.routing = AlbRouting(
            config,
            lazy_client("elbv2", elbv2, config.region),
            lazy_client("route53", route53, config.region),
            self.records,
        )
        self.discovery = CloudMap(
            config, lazy_client("servicediscovery", servicediscovery, config.region), self.records
        )
        network = TaskNetwork(config, self.workspaces)
        self.services = EcsServices(
            config,
            self._ecs,
            self.names,
            self.task_definitions,
            network,
            self.routing,
            self.discovery,
        )
        self.tasks = OneOffTasks(config, self._ecs, self.names, self.task_definitions, network)
        self.cleanup = ServiceCleanup(
            config,
            self.names,
            self.services,
            self.tasks,
            self.task_definitions,
            self.routing,
            self.discovery,
            self.records,
        )

    # -- names ------------------------------------------------------------------------------
    def name_of(self, service_id: str) -> str:
        return self.names.name_of(service_id)

    def service_id_of(self, arn_or_name: str) -> str | None:
        return self.names.service_id_of(arn_or_name)

    def identify_task(self, task: Mapping[str, Any]) -> TaskSubject | None:
        return self.names.identify_task(task)

    # -- Runtime port ----------------------------------------------------------------------
    def allocate_port(self, service_id: str) -> int | None:
        return None  # the ALB routes by host name (or path)

    def start_pre_deploy(self, spec: RunSpec, execution_id: str) -> None:
        """One RunTask of the new digest with the pre-deploy command, ``startedBy`` = the
        deploy id; nothing is started when a task of this deploy already exists."""
        self.tasks.run_once(spec, started_by=spec.deploy_id, role="pre_deploy")

    def start_rollout(self, spec: RunSpec) -> None:
        self.rollout(spec)

    def rollout(self, spec: RunSpec) -> RolloutRef:
        """``start_rollout``, returning the ``RolloutRef`` it recorded on the ECS service."""
        return self.services.rollout(spec)

    def cancel(self, service_id: str, deploy_id: str) -> None:
        """Stop the deploy's pre-deploy task; if the service is rolling out this deploy, update
        it back to the previous task definition (a new ECS deployment of the live version: its
        tasks keep serving until the replacements are healthy, then the new ones stop). A
        first deploy has nothing to go back to: the service is scaled to zero. Waiting for
        the circuit breaker instead would not do: it only trips after several failed tasks,
        never for a user's cancel of healthy tasks, and fail fast must not wait for it."""
        self.tasks.stop_started_by(deploy_id, "deploy canceled")
        self.services.roll_back(service_id, deploy_id)

    def converge(self, spec: RunSpec) -> None:
        """Run ``spec.num_instances`` tasks of the live deploy (scale, resume)."""
        self.services.set_live(spec, force_new_deployment=False)

    def restart(self, spec: RunSpec) -> None:
        """Replace every task of the live deploy through a rolling ECS deployment."""
        self.services.set_live(spec, force_new_deployment=True)

    def suspend(self, service_id: str) -> None:
        self.services.suspend(service_id)

    def remove(self, service_id: str) -> None:
        """Delete everything the runtime made for the service (``ServiceCleanup.remove``)."""
        self.cleanup.remove(service_id)

    def prune_revisions(self, service_id: str) -> None:
        """``ports.PrunesRevisions``: delete the service's task definition revisions nothing
        runs or rolls back to. The ``prune_revisions`` job, queued when a revision is
        registered: RegisterTaskDefinition and its clean-up are throttled (about 1/s), so the
        clean-up never shares a request or a deploy's effect."""
        self.cleanup.prune_revisions(service_id)

    def start_cron_run(self, spec: RunSpec, run_id: str) -> None:
        self.tasks.run_once(spec, started_by=run_id, role="cron", run_id=run_id)

    def stop_cron_run(self, service_id: str, run_id: str) -> None:
        self.tasks.stop_started_by(run_id, "cron run stopped")

    def start_job(self, spec: RunSpec, job_id: str) -> None:
        """One RunTask, ``startedBy`` and ``clientToken`` = the job id: the task's logs go to
        the service's log group (its task definition family's awslogs)."""
        self.tasks.run_once(spec, started_by=job_id, role="job", job_id=job_id)

    def stop_job(self, service_id: str, job_id: str) -> None:
        self.tasks.stop_started_by(job_id, "job canceled")

    def job_end(self, job_id: str) -> RunEnd | None:
        """``DescribesJobs``: how the job's task ended, while ECS still lists it."""
        task = self.one_off_task(job_id)
        if task is None or not task.stopped:
            return None
        return run_end(task)

    def list_instances(self, service_id: str) -> list[Instance]:
        """The running tasks of the service's ECS service, by task id, oldest first."""
        return self.services.running_tasks(service_id)

    # -- reading ECS back ------------------------------------------------------------------
    def rollout_ref(self, service_id: str) -> RolloutRef | None:
        """The service's latest rollout (tags on its ECS service), or None."""
        return self.services.rollout_ref(service_id)

    def one_off_task(self, started_by: str) -> TaskOutcome | None:
        """The task a pre-deploy (deploy id) or cron run (run id) started, while ECS still
        lists it (stopped tasks stay about an hour): for reconciling a run whose "Task State
        Change" event was lost. None when there is none."""
        return self.tasks.started_by(started_by)

    def describe(self, service_id: str, deploy_id: str) -> EcsStatus:
        """What ECS says about ``deploy_id`` of ``service_id``: its rollout (the ECS deployment,
        counts, stopped tasks with their reasons) and its pre-deploy task. For the reconcile
        step, which repairs lost events from it (``EcsStatus.rollout_signal`` and
        ``pre_deploy_signal``)."""
        current = self.services.current(service_id)
        ref = RolloutRef.from_tags(service_id, tag_map(current.get("tags"))) if current else None
        deployment: DeploymentState | None = None
        stopped: tuple[TaskOutcome, ...] = ()
        if current is not None and ref is not None and ref.deploy_id == deploy_id:
            deployment = next(
                (
                    deployment_state(d)
                    for d in current.get("deployments", [])
                    if d.get("id") == ref.deployment_id
                ),
                None,
            )
            if ref.deployment_id:
                arns = self.tasks.task_arns(started_by=ref.deployment_id, statuses=("STOPPED",))
                stopped = tuple(t for t in self.tasks.describe(arns[:20]) if t.stopped)
        pre = self.one_off_task(deploy_id)
        memory = None
        if ref is not None and ref.task_definition_arn:
            memory = self.task_definitions.memory_of(ref.task_definition_arn)
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
