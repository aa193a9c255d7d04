"""The use-case world: a ``Ports`` of a real SQLite store and secret store (in a directory) with
fakes for the registry, runtime, scheduler, notifier, job queue and clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from devkit.fakes import (
    FakeClock,
    FakeNotifier,
    FakeRegistry,
    FakeRuntime,
    FakeScheduler,
    FakeWebhooks,
    QueuedJobs,
    aws_webhook_targets,
)
from imagedeploy.adapters.local.secrets import EncryptedFileSecretStore
from imagedeploy.adapters.local.sqlite_store import SqliteStore
from imagedeploy.domain.accounts import Owner
from imagedeploy.domain.deploy_machine import RolloutHealthy
from imagedeploy.domain.registries import RegistryKind
from imagedeploy.domain.service_rules import validate_create
from imagedeploy.domain.services import ServiceType
from imagedeploy.ports import Limits, Ports
from imagedeploy.usecases import credentials, deploys, services
from imagedeploy.usecases.worker import run_job

OWNER = "tea-0000000000000000000a"
IMAGE = "registry.example.com/team/web"
SHA1, AMD1 = "sha256:" + "1" * 64, "sha256:" + "a" * 64
SHA2, AMD2 = "sha256:" + "2" * 64, "sha256:" + "b" * 64


@dataclass
class World:
    ports: Ports
    store: SqliteStore
    registry: FakeRegistry
    runtime: FakeRuntime
    scheduler: FakeScheduler
    notifier: FakeNotifier
    webhooks: FakeWebhooks
    jobs: QueuedJobs
    clock: FakeClock

    def drain(self) -> None:
        """Run queued jobs (and the jobs they queue) until none is left."""
        while self.jobs.queue:
            run_job(self.ports, self.jobs.queue.popleft())

    def create(
        self, type_: ServiceType = ServiceType.WEB_SERVICE, **settings: object
    ) -> services.Created:
        settings.setdefault("image_path", f"{IMAGE}:1.0")
        if type_ is ServiceType.CRON_JOB:
            settings.setdefault("schedule", "*/5 * * * *")
        spec = validate_create(type_, settings.pop("name", "web"), **settings)  # type: ignore[arg-type]
        return services.create_service(self.ports, OWNER, spec)

    def go_live(self, deploy_id: str) -> None:
        """Preflight, then the runtime reports the rollout healthy."""
        self.drain()
        deploys.handle_signal(self.ports, deploy_id, RolloutHealthy())
        self.drain()

    def credential(self, name: str = "reg") -> str:
        record = credentials.create_credential(
            self.ports, OWNER, name, RegistryKind.DOCKER, "deployer", SecretStr("tok-s3cr3t")
        )
        return record.id


@contextmanager
def open_world(directory: Path) -> Iterator[World]:
    """A fresh world with its state in ``directory``: ``OWNER`` exists, and the fake registry
    knows ``IMAGE:1.0`` (``SHA1``, amd64 ``AMD1``) and ``IMAGE:2.0`` (``SHA2``, ``AMD2``)."""
    store = SqliteStore(directory / "state.db")
    store.write(put=[Owner(OWNER, "Team", "team@example.com")])
    registry = FakeRegistry()
    registry.add(f"{IMAGE}:1.0", SHA1, AMD1)
    registry.add(f"{IMAGE}:2.0", SHA2, AMD2)
    runtime, scheduler, notifier, webhooks, jobs, clock = (
        FakeRuntime(),
        FakeScheduler(),
        FakeNotifier(),
        FakeWebhooks(),
        QueuedJobs(),
        FakeClock(),
    )
    ports = Ports(
        store=store,
        secrets=EncryptedFileSecretStore(directory),
        registry=registry,
        runtime=runtime,
        scheduler=scheduler,
        notifier=notifier,
        webhooks=webhooks,
        webhook_targets=aws_webhook_targets(),
        jobs=jobs,
        clock=clock,
        limits=Limits(deploys_per_minute=10),
    )
    try:
        yield World(ports, store, registry, runtime, scheduler, notifier, webhooks, jobs, clock)
    finally:
        store.close()
