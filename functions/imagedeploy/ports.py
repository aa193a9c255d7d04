"""The ports: what use cases need from the outside world, as ``typing.Protocol``s.

Adapters implement them: ``adapters/local`` (SQLite, an encrypted secret file, podman/docker, an
in-process scheduler) and ``adapters/aws`` (DynamoDB, Secrets Manager, ECS Fargate, EventBridge
Scheduler, SNS). Use cases take ports as arguments and never import an adapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import SecretStr

from imagedeploy.domain.accounts import (
    ApiKey,
    CredentialRecord,
    NotificationOverride,
    NotificationSettings,
    Owner,
    Webhook,
    WebhookDelivery,
)
from imagedeploy.domain.cron import CronRun, RunEnd
from imagedeploy.domain.deploys import Deploy
from imagedeploy.domain.events import Event
from imagedeploy.domain.jobs import OneOffJob
from imagedeploy.domain.listing import (
    ANY_CREDENTIAL,
    ANY_DELIVERY,
    ANY_DEPLOY,
    ANY_EVENT,
    ANY_JOB,
    ANY_RUN,
    ANY_SERVICE,
    CredentialFilter,
    DeliveryFilter,
    DeployFilter,
    EventFilter,
    JobFilter,
    RunFilter,
    ServiceFilter,
)
from imagedeploy.domain.log_masking import Masker
from imagedeploy.domain.logs import LogLine, LogPage, LogQuery
from imagedeploy.domain.metrics import MetricQuery, Series
from imagedeploy.domain.outbox import OutboxRecord
from imagedeploy.domain.reference import ImageReference
from imagedeploy.domain.registries import RegistryCredential
from imagedeploy.domain.services import Resources, Service

if TYPE_CHECKING:  # the registry client pulls in httpx: keep it out of adapters' imports
    from imagedeploy.domain.deploy_machine import Signal
    from imagedeploy.registry.client import PreflightResult

T = TypeVar("T")

Entity = (
    Owner
    | ApiKey
    | CredentialRecord
    | Service
    | Deploy
    | Event
    | CronRun
    | OneOffJob
    | NotificationSettings
    | NotificationOverride
    | Webhook
    | WebhookDelivery
    | OutboxRecord
)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is opaque and None on the last page."""

    items: list[T]
    next_cursor: str | None


