"""One-off ECS tasks: the RunTask tasks of pre-deploy commands (``startedBy`` = the deploy id),
cron runs (the run id) and jobs (the job id, also the ``clientToken``), with the command as a
container override, in the worker security group; finding, reading and stopping them again by
``startedBy``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from imagedeploy.adapters.aws.ecs_config import EcsConfig, EcsRuntimeError, resource_tags
from imagedeploy.adapters.aws.ecs_names import EcsNames
from imagedeploy.adapters.aws.ecs_network import TaskNetwork
from imagedeploy.adapters.aws.ecs_task_definitions import TaskDefinitions
from imagedeploy.domain.ecs_rules import (
    CONTAINER,
    TAG_DEPLOY,
    TAG_JOB,
    TAG_ROLE,
    TAG_RUN,
    TaskOutcome,
    task_outcome,
)
from imagedeploy.ports import RunSpec

logger = logging.getLogger(__name__)


@dataclass
class OneOffTasks:
    _config: EcsConfig
    _ecs: Any
    _names: EcsNames
    _task_definitions: TaskDefinitions
    _network: TaskNetwork

    def run_once(
        self,
        spec: RunSpec,
        *,
        started_by: str,
        role: str,
        run_id: str | None = None,
        job_id: str | None = None,
    ) -> None:
        """One RunTask of ``spec`` (its command as the override); nothing when a task
        ``started_by`` already exists."""
        if self.task_arns(started_by=started_by):
            return  # already started (and maybe finished): never run a one-off task twice
        self._names.name_for(spec)
        task_definition = self._task_definitions.ensure(spec)
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
            networkConfiguration=self._network.no_inbound(spec),
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

    def task_arns(
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

    def describe(self, arns: Sequence[str]) -> list[TaskOutcome]:
        if not arns:
            return []
        found = self._ecs.describe_tasks(cluster=self._config.cluster, tasks=list(arns))
        return [task_outcome(t) for t in found.get("tasks", [])]

    def started_by(self, started_by: str) -> TaskOutcome | None:
        """The task ``started_by`` started, while ECS still lists it; None when there is none."""
        found = self.describe(self.task_arns(started_by=started_by)[:1])
        return found[0] if found else None

    def stop_started_by(self, started_by: str, reason: str) -> None:
        for arn in self.task_arns(started_by=started_by, statuses=("RUNNING",)):
            self.stop(arn, reason)

    def stop(self, task_arn: str, reason: str) -> None:
        self._ecs.stop_task(cluster=self._config.cluster, task=task_arn, reason=reason)
