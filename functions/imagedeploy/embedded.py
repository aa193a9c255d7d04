"""The composition root of the embedded default: everything ``imagedeploy serve`` runs in one
process — the API over HTTP (waitress), the job worker, the cron scheduler, the web router and
the container runtime — wired to the same use cases the AWS handlers use.

Start order: store → router → runtime → HTTP (the API answers from here) → resume (adopt running
containers, route, schedule, re-derive in-flight work) → jobs → scheduler → periodic reconcile.
Jobs that requests enqueue before the resume ends wait in the queue (``Embedded.serve_api``).
Stop is the reverse; containers keep running and a restarted ``serve`` adopts them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from imagedeploy.adapters.local.datadir import ServeLock, open_data_dir, write_private
from imagedeploy.adapters.local.engine_api import EngineApi
from imagedeploy.adapters.local.engine_service import EngineService
from imagedeploy.adapters.local.http_observer import ObservedRequest
from imagedeploy.adapters.local.jobs import ThreadJobs
from imagedeploy.adapters.local.log_collector import LogCollector
from imagedeploy.adapters.local.log_store import SqliteLogStore
from imagedeploy.adapters.local.metrics import MetricsSampler, MetricsStore
from imagedeploy.adapters.local.periodic import Periodic
from imagedeploy.adapters.local.request_sink import request_sink
from imagedeploy.adapters.local.router import Router
from imagedeploy.adapters.local.runtime import INSTANCE as INSTANCE_LABEL
from imagedeploy.adapters.local.runtime import SERVICE as SERVICE_LABEL
from imagedeploy.adapters.local.runtime import LocalRuntime
from imagedeploy.adapters.local.scheduler import InProcessScheduler
from imagedeploy.adapters.local.secrets import EncryptedFileSecretStore, load_or_create_key
from imagedeploy.adapters.local.sqlite_store import SqliteStore
from imagedeploy.adapters.webhooks import WebhookSender
from imagedeploy.api.app import build_resolver
from imagedeploy.api.deps import ApiDeps, LogPage, request_ports
from imagedeploy.api.http_server import api_server, stop_server
from imagedeploy.api.log_stream import LogStreamer
from imagedeploy.api.wsgi import wsgi_app
from imagedeploy.domain.cron import RunEnd, RunStatus
from imagedeploy.domain.deploy_machine import Signal
from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.outbox import Effect
from imagedeploy.domain.outcomes import ServerFailure
from imagedeploy.domain.services import ServiceType
from imagedeploy.net.egress import Home, registry_egress, webhook_egress
from imagedeploy.ports import Job, Limits, NoBroadcast, Ports
from imagedeploy.registry import RegistryClient
from imagedeploy.settings import Settings
from imagedeploy.usecases import api_keys, cron, deploys, instances, outbox, reconcile
from imagedeploy.usecases import jobs as one_off_jobs
from imagedeploy.usecases import logs as service_logs
from imagedeploy.usecases.notifications import WEBHOOK_JOB
from imagedeploy.usecases.unit_of_work import DELIVERY_JOB
from imagedeploy.usecases.worker import run_job

logger = logging.getLogger(__name__)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class _JobsByKind:
    """One ``Jobs`` port over several queues: a job goes to its kind's queue, else ``default``."""

    default: ThreadJobs
    by_kind: dict[str, ThreadJobs]

    def enqueue(self, job: Job, delay_seconds: int = 0) -> None:
        self.by_kind.get(job.kind, self.default).enqueue(job, delay_seconds)


@dataclass
class _Reports:
    """The runtime's outcomes, delivered to the use cases (``ports`` is set once built)."""

    ports: Ports | None = None

    def _ports(self) -> Ports:
        assert self.ports is not None
        return self.ports

    def deploy_signal(self, deploy_id: str, signal: Signal) -> None:
        deploys.handle_signal(self._ports(), deploy_id, signal)

    def run_ended(self, run_id: str, status: RunStatus, exit_code: int | None, reason: str) -> None:
        cron.run_ended(self._ports(), run_id, status, exit_code, reason)

    def job_ended(self, job_id: str, end: RunEnd) -> None:
        one_off_jobs.job_ended(self._ports(), job_id, end)

    def instance_failed(self, service_id: str, instance_id: str, failure: ServerFailure) -> None:
        instances.instance_failed(self._ports(), service_id, instance_id, failure)

    def instance_available(self, service_id: str) -> None:
        instances.instance_available(self._ports(), service_id)

    def instance_pull_failed(
        self, service_id: str, image: str, reason: PullFailureReason, message: str
    ) -> None:
        instances.instance_pull_failed(self._ports(), service_id, image, reason, message)

    def effect_failed(self, effect: Effect, attempts: int, error: str) -> None:
        outbox.retry_effect(self._ports(), effect, attempts, error)


