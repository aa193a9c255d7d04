"""Which ECS resources are whose: the ECS service name and task definition family of an
imagedeploy service (``EcsNames.name_of``), and back from an ECS name, ARN or task to the
service, deploy, run or job (``service_id_of``, ``identify_task``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagedeploy.adapters.aws.ecs_config import EcsConfig
from imagedeploy.adapters.aws.route_records import RouteRecords
from imagedeploy.domain.ecs_rules import TaskSubject
from imagedeploy.ports import RunSpec


class EcsNames:
    def __init__(self, config: EcsConfig, ecs: Any, records: RouteRecords) -> None:
        self._config = config
        self._ecs = ecs
        self._records = records

    def name_of(self, service_id: str) -> str:
        """The ECS service name and task definition family of an imagedeploy service: the one
        recorded when it first ran (``name_for``); ``<prefix>-<id>`` for one that never ran or
        ran before names were readable."""
        if self._config.table_name:
            recorded = self._records.route(service_id).ecs_name
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
        recorded = self._records.route(spec.service_id).ecs_name
        if recorded:
            return recorded
        legacy = self._legacy_name(spec.service_id)
        found = self._ecs.describe_services(cluster=self._config.cluster, services=[legacy])
        if any(s.get("status") == "ACTIVE" for s in found.get("services", [])):
            name = legacy
        else:
            name = f"{self._config.name_prefix}-{spec.slug}_{spec.service_id}"[-255:]
        self._records.set(spec.service_id, ecsName=name)
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
