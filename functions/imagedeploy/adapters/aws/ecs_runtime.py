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
``domain/ecs_rules.py``; task definitions ``ecs_task_definitions.py``; ALB routing
``alb_routing.py``; Cloud Map ``cloud_map.py``; configuration ``ecs_config.py``. This module is
the ``Runtime`` port: ECS services, one-off tasks, and reading them back.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.alb_routing import AlbRouting
from imagedeploy.adapters.aws.cloud_map import CloudMap
from imagedeploy.adapters.aws.ecs_config import (
    EcsConfig,
    EcsRuntimeError,
    ServiceKind,
    lazy_client,
    resource_tags,
    service_kind,
)
from imagedeploy.adapters.aws.ecs_task_definitions import TaskDefinitions
from imagedeploy.adapters.aws.route_records import RouteRecords
from imagedeploy.adapters.aws.service_env import ServiceEnvSecrets
from imagedeploy.adapters.aws.workspace_groups import WorkspaceGroups
from imagedeploy.domain.cron import RunEnd
from imagedeploy.domain.deploy_machine import Signal
from imagedeploy.domain.ecs_rules import (
    CONTAINER,
    DEPLOYMENT_CONFIGURATION,
    ROLLOUT_TAGS,
    TAG_DEPLOY,
    TAG_JOB,
    TAG_ROLE,
    TAG_RUN,
    DeploymentState,
    EcsStatus,
    RolloutRef,
    TaskOutcome,
    TaskSubject,
    deployment_state,
    primary_deployment,
    run_end,
    tag_map,
    task_outcome,
)
from imagedeploy.ports import Instance, RunSpec

logger = logging.getLogger(__name__)

__all__ = ["EcsConfig", "EcsRuntime", "EcsRuntimeError"]