@dataclass
class Embedded:
    settings: Settings
    data_dir: Path
    host: str
    port: int
    store: SqliteStore
    router: Router
    runtime: LocalRuntime
    jobs: ThreadJobs
    scheduler: InProcessScheduler
    webhook_jobs: ThreadJobs  # webhook deliveries: a slow receiver never holds up a deploy
    webhooks: WebhookSender
    registry: RegistryClient
    ports: Ports
    engine_service: EngineService
    engine: EngineApi
    log_store: SqliteLogStore
    log_collector: LogCollector
    lock: ServeLock | None = None  # this process's hold on the data directory
    api_key: str | None = None  # set when this start created the workspace's first key
    metrics: MetricsSampler | None = None
    _server: Any = None
    _log_stream: LogStreamer | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _reconciler: Periodic | None = None
    _progress: reconcile.Progress = field(default_factory=reconcile.Progress)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Embedded:
        """Serve the API, then resume (``serve_api`` then ``resume``)."""
        return self.serve_api().resume()

    def serve_api(self) -> Embedded:
        """Start the router, then bind and serve the API at once, before the engine is asked
        anything and before the resume: a restart answers requests without waiting for the
        engine's first answer or for thousands of cron schedules.
        What a request changes meanwhile is safe: its jobs (its outbox dispatch, a deploy's
        preflight, a schedule's sync) wait in the job queue, which only starts once ``resume``
        has listed the store, adopted or removed containers and set the schedules, so a job
        never races the resume (a container it made removed as an orphan, a schedule it
        synced overwritten by an older listing)."""
        self.router.start()
        self.api_key = api_keys.ensure_workspace(self.store, self.ports.clock)
        # Bind first (port 0 picks one), then build the API with its real base URL.
        api: dict[str, Any] = {}
        self._server = api_server(
            lambda environ, start_response: api["wsgi"](environ, start_response),
            lambda path, query, headers: api["resolver"].admit_body(path, query, headers),
            host=self.host,
            port=self.port,
            threads=8,
        )
        self.port = self._server.effective_port
        deps = ApiDeps(
            request_ports(self.ports, self.settings),
            self.base_url,
            apps_base_url=self.settings.apps_base_url,
            read_logs=self._read_logs,
            log_reader=self.log_store,
            session_secret=lambda: dashboard_secret(self.settings, self.data_dir),
            session_seconds=self.settings.dashboard_session_seconds,
        )
        resolver = build_resolver(deps)
        self._log_stream = LogStreamer(
            deps, self.log_store, max_subscribers=self.settings.logs_max_subscribers
        )
        api.update(resolver=resolver, wsgi=wsgi_app(resolver, self._log_stream))
        thread = threading.Thread(target=self._server.run, name="http", daemon=True)
        thread.start()
        self._threads.append(thread)
        logger.info("imagedeploy API serving", extra={"url": self.base_url})
        return self

    def resume(self) -> Embedded:
        """Start the runtime (the engine's network, its event stream), resume (adopt, route,
        schedule, re-derive lost jobs), then start the job queues, the scheduler and the
        periodic reconcile."""
        self.engine_service.ready()
        _ = self.engine.kind  # asked now, not by the first deploy or run
        self.runtime.start()
        self.log_collector.start()  # its own event stream; adopts what already runs
        if self.metrics is not None:
            self.metrics.start()
        self._resume()
        self.jobs.start()
        self.webhook_jobs.start()
        self.scheduler.start()
        self._reconciler = Periodic(
            "reconcile",
            30,
            self._reconcile_pass,
            failure="reconcile failed; retrying at the next interval",
        ).start()
        logger.info("imagedeploy serve started", extra={"url": self.base_url})
        return self

    def stop(self) -> None:
        if self._reconciler is not None:
            self._reconciler.stop(5)
        if self._log_stream is not None:
            self._log_stream.stop()
        if self._server is not None:
            stop_server(self._server)
        self.log_collector.stop()
        self.scheduler.stop()
        self.jobs.stop(timeout=10)
        self.webhook_jobs.stop(timeout=10)
        self.webhooks.close()
        self.runtime.stop()
        if self.metrics is not None:
            self.metrics.stop()
        self.engine.close()
        self.engine_service.stop()
        self.router.stop()
        self.registry.close()
        self.log_store.close()
        if self.metrics is not None:
            self.metrics.close()
        self.store.close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.lock is not None:
            self.lock.release()

    def _resume(self) -> None:
        """Adopt what runs, route web services, schedule cron jobs, resume in-flight deploys,
        and remove containers nothing accounts for; one summary log line."""
        keep: set[str] = set()
        schedules: list[tuple[str, str]] = []
        resumed = 0
        cursor: str | None = None
        while True:
            unfinished = self.store.list_unfinished_deploys(100, cursor)
            keep.update(d.id for d in unfinished.items)
            cursor = unfinished.next_cursor
            if cursor is None:
                break
        for owner in self.store.list_owners(100).items:
            services_cursor: str | None = None
            while True:
                page = self.store.list_services(owner.id, 100, services_cursor)
                for service in page.items:
                    if service.type is ServiceType.CRON_JOB and not service.suspended:
                        schedules.append((service.id, service.schedule))
                    if (
                        service.live_deploy_id
                        and not service.suspended
                        and service.type.long_running
                    ):
                        live = self.store.get_deploy(service.live_deploy_id)
                        if live is not None and live.platform_digest:
                            keep.add(live.id)
                            self.runtime.converge(deploys.run_spec(self.ports, service, live))
                            resumed += 1
                services_cursor = page.next_cursor
                if services_cursor is None:
                    break
        scheduled = self.scheduler.set_schedules(schedules)
        self._resume_jobs()
        _, adopted = self.runtime.remove_orphans(keep)
        reconcile.reconcile(self.ports, resume=True)
        logger.info(
            "resumed %d services, %d cron schedules, adopted %d containers",
            resumed,
            scheduled,
            adopted,
            extra={"services": resumed, "cron_schedules": scheduled, "adopted": adopted},
        )

    def _resume_jobs(self) -> None:
        """Watch again the one-off jobs that were running: starting a job again finds its
        container by name (adopted, or ended while serve was down) instead of a second one."""
        cursor: str | None = None
        while True:
            page = self.store.list_unfinished_jobs(100, cursor)
            for job in page.items:
                spec = one_off_jobs.job_spec(self.ports, job)
                if spec is not None:
                    self.runtime.start_job(spec, job.id)
            cursor = page.next_cursor
            if cursor is None:
                return

    def _reconcile_pass(self) -> None:
        budget = self.settings.reconcile_budget_seconds
        reconcile.reconcile(self.ports, budget_seconds=budget, progress=self._progress)

    def _read_logs(self, subject_id: str, offset: int, limit: int | None) -> LogPage | None:
        path = self.runtime.logs_path(subject_id)
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(offset)
                return LogPage(
                    handle.read(-1 if limit is None else limit).decode(errors="replace"), size
                )
        except FileNotFoundError:
            return None


