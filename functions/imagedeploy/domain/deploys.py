"""Deploys: Render's statuses and triggers, and what a deploy records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from imagedeploy.domain.services import Plan


class DeployStatus(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    BUILD_IN_PROGRESS = "build_in_progress"  # never used by image deploys
    UPDATE_IN_PROGRESS = "update_in_progress"
    LIVE = "live"
    DEACTIVATED = "deactivated"
    BUILD_FAILED = "build_failed"  # never used by image deploys
    UPDATE_FAILED = "update_failed"
    CANCELED = "canceled"
    PRE_DEPLOY_IN_PROGRESS = "pre_deploy_in_progress"
    PRE_DEPLOY_FAILED = "pre_deploy_failed"

    @property
    def finished(self) -> bool:
        return self in FINISHED

    @property
    def cancelable(self) -> bool:
        return self in CANCELABLE


FINISHED = frozenset(
    {
        DeployStatus.LIVE,
        DeployStatus.DEACTIVATED,
        DeployStatus.UPDATE_FAILED,
        DeployStatus.BUILD_FAILED,
        DeployStatus.CANCELED,
        DeployStatus.PRE_DEPLOY_FAILED,
    }
)
CANCELABLE = frozenset(
    {
        DeployStatus.CREATED,
        DeployStatus.QUEUED,
        DeployStatus.PRE_DEPLOY_IN_PROGRESS,
        DeployStatus.UPDATE_IN_PROGRESS,
    }
)


class DeployTrigger(StrEnum):
    API = "api"
    BLUEPRINT_SYNC = "blueprint_sync"
    DEPLOY_HOOK = "deploy_hook"
    DEPLOYED_BY_RENDER = "deployed_by_render"
    MANUAL = "manual"
    OTHER = "other"
    NEW_COMMIT = "new_commit"
    ROLLBACK = "rollback"
    SERVICE_RESUMED = "service_resumed"
    SERVICE_UPDATED = "service_updated"


@dataclass(frozen=True, slots=True)
class DeploySettings:
    """What a deploy runs with, recorded so a rollback can reuse command and health check."""

    docker_command: str
    pre_deploy_command: str
    health_check_path: str
    port: int
    plan: Plan


@dataclass(frozen=True, slots=True)
class Deploy:
    id: str
    service_id: str
    status: DeployStatus
    trigger: DeployTrigger
    image_ref: str  # what was asked for, normalized: the service's reference or an override
    credential_id: str | None
    settings: DeploySettings
    created_at: datetime
    updated_at: datetime
    image_sha: str | None = None  # what the reference resolved to (index or manifest digest)
    platform_digest: str | None = None  # the linux/amd64 manifest digest everything runs
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rollback_of: str | None = None  # the deploy whose digest a rollback deploys
    # Render's deploy_ended ``reason``: {"newDeploy": {"id"}} or {"failure": {...}}, plus our
    # classified pull failure {"imagePullFailed": {"reason", "message"}} where one applies.
    reason: dict[str, Any] = field(default_factory=dict)
    version: int = 0