_NO_SERVICE = frozenset({"ServiceNotFoundException", "ServiceNotActiveException"})


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
        self.task_definitions = TaskDefinitions(
            config,
            self._ecs,
            lazy_client("logs", logs, config.region),
            secret_arn,
            ServiceEnvSecrets(
                config.secret_prefix, lazy_client("secretsmanager", secretsmanager, config.region)
            ),
            on_new_revision,
            names=self.name_of,
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

    # -- names ------------------------------------------------------------------------------
    def name_of(self, service_id: str) -> str:
        """The ECS service name and task definition family of an imagedeploy service: the one
        recorded when it first ran (``name_for``); ``<prefix>-<id>`` for one that never ran or
        ran before names were readable."""
        if self._config.table_name:
            recorded = self.records.route(service_id).ecs_name
            if recorded:
                return recorded
        return self._legacy_name(service_id)

    def _legacy_name(self, service_id: str) -> str:
        return f"{self._config.name_prefix}-{service_id}"

    def name_for(self, spec: RunSpec) -> str:
        """``name_of``, recording ``<prefix>-<slug>_<id>`` (found in the console by the
        service's name; ``service_id_of`` reads the id back) the first time a service runs. A
        service whose ECS service already runs under ``<prefix>-<id>`` keeps that name (ECS
        cannot rename a service)."""
        if not self._config.table_name or not spec.slug:
            return self._legacy_name(spec.service_id)
        recorded = self.records.route(spec.service_id).ecs_name
        if recorded:
            return recorded
        legacy = self._legacy_name(spec.service_id)
        found = self._ecs.describe_services(cluster=self._config.cluster, services=[legacy])
        if any(s.get("status") == "ACTIVE" for s in found.get("services", [])):
            name = legacy
        else:
            name = f"{self._config.name_prefix}-{spec.slug}_{spec.service_id}"[-255:]
        self.records.set(spec.service_id, ecsName=name)
        return name

    def service_id_of(self, arn_or_name: str) -> str | None:
        """The imagedeploy service id of an ECS service ARN or name, or of a task definition
        (family or ARN): ``<prefix>-<slug>_<id>`` or ``<prefix>-<id>``; None for anything this
        stack did not create."""
        name = arn_or_name.rsplit("/", 1)[-1].split(":", 1)[0]
        prefix = f"{self._config.name_prefix}-"
        if not name.startswith(prefix) or len(name) <= len(prefix):
            return None
        return name[len(prefix) :].rpartition("_")[2] or None

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
        self.name_for(spec)
        current = self._describe_service(spec.service_id)
        tags = tag_map(current.get("tags")) if current else {}
        known = RolloutRef.from_tags(spec.service_id, tags)
        if current is not None and known is not None and known.deploy_id == spec.deploy_id:
            return known  # already started (a retried job or a duplicate signal)
        task_definition = self.task_definitions.ensure(spec)
        if current is not None and current.get("taskDefinition") == task_definition:
            # Started, but the tags were not written (a crash between the two calls).
            ref = RolloutRef(
                spec.service_id,
                spec.deploy_id,
                primary_deployment(current),
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
                tags=[{"key": k, "value": v} for k, v in resource_tags(self._config, spec).items()],
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
            primary_deployment(service),
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
        stale = [k for k in ROLLOUT_TAGS if k in old_tags and k not in kept]
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
        ref = RolloutRef.from_tags(service_id, tag_map(current.get("tags")))
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
        service), task definitions and log group (as Render deletes a service's logs with it;
        nothing the app made outlives the stack); stop its one-off tasks. Idempotent; every part is tried, and if AWS still holds one (a Cloud Map service
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
        if self._config.listener_arn and self._config.table_name:
            self._trying(
                errors, "delete the route", functools.partial(self.routing.delete_route, service_id)
            )
        for registry_arn in registries or self.discovery.services_of(service_id):
            if registry_arn:
                self._trying(
                    errors,
                    "delete the Cloud Map service",
                    functools.partial(self.discovery.delete, registry_arn),
                )
        self._trying(
            errors,
            "deregister task definitions",
            functools.partial(self.task_definitions.deregister_all, service_id),
        )
        self._trying(
            errors,
            "delete the environment secret",
            functools.partial(self.task_definitions.env_secrets.delete, service_id),
        )
        self._trying(
            errors,
            "delete the log group",
            functools.partial(self.task_definitions.delete_log_group, service_id),
        )
        if errors:
            raise EcsRuntimeError(f"service {service_id} is not removed yet: {'; '.join(errors)}")
        if self._config.table_name:
            self.records.forget(service_id)

    def prune_revisions(self, service_id: str) -> None:
        """``ports.PrunesRevisions``: delete the service's task definition revisions nothing
        runs or rolls back to (the ECS service's, its rollout's and the previous one are kept,
        with the newest few). The ``prune_revisions`` job, queued when a revision is
        registered: RegisterTaskDefinition and its clean-up are throttled (about 1/s), so the
        clean-up never shares a request or a deploy's effect."""
        current = self._describe_service(service_id)
        keep = {str((current or {}).get("taskDefinition", ""))}
        ref = RolloutRef.from_tags(service_id, tag_map(current.get("tags"))) if current else None
        if ref is not None:
            keep |= {ref.task_definition_arn, ref.previous_task_definition_arn}
        pruned = self.task_definitions.prune(service_id, keep - {""})
        if pruned:
            logger.info(
                "task definitions pruned", extra={"service_id": service_id, "count": pruned}
            )

    def start_cron_run(self, spec: RunSpec, run_id: str) -> None:
        self._run_once(spec, started_by=run_id, role="cron", run_id=run_id)

    def stop_cron_run(self, service_id: str, run_id: str) -> None:
        self._stop_started_by(run_id, "cron run stopped")

    def start_job(self, spec: RunSpec, job_id: str) -> None:
        """One RunTask, ``startedBy`` and ``clientToken`` = the job id: the task's logs go to
        the service's log group (its task definition family's awslogs)."""
        self._run_once(spec, started_by=job_id, role="job", job_id=job_id)

    def stop_job(self, service_id: str, job_id: str) -> None:
        self._stop_started_by(job_id, "job canceled")

    def job_end(self, job_id: str) -> RunEnd | None:
        """``DescribesJobs``: how the job's task ended, while ECS still lists it."""
        task = self.one_off_task(job_id)
        if task is None or not task.stopped:
            return None
        return run_end(task)

    def list_instances(self, service_id: str) -> list[Instance]:
        """The running tasks of the service's ECS service, by task id, oldest first."""
        arns: list[str] = []
        paginator = self._ecs.get_paginator("list_tasks")
        params = {
            "cluster": self._config.cluster,
            "serviceName": self.name_of(service_id),
            "desiredStatus": "RUNNING",
        }
        try:
            for page in paginator.paginate(**params):
                arns.extend(page.get("taskArns", []))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NO_SERVICE:
                return []
            raise
        found: list[Instance] = []
        for start in range(0, len(arns), 100):  # DescribeTasks takes 100 at most
            answer = self._ecs.describe_tasks(
                cluster=self._config.cluster, tasks=arns[start : start + 100]
            )
            for task in answer.get("tasks", []):
                # only the service's own tasks (a one-off job of the family is not an instance)
                ours = task.get("group") == f"service:{self.name_of(service_id)}"
                if not ours or task.get("lastStatus") != "RUNNING" or not task.get("createdAt"):
                    continue
                task_id = str(task.get("taskArn", "")).rsplit("/", 1)[-1]
                found.append(Instance(task_id, task["createdAt"]))
        return sorted(found, key=lambda i: (i.created_at, i.id))

    # -- reading ECS back ------------------------------------------------------------------
    def rollout_ref(self, service_id: str) -> RolloutRef | None:
        """The service's latest rollout (tags on its ECS service), or None."""
        current = self._describe_service(service_id)
        if current is None:
            return None
        return RolloutRef.from_tags(service_id, tag_map(current.get("tags")))

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
        if started_by.startswith("job-"):
            return TaskSubject(service_id, "job", job_id=started_by)
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
                arns = self._task_arns(started_by=ref.deployment_id, statuses=("STOPPED",))
                stopped = tuple(t for t in self._describe_tasks(arns[:20]) if t.stopped)
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
        self.name_for(spec)
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
        if not self.task_definitions.runs_deploy(
            str(current.get("taskDefinition", "")), spec.deploy_id
        ):
            params["taskDefinition"] = self.task_definitions.ensure(spec)
            params["deploymentConfiguration"] = DEPLOYMENT_CONFIGURATION
        if force_new_deployment:
            params["forceNewDeployment"] = True
        self._ecs.update_service(**params)

    def _workspace_group(self, spec: RunSpec) -> tuple[str, ...]:
        """The workspace's security group, when the stack has them (``workspace_groups.py``)."""
        if not (self._config.workspace_security_groups and spec.owner_id):
            return ()
        return (self.workspaces.ensure(spec.owner_id),)

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
            target_group = self.routing.ensure(spec)
            return {
                "networkConfiguration": self._network(
                    self._config.security_groups + self._workspace_group(spec)
                ),
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
            # Its workspace's group alone (reachable from the workspace's tasks only), or the
            # stack's group open to the VPC.
            groups = self._workspace_group(spec) or self._config.private_security_groups
            return {
                "networkConfiguration": self._network(groups),
                "serviceRegistries": [{"registryArn": self.discovery.ensure(spec)}],
            }
        return {
            "networkConfiguration": self._network(
                self._config.worker_groups + self._workspace_group(spec)
            )
        }

    # -- one-off tasks -----------------------------------------------------------------------
    def _run_once(
        self,
        spec: RunSpec,
        *,
        started_by: str,
        role: str,
        run_id: str | None = None,
        job_id: str | None = None,
    ) -> None:
        if self._task_arns(started_by=started_by):
            return  # already started (and maybe finished): never run a one-off task twice
        self.name_for(spec)
        task_definition = self.task_definitions.ensure(spec)
        override: dict[str, Any] = {"name": CONTAINER}
        if spec.command:
            override["command"] = list(spec.command)
        tags = {**resource_tags(self._config, spec), TAG_DEPLOY: spec.deploy_id, TAG_ROLE: role}
        if run_id:
            tags[TAG_RUN] = run_id
        token: dict[str, str] = {}
        if job_id:
            tags[TAG_JOB] = job_id
            token["clientToken"] = job_id  # ECS starts one task per token, however often asked
        answer = self._ecs.run_task(
            cluster=self._config.cluster,
            taskDefinition=task_definition,
            count=1,
            launchType="FARGATE",
            platformVersion=self._config.platform_version,
            # one-off tasks take no inbound traffic, whatever kind of service runs them
            networkConfiguration=self._network(
                self._config.worker_groups + self._workspace_group(spec)
            ),
            startedBy=started_by,
            overrides={"containerOverrides": [override]},
            enableECSManagedTags=True,
            tags=[{"key": k, "value": v} for k, v in tags.items()],
            **token,
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