def dashboard_secret(settings: Settings, data_dir: Path) -> bytes:
    """The dashboard's session secret: the setting, else a key kept in the data dir (0600)."""
    if settings.dashboard_session_secret is not None:
        return settings.dashboard_session_secret.get_secret_value().encode()
    return load_or_create_key(data_dir / "dashboard.key")


def installation_id(data_dir: Path) -> str:
    """A stable id for this data directory, labelled on every container it starts, so two
    ``serve`` processes on one machine never adopt or remove each other's containers."""
    path = data_dir / "installation-id"
    if not path.exists():
        write_private(path, new_id("ins") + "\n")
    return path.read_text().strip()


def build(
    settings: Settings,
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    engine_service: EngineService | None = None,
) -> Embedded:
    """Everything ``serve`` runs, wired, once the data directory is checked (private,
    writable) and locked; ``DataDirError`` or ``SecretStoreError`` say what to fix.
    ``engine_service``: one opened earlier (stopped if this fails); default: the settings'
    engine, podman's service spawned, not waited for (``Embedded.resume`` waits for it)."""
    try:
        lock = open_data_dir(data_dir)
        try:
            engine_service = engine_service or EngineService.open(
                settings.container_engine_socket, binary=settings.container_engine, wait=False
            )
            return _build(settings, data_dir, lock, engine_service, host=host, port=port)
        except BaseException:
            lock.release()
            raise
    except BaseException:
        if engine_service is not None:
            engine_service.stop()
        raise


