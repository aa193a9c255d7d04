"""``LocalRuntime``: the ``Runtime`` port on one machine, with podman or docker.

Every operation returns at once and runs in a worker thread of one of two bounded queues
(``work.WorkQueue``): rollouts and service operations in one, cron runs and pre-deploy commands in
the other, so a flood of runs never delays a deploy. No thread waits for a container to exit: the
engine's event stream (``watcher.EngineWatcher``, one connection for all containers) says when
one dies or is OOM-killed, and a full resync every ``resync_seconds`` (one list request) is the
safety net. Outcomes go back to the use cases through ``RuntimeReports`` (the composition root
wires it to ``usecases.deploys.handle_signal`` and friends). Containers carry labels (service, deploy, role, run) so that a restarted ``serve``
finds what it started, and so every operation is idempotent per deploy.

Zero downtime: a rollout starts the new instances, waits until each is healthy (HTTP
``healthCheckPath`` 2xx/3xx, else a TCP connect; workers: still running after a short grace),
switches the router, reports the rollout healthy, then drains and stops the old instances with
SIGTERM and ``maxShutdownDelaySeconds`` before SIGKILL. Any new instance that cannot pull, exits
or is OOM-killed fails the rollout at once; the old version keeps serving.
"""

from __future__ import annotations

import logging
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from imagedeploy.adapters.local.datadir import ensure_private_dir
from imagedeploy.adapters.local.diagnosis import with_explanation
from imagedeploy.adapters.local.engine import (
    ContainerSpec,
    ContainerState,
    Engine,
    EngineError,
    EngineEvent,
    EnginePullError,
    EngineStartError,
    PortBinding,
    RegistryAuth,
)
from imagedeploy.adapters.local.health import wait_healthy
from imagedeploy.adapters.local.output import keep_tail
from imagedeploy.adapters.local.router import Router
from imagedeploy.adapters.local.watcher import EngineWatcher
from imagedeploy.adapters.local.work import WorkQueue
from imagedeploy.domain.cron import RunEnd, RunStatus, run_outcome
from imagedeploy.domain.deploy_machine import (
    InstanceFailed,
    Phase,
    PreDeployExited,
    PullFailed,
    RolloutHealthy,
    Signal,
)
from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.outbox import (
    Converge,
    Effect,
    Restart,
    StartCronRun,
    StartJob,
    StartPreDeploy,
    StartRollout,
)
from imagedeploy.domain.outcomes import (
    EarlyExit,
    NonZeroExit,
    OomKilled,
    ServerFailure,
    Unhealthy,
)
from imagedeploy.domain.outcomes import PullFailed as PullFailedOutcome
from imagedeploy.domain.reference import parse_reference
from imagedeploy.domain.registries import uses_plain_http
from imagedeploy.ports import Instance, RunSpec

logger = logging.getLogger(__name__)

NETWORK = "imagedeploy"
END_DEFER_SECONDS = 10.0  # the longest a run's end waits for a burst of run starts
MANAGED = "imagedeploy.managed"
SERVICE = "imagedeploy.service"
DEPLOY = "imagedeploy.deploy"
ROLE = "imagedeploy.role"
RUN = "imagedeploy.run"
JOB = "imagedeploy.job"  # a one-off job's id
INSTANCE = "imagedeploy.instance"
INSTALLATION = "imagedeploy.installation"  # which serve (data directory) owns the container
HOST_PORT = "imagedeploy.host_port"  # the loopback port an instance is published on


def installation_filter(installation: str) -> dict[str, str]:
    """The labels of every container this installation (data directory) started."""
    return {MANAGED: "1", INSTALLATION: installation}


class RuntimeReports(Protocol):
    """Where the runtime's outcomes go (the use cases, wired by ``serve``)."""

    def deploy_signal(self, deploy_id: str, signal: Signal) -> None: ...
    def run_ended(
        self, run_id: str, status: RunStatus, exit_code: int | None, reason: str
    ) -> None: ...
    def job_ended(self, job_id: str, end: RunEnd) -> None: ...
    def instance_failed(
        self, service_id: str, instance_id: str, failure: ServerFailure
    ) -> None: ...
    def instance_available(self, service_id: str) -> None: ...
    def instance_pull_failed(
        self, service_id: str, image: str, reason: PullFailureReason, message: str
    ) -> None: ...
    def effect_failed(self, effect: Effect, attempts: int, error: str) -> None:
        """The engine failed a container's creation for ``effect`` (its ``attempts``-th time in
        a row): the effect is retried as the outbox retries one, or fails what it was for."""
        ...


class EngineCreateFailed(EngineError):
    """The engine failed to create (or pull for) a container: an error, no answer. Not a fact
    about the container: the effect that asked for it is retried with the outbox's policy."""

    code = "engine_create_failed"