class Store(Protocol):
    """State, with optimistic concurrency.

    Every versioned entity carries ``version``: ``write`` stores an entity only if the stored
    version equals the entity's (0 = must not exist yet) and stores it with version + 1; all puts
    and deletes of one call happen atomically or not at all (``ConcurrentUpdate`` otherwise).
    Events and webhook deliveries are append-only. Lists are key queries with a cursor, newest
    first where the resource has a time order; nothing scans a whole table.

    Lists that Render lets clients narrow take a filter (``domain.listing``): its ``key_range``
    bounds the key range read, its ``matches`` is applied to items as they are read, before the
    page is counted, so a page holds ``limit`` matching items whenever that many exist after the
    cursor. A cursor is only meaningful with the filter it was issued under.
    """

    def write(self, put: Sequence[Entity] = (), delete: Sequence[Entity] = ()) -> list[Entity]:
        """Apply the changes atomically; returns the stored puts with their new versions."""
        ...

    # owners and API keys
    def get_owner(self, owner_id: str) -> Owner | None: ...
    def list_owners(self, limit: int, cursor: str | None = None) -> Page[Owner]: ...
    def get_api_key_by_hash(self, key_hash: str) -> ApiKey | None: ...
    def get_api_key(self, key_id: str) -> ApiKey | None: ...
    def list_api_keys(self, owner_id: str, limit: int, cursor: str | None = None) -> Page[ApiKey]:
        """An owner's API keys, oldest first."""
        ...

    # registry credentials
    def get_credential(self, credential_id: str) -> CredentialRecord | None: ...
    def list_credentials(
        self,
        owner_id: str,
        limit: int,
        cursor: str | None = None,
        where: CredentialFilter = ANY_CREDENTIAL,
    ) -> Page[CredentialRecord]: ...

    # services
    def get_service(self, service_id: str) -> Service | None: ...
    def list_services(
        self,
        owner_id: str,
        limit: int,
        cursor: str | None = None,
        where: ServiceFilter = ANY_SERVICE,
    ) -> Page[Service]: ...
    def list_services_using_credential(self, credential_id: str, limit: int) -> list[Service]: ...

    # deploys
    def get_deploy(self, deploy_id: str) -> Deploy | None: ...
    def list_deploys(
        self,
        service_id: str,
        limit: int,
        cursor: str | None = None,
        where: DeployFilter = ANY_DEPLOY,
    ) -> Page[Deploy]: ...
    def list_unfinished_deploys(self, limit: int, cursor: str | None = None) -> Page[Deploy]: ...

    # events
    def get_event(self, event_id: str) -> Event | None: ...
    def list_events(
        self,
        service_id: str,
        limit: int,
        cursor: str | None = None,
        where: EventFilter = ANY_EVENT,
    ) -> Page[Event]: ...

    # cron runs
    def get_run(self, run_id: str) -> CronRun | None: ...
    def list_runs(
        self,
        service_id: str,
        limit: int,
        cursor: str | None = None,
        where: RunFilter = ANY_RUN,
    ) -> Page[CronRun]: ...
    def list_unfinished_runs(self, limit: int, cursor: str | None = None) -> Page[CronRun]:
        """Pending cron runs, newest first: a key query on a sparse index."""
        ...

    # one-off jobs
    def get_job(self, job_id: str) -> OneOffJob | None: ...
    def list_jobs(
        self,
        service_id: str,
        limit: int,
        cursor: str | None = None,
        where: JobFilter = ANY_JOB,
    ) -> Page[OneOffJob]:
        """A service's jobs, newest first (by creation)."""
        ...

    def list_unfinished_jobs(self, limit: int, cursor: str | None = None) -> Page[OneOffJob]:
        """Pending and running jobs, newest first: a key query on a sparse index."""
        ...

    # the outbox (``domain.outbox``): effects committed with a state change, until executed
    def get_outbox(self, record_id: str) -> OutboxRecord | None: ...
    def list_outbox(self, limit: int, cursor: str | None = None) -> Page[OutboxRecord]:
        """Every outbox record not yet executed, oldest first (a sparse index)."""
        ...

    # notifications
    def get_notification_settings(self, owner_id: str) -> NotificationSettings | None: ...
    def get_notification_override(self, service_id: str) -> NotificationOverride | None: ...
    def get_webhook(self, webhook_id: str) -> Webhook | None: ...
    def list_webhooks(
        self, owner_id: str, limit: int, cursor: str | None = None
    ) -> Page[Webhook]: ...
    def list_deliveries(
        self,
        webhook_id: str,
        limit: int,
        cursor: str | None = None,
        where: DeliveryFilter = ANY_DELIVERY,
    ) -> Page[WebhookDelivery]: ...

    # counters
    def claim_once(self, key: str, ttl_seconds: int) -> bool:
        """True the first time ``key`` is claimed within ``ttl_seconds`` (idempotency of
        at-least-once deliveries such as ECS events), False after."""
        ...


class SecretStore(Protocol):
    """Registry tokens, write-only from the API's point of view."""

    def put(self, credential_id: str, username: str, token: SecretStr) -> None: ...
    def get(self, credential_id: str) -> SecretStr | None: ...
    def delete(self, credential_id: str) -> None: ...


class Registry(Protocol):
    """The registry preflight (``imagedeploy.registry.RegistryClient`` implements it)."""

    def inspect(
        self, ref: ImageReference, credential: RegistryCredential | None = None
    ) -> PreflightResult: ...

    def check_digest_exists(
        self, ref: ImageReference, credential: RegistryCredential | None = None
    ) -> None: ...

    def with_budget(self, seconds: float) -> Registry:
        """The same registry, each operation limited to ``seconds`` (an API request's budget)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything a runtime needs to start containers of one deploy, pre-deploy or cron run."""

    service_id: str
    deploy_id: str
    image: str  # repository@<linux/amd64 manifest digest>, never a tag
    command: tuple[str, ...] | None  # None: the image's CMD
    env: Mapping[str, str]  # service env vars plus the injected platform variables
    resources: Resources
    port: int | None
    health_check_path: str
    num_instances: int
    stop_timeout_seconds: int
    credential: RegistryCredential | None
    credential_id: str | None = None  # the stored credential (AWS: its secret for ECS pulls)
    internal_host: str = ""  # private services: the name other services reach it by
    route_port: int | None = None  # web services on the embedded runtime: the stable local port
    slug: str = ""  # the service's unique host name label (readable AWS resource names)
    owner_id: str = ""  # the workspace (AWS: also its security group for private services)
    service_name: str = ""


