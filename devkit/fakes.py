"""Small in-memory fakes of the ports that cannot be real in unit tests (the registry, the
runtime, the scheduler, notifications, the job queue and the clock). The store is always real:
SQLite in a temporary directory."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from imagedeploy.domain.accounts import Webhook, WebhookDelivery
from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.domain.events import Event
from imagedeploy.domain.reference import ImageReference
from imagedeploy.domain.registries import RegistryCredential
from imagedeploy.domain.services import Service
from imagedeploy.net.egress import EgressPolicy, Home, webhook_egress
from imagedeploy.ports import Instance, Job, RunSpec
from imagedeploy.registry.client import PreflightResult
from imagedeploy.settings import Settings


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        # Ticks a millisecond per reading, like a real clock, so records keep their order.
        self.current += timedelta(milliseconds=1)
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class FakeRegistry:
    """Answers preflights from a table: reference (normalized) -> result or error."""

    results: dict[str, PreflightResult | ImagePullError] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)  # digests deleted from the registry
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)

    def add(self, ref: str, digest: str, platform_digest: str, size: int = 1000) -> None:
        media_type = "application/vnd.oci.image.index.v1+json"
        self.results[ref] = PreflightResult(
            ref, digest, platform_digest, "linux/amd64", media_type, size
        )

    def inspect(
        self, ref: ImageReference, credential: RegistryCredential | None = None
    ) -> PreflightResult:
        self.calls.append(("inspect", ref.normalized, credential.username if credential else None))
        if ref.digest is not None:
            if ref.digest in self.gone:
                raise ImagePullError(PullFailureReason.NOT_FOUND, f"{ref} no longer exists")
            for known in self.results.values():  # by digest: whatever tag resolved to it
                if isinstance(known, PreflightResult) and known.digest == ref.digest:
                    return dataclasses.replace(known, reference=ref.normalized)
        outcome = self.results.get(ref.normalized)
        if outcome is None:
            raise ImagePullError(PullFailureReason.NOT_FOUND, f"{ref} not found")
        if isinstance(outcome, ImagePullError):
            raise outcome
        return outcome

    def check_digest_exists(
        self, ref: ImageReference, credential: RegistryCredential | None = None
    ) -> None:
        self.calls.append(("exists", ref.normalized, credential.username if credential else None))
        if ref.digest in self.gone:
            raise ImagePullError(PullFailureReason.NOT_FOUND, f"{ref} no longer exists")

    def with_budget(self, seconds: float) -> FakeRegistry:
        return self  # answers at once: there is no time to budget


@dataclass
class FakeRuntime:
    calls: list[tuple[str, ...]] = field(default_factory=list)
    specs: list[RunSpec] = field(default_factory=list)
    instances: dict[str, list[Instance]] = field(default_factory=dict)  # what list_instances says

    def start_pre_deploy(self, spec: RunSpec, execution_id: str) -> None:
        self.specs.append(spec)
        self.calls.append(("start_pre_deploy", spec.deploy_id))

    def start_rollout(self, spec: RunSpec) -> None:
        self.specs.append(spec)
        self.calls.append(("start_rollout", spec.deploy_id))

    def cancel(self, service_id: str, deploy_id: str) -> None:
        self.calls.append(("cancel", deploy_id))

    def start_cron_run(self, spec: RunSpec, run_id: str) -> None:
        self.specs.append(spec)
        self.calls.append(("start_cron_run", run_id))

    def stop_cron_run(self, service_id: str, run_id: str) -> None:
        self.calls.append(("stop_cron_run", run_id))

    def start_job(self, spec: RunSpec, job_id: str) -> None:
        self.specs.append(spec)
        self.calls.append(("start_job", job_id))

    def stop_job(self, service_id: str, job_id: str) -> None:
        self.calls.append(("stop_job", job_id))

    def list_instances(self, service_id: str) -> list[Instance]:
        self.calls.append(("list_instances", service_id))
        return list(self.instances.get(service_id, ()))

    def allocate_port(self, service_id: str) -> int | None:
        self.calls.append(("allocate_port", service_id))
        return 20000 + len(self.calls)

    def converge(self, spec: RunSpec) -> None:
        self.specs.append(spec)
        self.calls.append(("converge", spec.deploy_id, str(spec.num_instances)))

    def restart(self, spec: RunSpec) -> None:
        self.specs.append(spec)
        self.calls.append(("restart", spec.deploy_id))

    def suspend(self, service_id: str) -> None:
        self.calls.append(("suspend", service_id))

    def remove(self, service_id: str) -> None:
        self.calls.append(("remove", service_id))


@dataclass
class FakeScheduler:
    schedules: dict[str, str] = field(default_factory=dict)

    def set_schedule(self, service_id: str, schedule: str) -> None:
        self.schedules[service_id] = schedule

    def remove_schedule(self, service_id: str) -> None:
        self.schedules.pop(service_id, None)


@dataclass
class FakeNotifier:
    sent: list[tuple[str, Event]] = field(default_factory=list)

    def notify(self, service: Service, event: Event) -> None:
        self.sent.append((service.id, event))


@dataclass
class FakeWebhooks:
    """Records deliveries and answers them delivered (HTTP 204)."""

    sent: list[tuple[str, str]] = field(default_factory=list)  # (webhook id, event id)

    def deliver(self, webhook: Webhook, event: Event, delivery_id: str) -> WebhookDelivery:
        self.sent.append((webhook.id, event.id))
        return WebhookDelivery(
            id=delivery_id,
            webhook_id=webhook.id,
            event_id=event.id,
            event_type=event.type.value,
            sent_at=event.timestamp,
            status_code=204,
            attempts=1,
            delivered=True,
            error="",
        )


@dataclass
class QueuedJobs:
    """Jobs wait until the test drains them, so tests control when slow steps run."""

    queue: deque[Job] = field(default_factory=deque)
    delays: list[int] = field(default_factory=list)  # the delays asked for, in order

    def enqueue(self, job: Job, delay_seconds: int = 0) -> None:
        if delay_seconds:
            self.delays.append(delay_seconds)
        self.queue.append(job)


@dataclass
class FakeDns:
    """A ``socket.getaddrinfo``-shaped resolver over a table (name -> addresses); an unknown
    name does not resolve. ``lookups`` records every question, in order."""

    table: dict[str, list[str]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def __call__(
        self, host: str, port: int, *args: object, **kwargs: object
    ) -> list[tuple[object, ...]]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, f"unknown host {host}")
        out: list[tuple[object, ...]] = []
        for text in self.table[host]:
            family = socket.AF_INET6 if ipaddress.ip_address(text).version == 6 else socket.AF_INET
            out.append((family, socket.SOCK_STREAM, 6, "", (text, port)))
        return out


def aws_webhook_targets(dns: FakeDns | None = None, **settings: object) -> EgressPolicy:
    """The webhook egress policy AWS runs with (public https only by default), on fake DNS."""
    policy = webhook_egress(Settings.model_validate(settings), Home.AWS)
    return dataclasses.replace(policy, resolver=dns or FakeDns())
