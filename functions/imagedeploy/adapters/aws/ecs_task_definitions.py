"""Task definitions of the ECS runtime: one family per service (its ECS name, ``ecs_names.py``), one
revision per distinct content (a content fingerprint kept as a tag, so retries and cron runs
reuse a revision), awslogs to ``<log prefix>/<service id>``, ``repositoryCredentials`` for
private registries other than ECR. Environment values are ``secrets`` read from the service's
Secrets Manager secret (``service_env.py``); only the platform's own variables
(``PLATFORM_ENV_KEYS``: ``RENDER_*``) are plaintext ``environment``."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.clients import error_code
from imagedeploy.adapters.aws.ecs_config import (
    EcsConfig,
    EcsRuntimeError,
    resource_tags,
)
from imagedeploy.adapters.aws.service_env import EnvReference, ServiceEnvSecrets
from imagedeploy.domain.ecs_rules import (
    CONTAINER,
    LOG_STREAM_PREFIX,
    MAX_STOP_TIMEOUT_SECONDS,
    TAG_DEPLOY,
    TAG_FINGERPRINT,
    fargate_size,
    tag_map,
)
from imagedeploy.domain.reference import parse_reference
from imagedeploy.domain.registries import RegistryKind, registry_kind_of
from imagedeploy.domain.service_rules import PLATFORM_ENV_KEYS
from imagedeploy.ports import RunSpec

logger = logging.getLogger(__name__)


#: Revisions ``prune`` keeps besides the live and rollback ones: a pre-deploy or cron task may
#: be about to start on a revision that ``ensure`` just registered.
KEEP_NEWEST: Final = 3


def _family(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def _revision(arn: str) -> int:
    tail = arn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class TaskDefinitions:
    def __init__(
        self,
        config: EcsConfig,
        ecs: Any,
        logs: Callable[[], Any],
        secret_arn: Callable[[str], str | None] | None,
        env_secrets: ServiceEnvSecrets,
        on_new_revision: Callable[[str], None] | None = None,
        *,
        names: Callable[[str], str],
    ) -> None:
        self._config = config
        self._ecs = ecs
        self._logs_client = logs
        self._secret_arn = secret_arn
        self.env_secrets = env_secrets
        self._on_new_revision = on_new_revision
        self._names = names  # service id -> ECS name (EcsNames.name_of): the family

    @property
    def _logs(self) -> Any:
        return self._logs_client()

    def family(self, service_id: str) -> str:
        return self._names(service_id)

    def log_group(self, service_id: str) -> str:
        return f"{self._config.log_group_prefix}/{service_id}"

    @staticmethod
    def split_env(spec: RunSpec) -> tuple[dict[str, str], dict[str, str]]:
        """``spec``'s environment as (plaintext platform variables, values kept secret)."""
        env = dict(spec.env)
        if spec.port is not None:
            env.setdefault("PORT", str(spec.port))
        plain = {k: v for k, v in env.items() if k in PLATFORM_ENV_KEYS}
        return plain, {k: v for k, v in env.items() if k not in plain}

    def body(self, spec: RunSpec, env_ref: EnvReference | None = None) -> dict[str, Any]:
        """The ``RegisterTaskDefinition`` request for ``spec`` (without tags); the secret
        values are referenced from ``env_ref`` (``ensure`` stores them)."""
        size = fargate_size(spec.resources)
        plain, hidden = self.split_env(spec)
        if hidden and env_ref is None:
            raise EcsRuntimeError("a task definition's environment values need their secret")
        container: dict[str, Any] = {
            "name": CONTAINER,
            "image": spec.image,
            "essential": True,
            "memory": size.memory_mb,  # the hard limit; moto also needs it to account tasks
            "environment": [{"name": k, "value": v} for k, v in sorted(plain.items())],
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
        if hidden and env_ref is not None:
            container["secrets"] = [
                {"name": k, "valueFrom": env_ref.value_from(k)} for k in sorted(hidden)
            ]
        if spec.command:
            container["command"] = list(spec.command)  # exec form: no shell
        if spec.port is not None:
            container["portMappings"] = [{"containerPort": spec.port, "protocol": "tcp"}]
        credentials = self._repository_credentials(spec)
        if credentials is not None:
            container["repositoryCredentials"] = credentials
        return {
            "family": self.family(spec.service_id),
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

    def ensure(self, spec: RunSpec) -> str:
        """The ARN of a task definition revision with exactly ``spec``'s content: the family's
        latest revision when its fingerprint matches, else a new one."""
        _, hidden = self.split_env(spec)
        body = self.body(spec, self.env_secrets.store(spec.service_id, hidden))
        fingerprint = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()[:32]
        try:
            latest = self._ecs.describe_task_definition(
                taskDefinition=body["family"], include=["TAGS"]
            )
        except ClientError as exc:
            if error_code(exc) not in ("ClientException", "InvalidParameterException"):
                raise
            latest = None
        if latest is not None:
            definition = latest.get("taskDefinition", {})
            if (
                definition.get("status", "ACTIVE") == "ACTIVE"
                and tag_map(latest.get("tags")).get(TAG_FINGERPRINT) == fingerprint
            ):
                return str(definition["taskDefinitionArn"])
        self._ensure_log_group(spec)
        registered = self._ecs.register_task_definition(
            **body,
            tags=[
                *({"key": k, "value": v} for k, v in resource_tags(self._config, spec).items()),
                {"key": TAG_DEPLOY, "value": spec.deploy_id},
                {"key": TAG_FINGERPRINT, "value": fingerprint},
            ],
        )
        if self._on_new_revision is not None:
            self._on_new_revision(spec.service_id)  # older revisions may go (a later job)
        return str(registered["taskDefinition"]["taskDefinitionArn"])

    def memory_of(self, task_definition_arn: str) -> int | None:
        try:
            found = self._ecs.describe_task_definition(taskDefinition=task_definition_arn)
        except ClientError:
            return None
        memory = found.get("taskDefinition", {}).get("memory")
        return int(memory) if memory else None

    def _ensure_log_group(self, spec: RunSpec) -> None:
        group = self.log_group(spec.service_id)
        try:
            # Tagged like the ECS service, so the console's tag filters find it too.
            tags = resource_tags(self._config, spec)
            self._logs.create_log_group(logGroupName=group, tags=tags)
        except ClientError as exc:
            if error_code(exc) != "ResourceAlreadyExistsException":
                raise
            return
        if self._config.log_retention_days:
            self._logs.put_retention_policy(
                logGroupName=group, retentionInDays=self._config.log_retention_days
            )

    def delete_log_group(self, service_id: str) -> None:
        """Delete the service's log group (gone already: nothing to do)."""
        try:
            self._logs.delete_log_group(logGroupName=self.log_group(service_id))
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise

    def revisions(self, service_id: str, status: str = "ACTIVE") -> list[str]:
        """The family's revisions in ``status``, newest first."""
        family = self.family(service_id)
        found: list[str] = []
        paginator = self._ecs.get_paginator("list_task_definitions")
        for page in paginator.paginate(familyPrefix=family, status=status, sort="DESC"):
            found.extend(a for a in page.get("taskDefinitionArns", []) if _family(a) == family)
        return sorted(found, key=_revision, reverse=True)

    def prune(self, service_id: str, keep: set[str], keep_newest: int = KEEP_NEWEST) -> int:
        """Deregister and delete the family's revisions other than ``keep`` (what the ECS
        service runs and can roll back to) and the ``keep_newest`` newest (a one-off task about
        to start on one); returns how many went. Idempotent: a retried job finishes the rest."""
        old = [a for a in self.revisions(service_id)[keep_newest:] if a not in keep]
        for arn in old:
            self._ecs.deregister_task_definition(taskDefinition=arn)
        self._delete_inactive(service_id)
        return len(old)

    def deregister_all(self, service_id: str) -> None:
        for arn in self.revisions(service_id):
            self._ecs.deregister_task_definition(taskDefinition=arn)
        self._delete_inactive(service_id)

    def _delete_inactive(self, service_id: str) -> None:
        """DeleteTaskDefinitions (10 per call) of the family's deregistered revisions: an
        INACTIVE revision otherwise stays listed, and readable, forever."""
        inactive = self.revisions(service_id, "INACTIVE")
        for start in range(0, len(inactive), 10):
            answer = self._ecs.delete_task_definitions(taskDefinitions=inactive[start : start + 10])
            for failure in answer.get("failures") or []:
                logger.warning(
                    "task definition not deleted",
                    extra={"arn": failure.get("arn"), "reason": failure.get("reason")},
                )

    def runs_deploy(self, task_definition_arn: str, deploy_id: str) -> bool:
        if not task_definition_arn:
            return False
        try:
            found = self._ecs.describe_task_definition(
                taskDefinition=task_definition_arn, include=["TAGS"]
            )
        except ClientError:
            return False
        return tag_map(found.get("tags")).get(TAG_DEPLOY) == deploy_id
