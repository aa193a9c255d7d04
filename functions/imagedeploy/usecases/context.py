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
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Tunables the use cases enforce (from ``Settings``)."""

    deploys_per_minute: int = 10
    deploy_timeout_seconds: int = 15 * 60
    pre_deploy_timeout_seconds: int = 30 * 60
    cron_run_timeout_seconds: int = 12 * 3600
    effect_retry_seconds: int = 300  # how long a failing effect is retried (outbox)


@dataclass(frozen=True, slots=True)
class Ports:
    store: Store
    secrets: SecretStore
    registry: Registry
    runtime: Runtime
    scheduler: Scheduler
    notifier: Notifier
    jobs: Jobs
    clock: Clock
    limits: Limits = Limits()