@dataclass(frozen=True, slots=True)
class Instance:
    """One running instance of a service: locally its container's ``imagedeploy.instance``
    label (also its ``RENDER_INSTANCE_ID``), on AWS its ECS task id."""

    id: str
    created_at: datetime


class Runtime(Protocol):
    """Runs containers. Every method returns quickly and is idempotent per deploy or run;
    outcomes come back later as signals to the use cases, the same way from podman as from ECS
    events. Every container pulls ``RunSpec.image`` (a digest) afresh."""

    def allocate_port(self, service_id: str) -> int | None:
        """A stable local port for a web service's route (embedded runtime); None where the
        platform routes by host name (AWS)."""
        ...

    def start_pre_deploy(self, spec: RunSpec, execution_id: str) -> None: ...
    def start_rollout(self, spec: RunSpec) -> None:
        """Start ``spec.num_instances`` new instances; once all are healthy, switch traffic to
        them, then stop the previous deploy's instances (SIGTERM, then SIGKILL after
        ``spec.stop_timeout_seconds``)."""
        ...

    def cancel(self, service_id: str, deploy_id: str) -> None:
        """Stop this deploy's pre-deploy task and new instances; the live version keeps serving."""
        ...

    def converge(self, spec: RunSpec) -> None:
        """Make exactly ``spec.num_instances`` instances of the live deploy run (scale, resume,
        replacing crashed instances)."""
        ...

    def restart(self, spec: RunSpec) -> None:
        """Replace every instance of the live deploy with a fresh one, without downtime."""
        ...

    def suspend(self, service_id: str) -> None: ...
    def remove(self, service_id: str) -> None: ...
    def start_cron_run(self, spec: RunSpec, run_id: str) -> None: ...
    def stop_cron_run(self, service_id: str, run_id: str) -> None: ...
    def start_job(self, spec: RunSpec, job_id: str) -> None:
        """Run a one-off job once (idempotent per job); its end comes back as
        ``usecases.jobs.job_ended``."""
        ...

    def stop_job(self, service_id: str, job_id: str) -> None: ...
    def list_instances(self, service_id: str) -> list[Instance]:
        """The live instances of a long-running service, oldest first (none for cron jobs or
        a suspended service)."""
        ...


@runtime_checkable
class DescribesDeploys(Protocol):
    """An optional capability of a ``Runtime``: reading back what the platform says about one
    deploy, so that the reconcile step repairs a lost outcome signal (a lost ECS event) instead
    of letting the deploy time out. Runtimes whose signals cannot be lost (the local one) do not
    implement it; use cases check with ``isinstance(runtime, DescribesDeploys)``."""

    def describe_deploy(self, service_id: str, deploy_id: str) -> Signal | None:
        """The signal the platform's current state implies for the deploy's current phase: a
        completed rollout ``RolloutHealthy``, a failed one ``InstanceFailed`` or ``PullFailed``,
        a stopped pre-deploy task ``PreDeployExited`` or ``PullFailed``. None while the phase is
        still in progress, or when the platform cannot tell (the deploy machine ignores a signal
        that does not apply to the deploy's phase)."""
        ...


@runtime_checkable
class PrunesRevisions(Protocol):
    """An optional capability of a ``Runtime`` that keeps a version of what it ran per deploy
    (ECS task definition revisions): deleting the ones nothing runs or rolls back to. Run as
    the ``prune_revisions`` job (``usecases.worker``), never in a request."""

    def prune_revisions(self, service_id: str) -> None: ...


@runtime_checkable
class DescribesJobs(Protocol):
    """An optional capability of a ``Runtime``: how a one-off job's task ended, read back from
    the platform, so reconcile ends a job whose end event was lost (ECS)."""

    def job_end(self, job_id: str) -> RunEnd | None:
        """The job's end if its task has stopped; None while it runs or when unknown."""
        ...