def _build(
    settings: Settings,
    data_dir: Path,
    lock: ServeLock,
    engine_service: EngineService,
    *,
    host: str,
    port: int,
) -> Embedded:
    clock = SystemClock()
    installation = installation_id(data_dir)
    store = SqliteStore(data_dir / "state.db")
    reports = _Reports()
    observed: dict[str, Callable[[str, ObservedRequest], None]] = {}
    router = Router(host, on_request=lambda sid, req: observed["sink"](sid, req))
    engine = EngineApi(engine_service.socket)
    holder: dict[str, Ports] = {}  # set once built; the callbacks below read it when called
    log_store = SqliteLogStore(data_dir / "logs.sqlite")

    log_collector = LogCollector(
        engine,
        log_store,
        lambda service_id: service_logs.masker_of(holder["ports"], service_id),
        installation=installation,
        retention=timedelta(days=settings.logs_retention_days),
        max_bytes=settings.logs_max_bytes,
        max_followers=settings.logs_max_followers,
        resync_seconds=settings.engine_resync_seconds,
    )
    runtime = LocalRuntime(
        engine,
        router,
        reports,
        data_dir / "logs",
        deploy_timeout_seconds=settings.deploy_timeout_seconds,
        pre_deploy_timeout_seconds=settings.pre_deploy_timeout_seconds,
        cron_timeout_seconds=settings.cron_run_timeout_seconds,
        apply_limits=settings.container_limits,
        installation=installation,
        output_max_bytes=settings.pre_deploy_output_max_bytes,
        resync_seconds=settings.engine_resync_seconds,
        on_engine_lost=engine_service.ensure_running,
        before_remove=log_collector.drain,
    )
    registry = RegistryClient(settings, egress=registry_egress(settings, Home.SERVE))
    webhook_targets = webhook_egress(settings, Home.SERVE)
    jobs = ThreadJobs(lambda job: run_job(holder["ports"], job), workers=4)
    webhook_jobs = ThreadJobs(
        lambda job: run_job(holder["ports"], job), workers=2, name="imagedeploy-webhooks"
    )
    scheduler = InProcessScheduler(
        lambda service_id: jobs.enqueue(Job("cron_tick", service_id)), clock=clock
    )
    webhooks = WebhookSender(
        clock=clock,
        egress=webhook_targets,
        timeout=settings.webhook_timeout_seconds,
        max_attempts=settings.webhook_max_attempts,
        budget_seconds=settings.webhook_budget_seconds,
    )
    metrics = MetricsSampler(
        MetricsStore(data_dir / "metrics.db"),
        runtime.running_instances,
        engine.stats,
        interval_seconds=settings.metrics_sample_seconds,
        retention_seconds=settings.metrics_retention_seconds,
        service_label=SERVICE_LABEL,
        instance_label=INSTANCE_LABEL,
    )
    ports = Ports(
        store=store,
        secrets=EncryptedFileSecretStore(data_dir),
        registry=registry,
        runtime=runtime,
        scheduler=scheduler,
        notifier=NoBroadcast(),
        webhooks=webhooks,
        webhook_targets=webhook_targets,
        jobs=_JobsByKind(jobs, {WEBHOOK_JOB: webhook_jobs, DELIVERY_JOB: webhook_jobs}),
        clock=clock,
        limits=Limits(
            deploys_per_minute=settings.deploys_per_minute,
            deploy_timeout_seconds=settings.deploy_timeout_seconds,
            pre_deploy_timeout_seconds=settings.pre_deploy_timeout_seconds,
            cron_run_timeout_seconds=settings.cron_run_timeout_seconds,
            effect_retry_seconds=settings.effect_retry_seconds,
        ),
        metrics=metrics,
    )
    holder["ports"] = ports
    reports.ports = ports
    observed["sink"] = request_sink(log_collector, metrics)
    return Embedded(
        settings,
        data_dir,
        host,
        port,
        store,
        router,
        runtime,
        jobs,
        scheduler,
        webhook_jobs,
        webhooks,
        registry,
        ports,
        engine_service,
        engine,
        log_store,
        log_collector,
        lock,
        metrics=metrics,
    )
