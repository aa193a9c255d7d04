"""``Ports``: the adapters a use case may use, bundled so signatures stay short."""

from __future__ import annotations

from dataclasses import dataclass

from imagedeploy.ports import (
    Clock,
    Jobs,
    Notifier,
    Registry,
    Runtime,
    Scheduler,
    SecretStore,
    Store,
    WebhookTargets,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Tunables the use cases enforce (from ``Settings``)."""

    deploys_per_minute: int = 10
    deploy_timeout_seconds: int = 15 * 60
    pre_deploy_timeout_seconds: int = 30 * 60
    cron_run_timeout_seconds: int = 12 * 3600


@dataclass(frozen=True, slots=True)
class Ports:
    store: Store
    secrets: SecretStore
    registry: Registry
    runtime: Runtime
    scheduler: Scheduler
    notifier: Notifier
    webhook_targets: WebhookTargets
    jobs: Jobs
    clock: Clock
    limits: Limits = Limits()