@dataclass
class _Live:
    """What a service runs now: its spec and its instance containers."""

    spec: RunSpec
    instances: dict[str, int | None] = field(default_factory=dict)  # container id -> host port


@dataclass
class _Run:
    """A cron run (``key``: run id), one-off job (``key``: job id) or pre-deploy command
    (``key``: deploy id) whose container runs; its end comes from the event stream (or the
    resync)."""

    role: str  # "cron", "job" or "pre_deploy"
    key: str
    spec: RunSpec
    container_id: str | None = None


class LocalRuntime:
    def __init__(
        self,
        engine: Engine,
        router: Router,
        reports: RuntimeReports,
        logs_dir: Path,
        *,
        deploy_timeout_seconds: float = 15 * 60,
        pre_deploy_timeout_seconds: float = 30 * 60,
        cron_timeout_seconds: float = 12 * 3600,
        worker_grace_seconds: float = 3.0,
        resync_seconds: float = 60.0,
        apply_limits: bool = True,
        rollout_workers: int = 16,
        # Enough for a minute's burst of cron runs to reach the engine at once: a worker is busy
        # only for a run's create and start requests, and with fewer workers than the burst the
        # last runs waited for a whole create + start of others (the burst's p99, issue 13).
        run_workers: int = 64,
        queue_capacity: int = 10_000,
        installation: str = "default",
        output_max_bytes: int = 1024 * 1024,
        on_engine_lost: Callable[[], object] | None = None,
        before_remove: Callable[[str, Mapping[str, str] | None], object] | None = None,
    ) -> None:
        """``before_remove(container_id, labels)``: called before a container that has exited
        is removed (the log collector reads what it has not read yet; the engine's copy of the
        output goes with the container)."""
        self._before_remove = before_remove or (lambda container_id, labels: None)
        self._output_max_bytes = output_max_bytes
        self._installation = installation
        self._engine = engine
        self._router = router
        self._reports = reports
        # Made now, while ``serve`` is built and a full disk is still a clean refusal: once the
        # API answers, a failing disk must only fail requests (503), never the process.
        self._logs_dir = ensure_private_dir(logs_dir)
        self._deploy_timeout = deploy_timeout_seconds
        self._pre_deploy_timeout = pre_deploy_timeout_seconds
        self._cron_timeout = cron_timeout_seconds
        self._worker_grace = worker_grace_seconds
        self._apply_limits = apply_limits
        self._rollouts = WorkQueue("rollouts", workers=rollout_workers, capacity=queue_capacity)
        self._runs_queue = WorkQueue("runs", workers=run_workers, capacity=queue_capacity)
        self._lock = threading.RLock()
        # Run starts in flight: the end of a run (inspect, output, remove) waits for them, so a
        # minute's burst of cron runs gets the engine first (``_end_run``).
        self._run_starts = 0
        self._run_starts_done = threading.Condition(self._lock)
        self._live: dict[str, _Live] = {}
        self._canceled: set[str] = set()  # deploy ids
        self._removed: set[str] = set()  # service ids: every deploy of theirs is abandoned
        self._rolling: set[str] = set()  # deploy ids whose rollout is queued or running
        self._create_failures: dict[Effect, int] = {}  # failed creates in a row, per effect
        self._canceled_runs: set[str] = set()  # cron run ids
        self._retiring: set[str] = set()  # container ids being drained and stopped
        self._busy: dict[str, threading.Lock] = {}  # one operation at a time per service
        self._runs: dict[str, _Run] = {}  # run id / deploy id -> its running container
        self._starting: set[str] = set()  # instances started and not yet healthy
        # container id -> its instance id (label), for the router's request lines
        self._instance_ids: dict[str, str] = {}
        self._exited: set[str] = set()  # of those, the ones the engine says have exited
        self._stopping = threading.Event()
        self._mine = installation_filter(installation)
        self._watcher = EngineWatcher(
            lambda since: engine.events(self._mine, since=since),
            self._on_event,
            self._resync,
            resync_seconds=resync_seconds,
            on_disconnect=on_engine_lost,
        )

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> LocalRuntime:
        self._engine.ensure_network(NETWORK, labels={MANAGED: "1"})
        self._watcher.start()
        return self

    def stop(self) -> None:
        """Stop watching; containers keep running (a restarted ``serve`` adopts them)."""
        self._stopping.set()
        self._watcher.stop()
        self._rollouts.stop()
        self._runs_queue.stop()

    def remove_orphans(self, keep_deploys: set[str]) -> tuple[list[str], int]:
        """At start-up: remove managed instance containers of deploys that are neither live nor
        in progress (a deleted service's, or a deploy that ended while ``serve`` was down).
        Returns the removed ids and how many instance containers were kept (adopted)."""
        removed = []
        kept = 0
        for state in self._engine.list({**self._mine, ROLE: "instance"}):
            if state.labels.get(DEPLOY) not in keep_deploys:
                self._removing(state.id, state.labels)
                self._engine.remove(state.id)
                removed.append(state.id)
            else:
                kept += 1
        if removed:
            logger.info("orphan containers removed", extra={"count": len(removed)})
        return removed, kept

    def logs_path(self, subject_id: str) -> Path:
        """Where the output of a pre-deploy (deploy id) or cron run (run id) is kept."""
        return self._logs_dir / f"{subject_id}.log"

    # -- Runtime port -------------------------------------------------------------------------
    def allocate_port(self, service_id: str) -> int | None:
        return self._router.add_route(service_id, 0)

    def start_pre_deploy(self, spec: RunSpec, execution_id: str) -> None:
        self._runs_queue.submit(self._start_run, spec, "pre_deploy", spec.deploy_id)

    def start_rollout(self, spec: RunSpec) -> None:
        # Once per deploy while it is queued or running: after a restart of ``serve`` both the
        # outbox record that was being dispatched and the reconcile pass's resume ask for it.
        with self._lock:
            if spec.deploy_id in self._rolling:
                return
            self._rolling.add(spec.deploy_id)
        try:
            self._submit(spec.service_id, self._rollout, spec)
        except BaseException:
            with self._lock:
                self._rolling.discard(spec.deploy_id)
            raise

    def cancel(self, service_id: str, deploy_id: str) -> None:
        with self._lock:
            self._canceled.add(deploy_id)
        self._rollouts.submit(self._remove_deploy_containers, service_id, deploy_id)

    def converge(self, spec: RunSpec) -> None:
        self._submit(spec.service_id, self._converge, spec)

    def restart(self, spec: RunSpec) -> None:
        self._submit(spec.service_id, self._replace_all, spec, None)

    def suspend(self, service_id: str) -> None:
        self._submit(service_id, self._suspend, service_id)

    def remove(self, service_id: str) -> None:
        # Recorded first: a rollout in progress (holding the service's lock, its instance
        # waiting to be healthy) gives up at once instead of when its deploy times out.
        with self._lock:
            self._removed.add(service_id)

        def remove() -> None:
            self._suspend(service_id)
            self._router.remove_route(service_id)

        self._submit(service_id, remove)

    def start_cron_run(self, spec: RunSpec, run_id: str) -> None:
        self._runs_queue.submit(self._start_run, spec, "cron", run_id)

    def start_job(self, spec: RunSpec, job_id: str) -> None:
        self._runs_queue.submit(self._start_run, spec, "job", job_id)

    def stop_job(self, service_id: str, job_id: str) -> None:
        self._cancel_run(JOB, job_id)

    def list_instances(self, service_id: str) -> list[Instance]:
        """The live instances, by their ``imagedeploy.instance`` label (the container's
        ``RENDER_INSTANCE_ID``), oldest first: one list request."""
        with self._lock:
            live = self._live.get(service_id)
            serving = set(live.instances) if live is not None else set()
        if not serving:
            return []
        labels = {**self._mine, SERVICE: service_id, ROLE: "instance"}
        found = [
            Instance(s.labels.get(INSTANCE) or s.name, s.created_at or _EPOCH)
            for s in self._engine.list(labels, all=False)
            if s.id in serving and s.running
        ]
        return sorted(found, key=lambda i: (i.created_at, i.id))

    def running_instances(self) -> list[ContainerState]:
        """Every running instance container of this installation (one list request; the
        metrics sampler's pass)."""
        return self._engine.list({**self._mine, ROLE: "instance"}, all=False)

    def stop_cron_run(self, service_id: str, run_id: str) -> None:
        self._cancel_run(RUN, run_id)

    def _cancel_run(self, label: str, key: str) -> None:
        """Stop the container of a cron run (``label`` RUN) or one-off job (JOB). Recorded
        first: a run whose container is not started yet never starts, and one that is starting
        is stopped by its own thread once it has an id (``_start_run``)."""
        with self._lock:
            self._canceled_runs.add(key)

        def stop() -> None:
            for state in self._engine.list({label: key}):
                self._engine.stop(state.id, 10)

        self._runs_queue.submit(stop)

    # -- operations (worker threads) ------------------------------------------------------------
    def _submit(self, service_id: str, operation: Callable[..., None], *args: Any) -> None:
        """Queue ``operation`` on the rollouts queue, one operation at a time per service."""
        with self._lock:
            lock = self._busy.setdefault(service_id, threading.Lock())

        def serialized() -> None:
            with lock:
                operation(*args)

        serialized.__name__ = operation.__name__
        self._rollouts.submit(serialized)

    def _rollout(self, spec: RunSpec) -> None:
        try:
            self._roll_out(spec)
        finally:
            with self._lock:
                self._rolling.discard(spec.deploy_id)

    def _roll_out(self, spec: RunSpec) -> None:
        if self._abandoned(spec):
            return  # canceled (or its service removed) while it waited for the service
        started = self._start_healthy(spec, StartRollout(spec.deploy_id), phase=Phase.ROLLOUT)
        if started is None:
            return
        if self._abandoned(spec):
            self._stop_containers(list(started), spec.stop_timeout_seconds)
            return
        previous = self._live.get(spec.service_id)
        self._switch(spec, started)
        self._reports.deploy_signal(spec.deploy_id, RolloutHealthy())
        self._retire(spec.service_id, previous, keep=set(started))

    def _replace_all(self, spec: RunSpec, _: object) -> None:
        """Restart: fresh instances of the same deploy, switched in once healthy."""
        if self._abandoned(spec):
            return
        started = self._start_healthy(spec, Restart(spec.service_id), phase=None)
        if started is None:
            return
        previous = self._live.get(spec.service_id)
        self._switch(spec, started)
        self._retire(spec.service_id, previous, keep=set(started))

    def _converge(self, spec: RunSpec) -> None:
        """Adopt running instances of ``spec.deploy_id`` and start or stop to reach the count."""
        if self._abandoned(spec):
            return  # the service was removed: nothing of it runs again
        with self._lock:
            retiring = set(self._retiring)
        running = {
            s.id: s
            for s in self._engine.list(
                {SERVICE: spec.service_id, DEPLOY: spec.deploy_id, ROLE: "instance"}
            )
            if s.id not in retiring
        }
        alive = [s for s in running.values() if s.running]
        for dead in (s for s in running.values() if not s.running):
            self._removing(dead.id, dead.labels)
            self._engine.remove(dead.id)
        instances = {s.id: self._port_of(s, spec) for s in alive}
        with self._lock:
            self._instance_ids.update((s.id, s.labels.get(INSTANCE, "")) for s in alive)
        missing = spec.num_instances - len(instances)
        if missing > 0:
            more = self._start_healthy(spec, Converge(spec.service_id), phase=None, count=missing)
            if more is None:
                return
            instances.update(more)
        extra = list(instances)[spec.num_instances :]
        for container_id in extra:
            instances.pop(container_id)
        self._switch(spec, instances)
        self._stop_containers(extra, spec.stop_timeout_seconds)

    def _suspend(self, service_id: str) -> None:
        with self._lock:
            live = self._live.pop(service_id, None)
        self._router.set_backends(service_id, []) if self._has_route(service_id) else None
        # Every container of the service: instances, and a cron job's running run too.
        states = self._engine.list({SERVICE: service_id})
        with self._lock:
            self._canceled_runs.update(s.labels[RUN] for s in states if RUN in s.labels)
            self._canceled_runs.update(s.labels[JOB] for s in states if JOB in s.labels)
        timeout = live.spec.stop_timeout_seconds if live else 30
        self._stop_containers([s.id for s in states], timeout)

    def _run_canceled(self, run: _Run) -> bool:
        with self._lock:
            if run.role in ("cron", "job"):
                return run.key in self._canceled_runs
            return run.key in self._canceled

    def _start_run(self, spec: RunSpec, role: str, key: str) -> None:
        """Start (or, after a restart of ``serve``, find) the container of a cron run or
        pre-deploy command and return: its end comes from the event stream (``_end_run``)."""
        run = _Run(role, key, spec)
        if self._run_canceled(run):
            return  # canceled before its container started (the use case recorded the end)
        with self._lock:
            if key in self._runs:
                return  # already running and watched (a repeated start)
            self._runs[key] = run
        # The container is named after the run (or deploy): creating it again fails, and only
        # then is it looked up, so a fresh run costs no list request.
        ended_unwatched = False
        try:
            run_id = key if role in ("cron", "job") else None
            try:
                with self._lock:
                    self._run_starts += 1
                try:
                    run.container_id = self._run_container(spec, role, run_id=run_id)
                finally:
                    with self._lock:
                        self._run_starts -= 1
                        self._run_starts_done.notify_all()
            except EnginePullError:
                raise
            except EngineError as exc:
                if not _NAME_TAKEN.search(exc.message):
                    raise
                labels = _run_labels(role, key)
                existing = self._engine.list(labels)
                if not existing:
                    raise
                run.container_id = existing[0].id
                ended_unwatched = not existing[0].running
        except EnginePullError as exc:
            with self._lock:
                self._runs.pop(key, None)
            self._pull_failed(run, exc)
            return
        except EngineCreateFailed as exc:
            with self._lock:
                self._runs.pop(key, None)
            if not self._run_canceled(run):
                self._create_failed(_start_effect(run), exc)
            return
        except BaseException:
            with self._lock:
                self._runs.pop(key, None)
            raise
        self._created(_start_effect(run))
        if self._run_canceled(run):  # canceled while the container was being started
            self._engine.stop(run.container_id, 10)
        if ended_unwatched:  # it ended while nobody watched (serve was down)
            self._end_run(key, run.container_id, None)

    def _pull_failed(self, run: _Run, exc: EnginePullError) -> None:
        spec = run.spec
        if run.role == "pre_deploy":
            signal = PullFailed(Phase.PRE_DEPLOY, exc.reason, exc.message)
            self._reports.deploy_signal(spec.deploy_id, signal)
            return
        failure = PullFailedOutcome(exc.reason, exc.message)
        if run.role == "job":
            self._reports.job_ended(run.key, run_outcome(exit_code=None, failure=failure))
            return
        self._reports.instance_pull_failed(spec.service_id, spec.image, exc.reason, exc.message)
        self._report_run(run.key, run_outcome(exit_code=None, failure=failure))

    def _end_run(self, key: str, container_id: str, event_exit_code: int | None) -> None:
        """The run's container exited: keep its output, remove it, report how it ended (once).
        Waits (up to ``END_DEFER_SECONDS``) while other runs' containers are being started: in
        a burst the engine serves the starts first; the run's end is recorded a little later."""
        with self._lock:
            self._run_starts_done.wait_for(lambda: self._run_starts == 0, END_DEFER_SECONDS)
        with self._lock:
            run = self._runs.pop(key, None)
        if run is None:
            return  # ended already (an oom and a die event, or the resync and an event)
        state = self._engine.inspect(container_id)
        if state is not None and state.running:  # a stale event: still watched
            with self._lock:
                self._runs.setdefault(key, run)
            return
        code = state.exit_code if state is not None else event_exit_code
        self._keep_logs(container_id, key)
        self._removing(container_id, state.labels if state is not None else None)
        # It has exited: no kill first (a wasted request, refused by the engine, during a
        # minute's burst of cron runs starting); forced only if the plain removal is refused.
        try:
            self._engine.remove(container_id, force=False)
        except EngineError:
            self._engine.remove(container_id)
        if run.role == "pre_deploy":
            if code is not None and not self._run_canceled(run):
                self._reports.deploy_signal(key, PreDeployExited(code))
            return  # no code: removed under us (a cancel); reconcile times out what is left
        oom = state is not None and state.oom_killed
        failure = OomKilled(run.spec.resources.memory_mb) if oom else None
        end = run_outcome(exit_code=code, failure=failure, canceled=self._run_canceled(run))
        if run.role == "job":
            self._reports.job_ended(key, end)
        else:
            self._report_run(key, run_outcome(exit_code=code, failure=failure))

    def _report_run(self, run_id: str, end: RunEnd) -> None:
        self._reports.run_ended(run_id, end.status, end.exit_code, end.reason)

    # -- building blocks ----------------------------------------------------------------------
    def _start_healthy(
        self, spec: RunSpec, effect: Effect, *, phase: Phase | None, count: int | None = None
    ) -> dict[str, int | None] | None:
        """Start ``count`` (default: all) new instances and wait until each is healthy. On a
        failure report it (as a deploy signal during a rollout; the engine failing a create as
        a failed ``effect``, retried by the outbox), remove what was started and return None."""
        started: dict[str, int | None] = {}
        try:
            for _ in range(spec.num_instances if count is None else count):
                container_id, host_port = self._run_instance(spec)
                started[container_id] = host_port
                with self._lock:
                    self._starting.add(container_id)
            self._created(effect)
            for container_id, port in started.items():
                failure = self._wait_instance(spec, container_id, port)
                if failure is not None:
                    self._fail(spec, phase, InstanceFailed(failure))
                    self._stop_containers(list(started), 0)
                    return None
        except EnginePullError as exc:
            self._stop_containers(list(started), 0)
            message = with_explanation(exc.message)  # e.g. a full disk, not the registry
            if phase is not None:
                self._reports.deploy_signal(spec.deploy_id, PullFailed(phase, exc.reason, message))
            else:
                self._reports.instance_pull_failed(spec.service_id, spec.image, exc.reason, message)
            return None
        except EngineCreateFailed as exc:
            self._stop_containers(list(started), 0)
            if not self._abandoned(spec):
                self._create_failed(effect, exc)
            return None
        except EngineError as exc:
            self._stop_containers(list(started), 0)
            self._fail(spec, phase, InstanceFailed(Unhealthy(with_explanation(exc.message))))
            return None
        finally:
            with self._lock:
                self._starting.difference_update(started)
                self._exited.difference_update(started)
        return started

    def _create_failed(self, effect: Effect, exc: EngineCreateFailed) -> None:
        """Hand a failed create back to the outbox (which retries the effect after a backoff,
        or fails what it was for): no thread here waits, nor holds the service's lock."""
        with self._lock:
            attempts = self._create_failures.get(effect, 0) + 1
            self._create_failures[effect] = attempts
        logger.warning(
            "the engine failed a container's creation; retrying the effect",
            extra={"error": exc.message, "effect": type(effect).__name__, "attempts": attempts},
        )
        self._reports.effect_failed(effect, attempts, with_explanation(exc.message))

    def _created(self, effect: Effect) -> None:
        with self._lock:
            self._create_failures.pop(effect, None)

    def _fail(self, spec: RunSpec, phase: Phase | None, signal: InstanceFailed) -> None:
        if phase is not None:
            self._reports.deploy_signal(spec.deploy_id, signal)
        else:
            self._reports.instance_failed(
                spec.service_id, f"{spec.service_id}-replace", signal.failure
            )

    def _wait_instance(
        self, spec: RunSpec, container_id: str, port: int | None
    ) -> ServerFailure | None:
        """None when healthy; else why not. Probing starts at once; an exit
        is known from the event stream (``_exited``), so waiting asks the engine nothing."""

        def exited() -> bool:
            with self._lock:
                return container_id in self._exited

        def gave_up() -> bool:
            return self._abandoned(spec) or self._stopping.is_set() or exited()

        if port is None:  # a worker: healthy if it is still running after the grace period
            deadline = time.monotonic() + self._worker_grace
            while time.monotonic() < deadline and not gave_up():
                time.sleep(0.1)
            healthy = not exited() and not self._abandoned(spec)
        else:
            path = spec.health_check_path or None
            healthy = wait_healthy("127.0.0.1", port, path, self._deploy_timeout, give_up=gave_up)
        if healthy:
            return None
        if self._abandoned(spec):
            return Unhealthy("canceled")
        if exited():
            state = self._engine.inspect(container_id)
            return _exit_failure(state, spec) if state is not None else EarlyExit()
        return Unhealthy(f"no healthy answer within {self._deploy_timeout:g} s", timed_out=True)

    def _run_instance(self, spec: RunSpec) -> tuple[str, int | None]:
        """Start one instance; its loopback port is chosen here, before the start, so nothing
        asks the engine for it afterwards. A port taken in between: try another."""
        for attempt in range(3):
            host_port = free_port() if spec.port is not None else None
            try:
                return self._run_container(spec, "instance", host_port=host_port), host_port
            except EnginePullError:
                raise
            except EngineError as exc:
                if attempt == 2 or not _PORT_TAKEN.search(exc.message):
                    raise
        raise AssertionError("unreachable")

    def _run_container(
        self,
        spec: RunSpec,
        role: str,
        *,
        run_id: str | None = None,
        host_port: int | None = None,
    ) -> str:
        container = container_spec(
            spec,
            role,
            installation=self._installation,
            run_id=run_id,
            host_port=host_port,
            apply_limits=self._apply_limits,
        )
        # The engine failing to create a container (an error, no answer) is a failed effect,
        # retried by the outbox (``_create_failed``); a pull failure or a container that will
        # not start is a fact, reported at once; a name taken means the run's container exists
        # (the caller adopts it); a port taken, another port (``_run_instance``).
        try:
            container_id = self._engine.run(container)
        except (EnginePullError, EngineStartError):
            raise
        except EngineError as exc:
            if _NAME_TAKEN.search(exc.message) or _PORT_TAKEN.search(exc.message):
                raise
            raise EngineCreateFailed(exc.message) from exc
        if role == "instance":
            with self._lock:
                self._instance_ids[container_id] = container.labels.get(INSTANCE, "")
        return container_id

    def _port_of(self, state: ContainerState, spec: RunSpec) -> int | None:
        if spec.port is None:
            return None
        port = state.labels.get(HOST_PORT, "")
        if port.isdigit():
            return int(port)
        try:  # an instance started before ports were labelled
            return self._engine.host_port(state.id, spec.port)
        except EngineError:
            return None

    def _has_route(self, service_id: str) -> bool:
        try:
            self._router.port(service_id)
        except Exception:
            return False
        return True

    def _switch(self, spec: RunSpec, instances: dict[str, int | None]) -> None:
        if spec.route_port is not None:
            if not self._has_route(spec.service_id):
                self._router.add_route(spec.service_id, spec.route_port)
            with self._lock:
                named = {cid: self._instance_ids.get(cid, "") for cid in instances}
            self._router.set_backends(
                spec.service_id,
                [("127.0.0.1", p) for p in instances.values() if p is not None],
                {("127.0.0.1", p): named[cid] for cid, p in instances.items() if p is not None},
            )
        with self._lock:
            self._live[spec.service_id] = _Live(spec, dict(instances))

    def _retire(self, service_id: str, previous: _Live | None, keep: set[str]) -> None:
        """Drain and stop every instance of the service but ``keep`` (the previous deploy's, and
        any left over from before a restart of ``serve``). Which containers go is decided now,
        under the service's lock; the waiting (drain, SIGTERM, the shutdown delay) happens in
        the background, so the next deploy need not wait for old instances to exit."""
        states = self._engine.list({SERVICE: service_id, ROLE: "instance"})
        old = [s.id for s in states if s.id not in keep]
        if not old:
            return
        timeout = previous.spec.stop_timeout_seconds if previous else 30
        backends = []
        if previous is not None:
            backends = [("127.0.0.1", p) for c, p in previous.instances.items() if p and c in old]

        def drain_and_stop() -> None:
            try:
                if backends:
                    self._router.drain(service_id, backends, timeout=timeout)
                self._stop_containers(old, timeout)
            finally:
                with self._lock:
                    self._retiring.difference_update(old)

        with self._lock:
            self._retiring.update(old)

        self._rollouts.submit(drain_and_stop)

    def _stop_containers(self, container_ids: list[str], timeout: int) -> None:
        for container_id in container_ids:
            try:
                self._engine.stop(container_id, timeout)
            except EngineError:
                logger.warning("stopping a container failed", extra={"container": container_id})
            self._removing(container_id, None)  # its follower, if any, ends with it
            self._engine.remove(container_id)

    def _removing(self, container_id: str, labels: Mapping[str, str] | None) -> None:
        """Just before the engine removes ``container_id`` (it has exited or is stopped)."""
        with self._lock:
            self._instance_ids.pop(container_id, None)
        self._before_remove(container_id, labels)

    def _remove_deploy_containers(self, service_id: str, deploy_id: str) -> None:
        live = self._live.get(service_id)
        if live is not None and live.spec.deploy_id == deploy_id:
            return  # never take down what serves
        states = self._engine.list({SERVICE: service_id, DEPLOY: deploy_id})
        self._stop_containers([s.id for s in states], 10)

    def _keep_logs(self, container_id: str, subject_id: str) -> None:
        """Stream the output to its file, keeping the tail (bounded memory)."""
        path = self.logs_path(subject_id)
        try:
            keep_tail(self._engine.stream_logs(container_id), path, self._output_max_bytes)
        except EngineError:
            keep_tail([b"(output unavailable)\n"], path, self._output_max_bytes)

    def _abandoned(self, spec: RunSpec) -> bool:
        """The deploy was canceled, or its service removed."""
        with self._lock:
            return spec.deploy_id in self._canceled or spec.service_id in self._removed

    # -- watching: engine events and the resync ------------------------------------------------
    def _on_event(self, event: EngineEvent) -> None:
        """One engine event (the watcher's thread: quick, no engine request here)."""
        if event.action not in _ENDS:
            return  # start, create, health_status ...: nothing to do (we probe health ourselves)
        labels = event.labels
        role = labels.get(ROLE)
        if role == "instance":
            self._instance_ended(labels.get(SERVICE, ""), event.container_id)
        elif role in ("cron", "job", "pre_deploy"):
            key = labels.get({"cron": RUN, "job": JOB}.get(role, DEPLOY), "")
            with self._lock:
                watched = key in self._runs
            if watched:
                self._runs_queue.submit(self._end_run, key, event.container_id, event.exit_code)

    def _instance_ended(self, service_id: str, container_id: str) -> None:
        with self._lock:
            if container_id in self._starting:
                self._exited.add(container_id)  # its rollout notices (``_wait_instance``)
            live = self._live.get(service_id)
            serving = live is not None and container_id in live.instances
        if serving:
            self._submit(service_id, self._replace_exited, service_id, container_id)

    def _resync(self) -> None:
        """The safety net: one list of every container of this installation, compared with
        what the runtime believes runs; anything that ended unnoticed is handled as if its
        event had arrived."""
        with self._lock:
            starting = set(self._starting)
        states = self._engine.list(self._mine)
        running = {s.id for s in states if s.running}
        with self._lock:
            self._exited.update(starting - running)
            lives = [(sid, list(live.instances)) for sid, live in self._live.items()]
            runs = [(r.key, r.container_id) for r in self._runs.values() if r.container_id]
        for service_id, container_ids in lives:
            for container_id in container_ids:
                if container_id not in running:
                    self._instance_ended(service_id, container_id)
        for key, container_id in runs:
            if container_id not in running:
                self._runs_queue.submit(self._end_run, key, container_id, None)

    def _replace_exited(self, service_id: str, container_id: str) -> None:
        """A live instance exited (crash, OOM, killed): report it, remove it, start another
        (under the service's lock: a rollout in progress finishes first)."""
        live = self._live.get(service_id)
        if live is None or container_id not in live.instances:
            return  # already replaced, or retired by a rollout
        spec = live.spec
        state = self._engine.inspect(container_id)
        if state is not None and state.running:
            return  # a stale event
        instance_id = state.labels.get(INSTANCE, container_id) if state else container_id
        failure = _exit_failure(state, spec) if state else EarlyExit()
        self._reports.instance_failed(service_id, instance_id, failure)
        live.instances.pop(container_id, None)
        if state is not None:
            self._removing(container_id, state.labels)
            self._engine.remove(container_id)
        if len(live.instances) < spec.num_instances:
            self._converge(spec)
            if len(self._live.get(service_id, live).instances) >= spec.num_instances:
                self._reports.instance_available(service_id)


