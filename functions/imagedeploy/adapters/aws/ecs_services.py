"""ECS services and their rollouts: one ECS service per web, private and worker service,
rolling with ``minimumHealthyPercent`` 100 / ``maximumPercent`` 200 and the deployment circuit
breaker with rollback. Web: behind the ALB through a target group (``alb_routing.py``). Private:
Cloud Map service discovery (``cloud_map.py``). Worker: no load balancer, no inbound traffic.

Each rollout records on the ECS service itself, as tags, which deploy it is for, the ECS
deployment id ``UpdateService``/``CreateService`` returned, this deploy's task definition and the
previous one (what ``cancel`` rolls back to): ``RolloutRef``, read back with ``rollout_ref``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.alb_routing import AlbRouting
from imagedeploy.adapters.aws.clients import error_code
from imagedeploy.adapters.aws.cloud_map import CloudMap
from imagedeploy.adapters.aws.ecs_config import (
    EcsConfig,
    EcsRuntimeError,
    ServiceKind,
    resource_tags,
    service_kind,
)
from imagedeploy.adapters.aws.ecs_names import EcsNames
from imagedeploy.adapters.aws.ecs_network import TaskNetwork
from imagedeploy.adapters.aws.ecs_task_definitions import TaskDefinitions
from imagedeploy.domain.ecs_rules import (
    CONTAINER,
    DEPLOYMENT_CONFIGURATION,
    ROLLOUT_TAGS,
    RolloutRef,
    primary_deployment,
    tag_map,
)
from imagedeploy.ports import Instance, RunSpec

logger = logging.getLogger(__name__)

_NO_SERVICE = frozenset({"ServiceNotFoundException", "ServiceNotActiveException"})


@dataclass
class EcsServices:
    _config: EcsConfig
    _ecs: Any
    _names: EcsNames
    _task_definitions: TaskDefinitions
    _network: TaskNetwork
    _routing: AlbRouting
    _discovery: CloudMap

    def current(self, service_id: str) -> dict[str, Any] | None:
        """The service's ACTIVE ECS service (with its tags), or None."""
        found = self._ecs.describe_services(
            cluster=self._config.cluster,
            services=[self._names.name_of(service_id)],
            include=["TAGS"],
        )
        for service in found.get("services", []):
            if service.get("status") == "ACTIVE":
                return dict(service)
        return None  # missing, or INACTIVE/DRAINING after a delete

    def rollout_ref(self, service_id: str) -> RolloutRef | None:
        """The service's latest rollout (tags on its ECS service), or None."""
        current = self.current(service_id)
        if current is None:
            return None
        return RolloutRef.from_tags(service_id, tag_map(current.get("tags")))

    def rollout(self, spec: RunSpec) -> RolloutRef:
        """Create or update the ECS service to ``spec``'s deploy, returning the ``RolloutRef``
        it recorded on it."""
        kind = service_kind(spec)
        if kind is ServiceKind.CRON:
            raise ValueError("cron jobs have no ECS service; their runs use start_cron_run")
        self._names.name_for(spec)
        current = self.current(spec.service_id)
        tags = tag_map(current.get("tags")) if current else {}
        known = RolloutRef.from_tags(spec.service_id, tags)
        if current is not None and known is not None and known.deploy_id == spec.deploy_id:
            return known  # already started (a retried job or a duplicate signal)
        task_definition = self._task_definitions.ensure(spec)
        if current is not None and current.get("taskDefinition") == task_definition:
            # Started, but the tags were not written (a crash between the two calls).
            ref = RolloutRef(
                spec.service_id,
                spec.deploy_id,
                primary_deployment(current),
                task_definition,
                known.task_definition_arn if known else "",
            )
            self.record(current["serviceArn"], ref, tags)
            return ref
        wiring = self._wiring(spec, kind)
        if current is None:
            previous = ""
            service = self._ecs.create_service(
                cluster=self._config.cluster,
                serviceName=self._names.name_of(spec.service_id),
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
                service=self._names.name_of(spec.service_id),
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
        self.record(service["serviceArn"], ref, tags)
        logger.info(
            "rollout started",
            extra={
                "service_id": spec.service_id,
                "deploy_id": spec.deploy_id,
                "ecs_deployment": ref.deployment_id,
            },
        )
        return ref

    def record(self, service_arn: str, ref: RolloutRef, old_tags: Mapping[str, str]) -> None:
        """Keep ``ref`` as the service's tags (and drop a stale one ``ref`` leaves empty)."""
        new_tags = ref.tags()
        self._ecs.tag_resource(resourceArn=service_arn, tags=new_tags)
        kept = {t["key"] for t in new_tags}
        stale = [k for k in ROLLOUT_TAGS if k in old_tags and k not in kept]
        if stale:
            self._ecs.untag_resource(resourceArn=service_arn, tagKeys=stale)

    def roll_back(self, service_id: str, deploy_id: str) -> None:
        """If the service is rolling out ``deploy_id``, update it back to the previous task
        definition, or scale a first deploy to zero (``EcsRuntime.cancel``)."""
        current = self.current(service_id)
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
                service=self._names.name_of(service_id),
                taskDefinition=ref.previous_task_definition_arn,
                deploymentConfiguration=DEPLOYMENT_CONFIGURATION,
            )
        else:
            self._ecs.update_service(
                cluster=self._config.cluster,
                service=self._names.name_of(service_id),
                desiredCount=0,
            )
        logger.info("rollout canceled", extra={"service_id": service_id, "deploy_id": deploy_id})

    def set_live(self, spec: RunSpec, *, force_new_deployment: bool) -> None:
        """Run ``spec.num_instances`` tasks of the live deploy; a new ECS deployment of it when
        ``force_new_deployment``."""
        self._names.name_for(spec)
        current = self.current(spec.service_id)
        if current is None:
            if spec.num_instances > 0:
                self.rollout(spec)  # e.g. created again after a remove
            return
        params: dict[str, Any] = {
            "cluster": self._config.cluster,
            "service": self._names.name_of(spec.service_id),
            "desiredCount": spec.num_instances,
        }
        if not self._task_definitions.runs_deploy(
            str(current.get("taskDefinition", "")), spec.deploy_id
        ):
            params["taskDefinition"] = self._task_definitions.ensure(spec)
            params["deploymentConfiguration"] = DEPLOYMENT_CONFIGURATION
        if force_new_deployment:
            params["forceNewDeployment"] = True
        self._ecs.update_service(**params)

    def suspend(self, service_id: str) -> None:
        if self.current(service_id) is None:
            return
        self._ecs.update_service(
            cluster=self._config.cluster, service=self._names.name_of(service_id), desiredCount=0
        )

    def delete(self, service_id: str) -> None:
        self._ecs.delete_service(
            cluster=self._config.cluster, service=self._names.name_of(service_id), force=True
        )

    def running_tasks(self, service_id: str) -> list[Instance]:
        """The running tasks of the service's ECS service, by task id, oldest first."""
        arns: list[str] = []
        paginator = self._ecs.get_paginator("list_tasks")
        params = {
            "cluster": self._config.cluster,
            "serviceName": self._names.name_of(service_id),
            "desiredStatus": "RUNNING",
        }
        try:
            for page in paginator.paginate(**params):
                arns.extend(page.get("taskArns", []))
        except ClientError as exc:
            if error_code(exc) in _NO_SERVICE:
                return []
            raise
        found: list[Instance] = []
        for start in range(0, len(arns), 100):  # DescribeTasks takes 100 at most
            answer = self._ecs.describe_tasks(
                cluster=self._config.cluster, tasks=arns[start : start + 100]
            )
            for task in answer.get("tasks", []):
                # only the service's own tasks (a one-off job of the family is not an instance)
                ours = task.get("group") == f"service:{self._names.name_of(service_id)}"
                if not ours or task.get("lastStatus") != "RUNNING" or not task.get("createdAt"):
                    continue
                task_id = str(task.get("taskArn", "")).rsplit("/", 1)[-1]
                found.append(Instance(task_id, task["createdAt"]))
        return sorted(found, key=lambda i: (i.created_at, i.id))

    def _wiring(self, spec: RunSpec, kind: ServiceKind) -> dict[str, Any]:
        """Network, load balancer and service discovery settings of the ECS service."""
        if kind is ServiceKind.WEB:
            if spec.port is None:
                raise ValueError("a web service needs a port")
            target_group = self._routing.ensure(spec)
            return {
                "networkConfiguration": self._network.configuration(
                    self._config.security_groups + self._network.workspace_group(spec)
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
            groups = self._network.workspace_group(spec) or self._config.private_security_groups
            return {
                "networkConfiguration": self._network.configuration(groups),
                "serviceRegistries": [{"registryArn": self._discovery.ensure(spec)}],
            }
        return {"networkConfiguration": self._network.no_inbound(spec)}
