"""Cleaning up after a service: ``remove`` deletes everything the runtime made for it (the
removal job); ``prune_revisions`` deletes the task definition revisions nothing needs any more
(the ``prune_revisions`` job)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.alb_routing import AlbRouting
from imagedeploy.adapters.aws.cloud_map import CloudMap
from imagedeploy.adapters.aws.ecs_config import EcsConfig, EcsRuntimeError
from imagedeploy.adapters.aws.ecs_names import EcsNames
from imagedeploy.adapters.aws.ecs_one_off_tasks import OneOffTasks
from imagedeploy.adapters.aws.ecs_services import EcsServices
from imagedeploy.adapters.aws.ecs_task_definitions import TaskDefinitions
from imagedeploy.adapters.aws.route_records import RouteRecords
from imagedeploy.domain.ecs_rules import RolloutRef, tag_map

logger = logging.getLogger(__name__)


@dataclass
class ServiceCleanup:
    _config: EcsConfig
    _names: EcsNames
    _services: EcsServices
    _tasks: OneOffTasks
    _task_definitions: TaskDefinitions
    _routing: AlbRouting
    _discovery: CloudMap
    _records: RouteRecords

    def remove(self, service_id: str) -> None:
        """Delete the ECS service, its routing (listener rule, target group, Cloud Map
        service), task definitions, environment secret and log group (as Render deletes a
        service's logs with it; nothing the app made outlives the stack); stop its one-off
        tasks. Idempotent; every part is tried, and if AWS still holds one (a Cloud Map service
        whose instances are deregistering answers ``ResourceInUse``) the call raises with
        what is left, so that the removal job retries it."""
        current = self._services.current(service_id)
        registries = [
            r.get("registryArn", "") for r in (current or {}).get("serviceRegistries", [])
        ]
        errors: list[str] = []
        if current is not None:
            _trying(
                errors,
                "delete the ECS service",
                functools.partial(self._services.delete, service_id),
            )
        for task_arn in self._tasks.task_arns(family=self._names.name_of(service_id)):
            _trying(errors, "stop a task", functools.partial(self._tasks.stop, task_arn, "removed"))
        if self._config.listener_arn and self._config.table_name:
            _trying(
                errors,
                "delete the route",
                functools.partial(self._routing.delete_route, service_id),
            )
        for registry_arn in registries or self._discovery.services_of(service_id):
            if registry_arn:
                _trying(
                    errors,
                    "delete the Cloud Map service",
                    functools.partial(self._discovery.delete, registry_arn),
                )
        _trying(
            errors,
            "deregister task definitions",
            functools.partial(self._task_definitions.deregister_all, service_id),
        )
        _trying(
            errors,
            "delete the environment secret",
            functools.partial(self._task_definitions.env_secrets.delete, service_id),
        )
        _trying(
            errors,
            "delete the log group",
            functools.partial(self._task_definitions.delete_log_group, service_id),
        )
        if errors:
            raise EcsRuntimeError(f"service {service_id} is not removed yet: {'; '.join(errors)}")
        if self._config.table_name:
            self._records.forget(service_id)

    def prune_revisions(self, service_id: str) -> None:
        """Delete the service's task definition revisions nothing runs or rolls back to (the
        ECS service's, its rollout's and the previous one are kept, with the newest few)."""
        current = self._services.current(service_id)
        keep = {str((current or {}).get("taskDefinition", ""))}
        ref = RolloutRef.from_tags(service_id, tag_map(current.get("tags"))) if current else None
        if ref is not None:
            keep |= {ref.task_definition_arn, ref.previous_task_definition_arn}
        pruned = self._task_definitions.prune(service_id, keep - {""})
        if pruned:
            logger.info(
                "task definitions pruned", extra={"service_id": service_id, "count": pruned}
            )


def _trying(errors: list[str], what: str, operation: Callable[[], object]) -> None:
    """Run ``operation``; an AWS error is added to ``errors`` (the removal goes on)."""
    try:
        operation()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        errors.append(f"could not {what}: {error.get('Code')}: {error.get('Message', '')}")
        logger.warning(
            "could not %s; the removal retries", what, extra={"error": error.get("Code")}
        )