_ENDS = frozenset({"die", "oom", "stop"})
_EPOCH = datetime.fromtimestamp(0, UTC)


def _run_labels(role: str, key: str) -> dict[str, str]:
    """The labels that find a run's container again: its run, job or deploy id."""
    if role == "cron":
        return {RUN: key}
    if role == "job":
        return {JOB: key}
    return {DEPLOY: key, ROLE: role}


def _start_effect(run: _Run) -> Effect:
    """The effect that starts a cron run, one-off job or pre-deploy command (retried when its
    create fails)."""
    if run.role == "cron":
        return StartCronRun(run.key)
    if run.role == "job":
        return StartJob(run.key)
    return StartPreDeploy(run.key)


def container_spec(
    spec: RunSpec,
    role: str,
    *,
    installation: str,
    run_id: str | None = None,
    host_port: int | None = None,
    apply_limits: bool = True,
) -> ContainerSpec:
    """The container of ``role`` (instance, pre_deploy, cron, job) for ``spec``: labels that let a
    restarted serve find it, the env as given (it travels in the create request's body only),
    loopback publishing on ``host_port``, plan limits."""
    # a run's container is named after its run (a pre-deploy's after its deploy): one per run
    suffix = run_id or (spec.deploy_id if role == "pre_deploy" else secrets.token_hex(3))
    instance_id = f"{spec.service_id}-{secrets.token_hex(3)[:5]}"
    labels = {
        **installation_filter(installation),
        SERVICE: spec.service_id,
        DEPLOY: spec.deploy_id,
        ROLE: role,
    }
    if run_id:
        labels[JOB if role == "job" else RUN] = run_id
    env = dict(spec.env)
    publish: tuple[PortBinding, ...] = ()
    if role == "instance":
        labels[INSTANCE] = instance_id
        env["RENDER_INSTANCE_ID"] = instance_id
        if spec.port is not None and host_port is not None:
            # loopback only: the router and health checks
            publish = (PortBinding(spec.port, host_port),)
            labels[HOST_PORT] = str(host_port)
    ref = parse_reference(spec.image)
    auth = None
    if spec.credential is not None:
        user = "AWS" if spec.credential.kind.value == "AWS_ECR" else spec.credential.username
        auth = RegistryAuth(ref.registry, user, spec.credential.token)
    return ContainerSpec(
        name=f"{spec.service_id}-{role.replace('_', '-')}-{suffix}",
        image=spec.image,
        command=spec.command if role != "pre_deploy" else spec.command or None,
        env=env,
        labels=labels,
        network=NETWORK,
        network_aliases=(spec.internal_host,) if spec.internal_host and role == "instance" else (),
        publish=publish,
        cpus=spec.resources.cpu if apply_limits else None,
        memory_bytes=spec.resources.memory_mb * 1024 * 1024 if apply_limits else None,
        stop_timeout_seconds=spec.stop_timeout_seconds,
        auth=auth,
        insecure_registry=uses_plain_http(ref.registry),
    )


_NAME_TAKEN = re.compile(r"container name .*already in use|name is already in use|conflict", re.I)
_PORT_TAKEN = re.compile(r"address already in use|port is already allocated", re.I)


def free_port() -> int:
    """A loopback port nothing listens on now (the engine binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _exit_failure(state: ContainerState, spec: RunSpec) -> ServerFailure:
    if state.oom_killed:
        return OomKilled(spec.resources.memory_mb)
    if state.exit_code:
        return NonZeroExit(state.exit_code)
    return EarlyExit()