class Scheduler(Protocol):
    """Fires cron jobs: ``usecases.cron.tick`` at every time the schedule names (UTC)."""

    def set_schedule(self, service_id: str, schedule: str) -> None: ...
    def remove_schedule(self, service_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Job:
    """Slow work handed off by a request so the request never waits on a registry or a runtime:
    ``kind`` names the use case (``usecases.worker.run_job`` dispatches), ``subject`` its id."""

    kind: str
    subject: str


class Jobs(Protocol):
    """An at-least-once queue of jobs (a worker thread locally, SQS on AWS)."""

    def enqueue(self, job: Job, delay_seconds: int = 0) -> None:
        """Run ``job`` once ``delay_seconds`` (at most 900) have passed."""
        ...


class Notifier(Protocol):
    """Broadcasts an event the notification settings let out (SNS on AWS), as
    ``usecases.notifications.notify`` decided. Best effort: it must never raise."""

    def notify(self, service: Service, event: Event) -> None: ...


class NoBroadcast:
    """The ``Notifier`` of a home without a broadcast channel (``serve``)."""

    def notify(self, service: Service, event: Event) -> None:
        return None


class WebhookSender(Protocol):
    """Delivers one event to one webhook the use case chose (the ``webhook`` job), retrying
    within its own bounds, and says how it went. Never raises."""

    def deliver(self, webhook: Webhook, event: Event, delivery_id: str) -> WebhookDelivery: ...


class WebhookTargets(Protocol):
    """Which URLs may receive webhooks: the egress policy the notifier delivers with
    (``imagedeploy.net.EgressPolicy``), asked when a webhook is created or its URL changed."""

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not receive webhooks (a message saying how to fix it), or None."""
        ...


class Metrics(Protocol):
    """Resource and HTTP series of services (``domain.metrics``): sampled from the engine and
    the router locally, CloudWatch on AWS. ``services`` are the query's resources, checked by
    the use case (owned; web services only for HTTP metrics)."""

    def series(self, query: MetricQuery, services: Sequence[Service]) -> list[Series]: ...


class NoMetrics:
    """The ``Metrics`` of a home that keeps none: every series is empty."""

    def series(self, query: MetricQuery, services: Sequence[Service]) -> list[Series]:
        return []


@dataclass(frozen=True, slots=True)
class Limits:
    """Tunables the use cases enforce (from ``Settings``)."""

    deploys_per_minute: int = 10
    deploy_timeout_seconds: int = 15 * 60
    pre_deploy_timeout_seconds: int = 30 * 60
    cron_run_timeout_seconds: int = 12 * 3600
    effect_retry_seconds: int = 300  # how long a failing effect is retried (the outbox)


@dataclass(frozen=True, slots=True)
class Ports:
    """The adapters a use case may use, bundled so signatures stay short."""

    store: Store
    secrets: SecretStore
    registry: Registry
    runtime: Runtime
    scheduler: Scheduler
    notifier: Notifier
    webhooks: WebhookSender
    webhook_targets: WebhookTargets
    jobs: Jobs
    clock: Clock
    limits: Limits = Limits()
    metrics: Metrics = field(default_factory=NoMetrics)


class LogReader(Protocol):
    """Reads the lines services' containers wrote (``domain.logs``): a SQLite file kept by
    ``serve``'s collector, CloudWatch Logs on AWS. Both answer with ``domain.logs.cut_page``."""

    def query(self, query: LogQuery, maskers: Mapping[str, Masker]) -> LogPage:
        """The page of lines ``query`` asks for, each masked by its resource's masker."""
        ...

    def values(self, query: LogQuery, label: str) -> list[str]:
        """The distinct values of ``label`` among the lines ``query`` matches (sorted)."""
        ...


class FollowsLogs(Protocol):
    """A ``LogReader`` that can also hand out new lines as they are stored (``serve``'s)."""

    def follow(
        self, query: LogQuery, after_id: int | None, maskers: Mapping[str, Masker]
    ) -> tuple[list[LogLine], int]:
        """Lines stored after ``after_id`` (None: from now on) that ``query`` matches, its
        end time ignored, in the order stored; and the position to follow from next."""
        ...
