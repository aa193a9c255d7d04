"""The periodic repair step (docs/architecture.md §8): correctness never depends on one event
arriving.

``reconcile(ports)`` walks the unfinished deploys page by page (a key query on a sparse index,
never a scan) and the pending cron runs, and repairs what a lost job, a lost runtime signal or
a crash left behind:

- a deploy in the preflight whose ``preflight`` job was lost gets it again once it is older than
  a short grace period (at most once per grace period), and times out after a limit;
- a deploy in its pre-deploy command or rollout whose outcome signal was lost gets it from the
  runtime, when the runtime can tell (``ports.DescribesDeploys``, the ECS runtime): the signal
  the platform's current state implies goes through ``deploys.handle_signal`` like the lost one
  would have (a completed rollout goes live, a failed one or a pre-deploy task that exited
  fails the deploy);
- a deploy whose pre-deploy command or rollout outlives its limit times out (``TimedOut``):
  without a runtime that describes deploys, a lost "rollout healthy" signal never makes a
  deploy live by itself;
- a deploy created but never begun that holds its service's slot gets its ``begin`` job again;
- a queued deploy whose service has nothing in progress is promoted (or canceled, when a newer
  deploy exists); a waiting deploy that no slot refers to is queued again;
- a deploy of a suspended or deleted service is canceled (the tail of suspend / delete);
- a cron run pending for longer than its limit ends ``unsuccessful`` ("timed out") and its
  container is stopped.

With ``resume=True`` (``serve`` starting up) the jobs an in-process queue lost with the old
process are re-derived at once, without the grace period, and the runtime commands of deploys in
progress (and of pending cron runs) are issued again; the ``Runtime`` port makes them
idempotent per deploy and run, so a restarted server picks up where it left off.

Every step is a signal through ``deploys.handle_signal`` (the state machine ignores what no
longer applies) or a read-modify-write with a version check, and re-enqueued jobs are claimed
per grace window (``Store.claim_once``), so running ``reconcile`` twice in a row changes nothing
the second time. Ages are measured from ``Deploy.updated_at``, which every transition sets, so
"older" means "in its current phase for longer".
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from imagedeploy.domain import deploy_machine as machine
from imagedeploy.domain.cron import CronRun, RunStatus
from imagedeploy.domain.deploy_machine import Phase
from imagedeploy.domain.deploys import Deploy, DeployStatus
from imagedeploy.domain.errors import ImagedeployError
from imagedeploy.domain.jobs import JobStatus, OneOffJob
from imagedeploy.domain.outbox import (
    OutboxRecord,
    RunJob,
    StartCronRun,
    StartPreDeploy,
    StartRollout,
    StopDeploy,
)
from imagedeploy.domain.services import Service
from imagedeploy.ports import DescribesDeploys, DescribesJobs, Job, Page, Ports
from imagedeploy.usecases import cron, deploys, jobs
from imagedeploy.usecases.unit_of_work import dispatch_job, retry_on_conflict, unit_of_work

logger = logging.getLogger(__name__)

T = TypeVar("T")

PAGE_SIZE = 100
#: How long a deploy may stay in the preflight (the registry's retry budget is much shorter).
PREFLIGHT_TIMEOUT_SECONDS = 10 * 60
#: How long a job may be queued or running before reconcile assumes it was lost.
LOST_JOB_GRACE_SECONDS = 2 * 60

TIMED_OUT = "timed out"  # ``usecases.cron`` recognizes this reason


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Reconcile's own limits (the deploy and cron limits come from ``ports.limits``)."""

    preflight_timeout_seconds: int = PREFLIGHT_TIMEOUT_SECONDS
    lost_job_grace_seconds: int = LOST_JOB_GRACE_SECONDS


@dataclass(slots=True)
class ReconcileReport:
    """What one pass looked at and what it repaired (deploy and run ids)."""

    deploys_examined: int = 0
    runs_examined: int = 0
    requeued: list[Job] = field(default_factory=list)  # lost preflight / begin / outbox jobs
    promoted: list[str] = field(default_factory=list)  # queued deploys that now run
    requeued_slots: list[str] = field(default_factory=list)  # waiting deploys put back in line
    canceled: list[str] = field(default_factory=list)  # superseded, orphaned, suspended
    timed_out: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)  # lost outcome signals re-derived
    resumed: list[str] = field(default_factory=list)  # runtime commands issued again
    runs_timed_out: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # repairs that raised; retried next pass
    finished: bool = True  # False: the time budget ran out; the next pass resumes (Progress)

    @property
    def changed(self) -> bool:
        """Whether this pass repaired anything (examining is not a change)."""
        return any(
            (
                self.requeued,
                self.promoted,
                self.requeued_slots,
                self.canceled,
                self.timed_out,
                self.recovered,
                self.resumed,
                self.runs_timed_out,
            )
        )


@dataclass(slots=True)
class Progress:
    """Where a pass that ran out of its time budget stopped: the next pass resumes there (the
    caller keeps it between passes: ``serve`` for its life, a warm Lambda while it lives; a
    fresh one starts from the beginning, which is only slower)."""

    walk: int = 0  # index into the walks: unfinished deploys, pending runs, the outbox
    cursor: str | None = None


def reconcile(
    ports: Ports,
    *,
    resume: bool = False,
    thresholds: Thresholds = Thresholds(),
    page_size: int = PAGE_SIZE,
    budget_seconds: float | None = None,
    progress: Progress | None = None,
    timer: Callable[[], float] = time.monotonic,
) -> ReconcileReport:
    """One repair pass (see the module docstring). A repair that raises is logged and counted
    in ``failed``; the others still run, and the next pass tries it again. With
    ``budget_seconds`` the pass stops after the page during which the budget ran out, records
    where in ``progress`` and reports ``finished=False``; the next pass given that ``progress``
    goes on from there."""
    report = ReconcileReport()
    now = ports.clock.now()
    pass_ = _Pass(ports, now, resume, thresholds, report)
    store = ports.store
    progress = progress if progress is not None else Progress()
    deadline = None if budget_seconds is None else timer() + budget_seconds

    def deploy(item: Deploy) -> None:
        report.deploys_examined += 1
        _guarded(report, item.id, functools.partial(pass_.deploy, item))

    def run(item: CronRun) -> None:
        report.runs_examined += 1
        _guarded(report, item.id, functools.partial(pass_.run, item))

    def outbox(item: OutboxRecord) -> None:
        _guarded(report, item.id, functools.partial(pass_.outbox, item))

    def job(item: OneOffJob) -> None:
        _guarded(report, item.id, functools.partial(pass_.job, item))

    walks: list[tuple[Callable[[str | None], Page[Any]], Callable[[Any], None]]] = [
        (lambda cursor: store.list_unfinished_deploys(page_size, cursor), deploy),
        (lambda cursor: store.list_unfinished_runs(page_size, cursor), run),
        (lambda cursor: store.list_outbox(page_size, cursor), outbox),
        (lambda cursor: store.list_unfinished_jobs(page_size, cursor), job),
    ]
    while progress.walk < len(walks):
        fetch, repair = walks[progress.walk]
        page = fetch(progress.cursor)
        for item in page.items:
            repair(item)
        if page.next_cursor is None:
            progress.walk, progress.cursor = progress.walk + 1, None
        else:
            progress.cursor = page.next_cursor
        if deadline is not None and timer() >= deadline and progress.walk < len(walks):
            report.finished = False
            break
    else:
        progress.walk, progress.cursor = 0, None
    log = logger.info if report.changed or report.failed else logger.debug
    log(
        "reconcile pass done",
        extra={
            "resume": resume,
            "deploys_examined": report.deploys_examined,
            "runs_examined": report.runs_examined,
            "requeued": len(report.requeued),
            "promoted": len(report.promoted),
            "requeued_slots": len(report.requeued_slots),
            "canceled": len(report.canceled),
            "timed_out": len(report.timed_out),
            "recovered": len(report.recovered),
            "resumed": len(report.resumed),
            "runs_timed_out": len(report.runs_timed_out),
            "failed": len(report.failed),
            "finished": report.finished,
        },
    )
    return report


# -- the pass -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pass:
    ports: Ports
    now: datetime
    resume: bool
    thresholds: Thresholds
    report: ReconcileReport

    # deploys

    def deploy(self, deploy: Deploy) -> None:
        service = self.ports.store.get_service(deploy.service_id)
        if service is None:
            self._cancel_orphan(deploy)
            return
        if service.suspended:
            # The tail of ``services.suspend``; the queued deploy first, so that canceling the
            # active one promotes nothing (the order suspend uses).
            for deploy_id in (service.queued_deploy_id, deploy.id):
                if deploy_id is not None:
                    self._signal(deploy_id, machine.Cancel(), self.report.canceled)
            return
        age = (self.now - deploy.updated_at).total_seconds()
        phase = machine.phase_of(deploy)
        limits = self.ports.limits
        if phase is None:
            if deploy.status in (DeployStatus.QUEUED, DeployStatus.CREATED):
                self._waiting(deploy, service, age)
        elif phase is Phase.PREFLIGHT:
            limit = self.thresholds.preflight_timeout_seconds
            if age >= limit:
                self._signal(deploy.id, machine.TimedOut(phase, limit), self.report.timed_out)
            else:
                self._requeue_if_lost("preflight", deploy, age)
        elif self._recover_lost_signal(deploy, phase):
            return
        elif phase is Phase.PRE_DEPLOY:
            limit = limits.pre_deploy_timeout_seconds
            if age >= limit:
                self._signal(deploy.id, machine.TimedOut(phase, limit), self.report.timed_out)
            elif self.resume:
                self._resume(deploy.id, phase)
        else:  # Phase.ROLLOUT
            limit = limits.deploy_timeout_seconds
            if age >= limit:
                self._signal(deploy.id, machine.TimedOut(phase, limit), self.report.timed_out)
            elif self.resume:
                self._resume(deploy.id, phase)

    def _recover_lost_signal(self, deploy: Deploy, phase: Phase) -> bool:
        """Ask a runtime that can describe deploys what the platform says about a deploy in
        its pre-deploy or rollout phase, and apply that signal (a lost event's). True when the
        deploy has left the phase (then nothing else applies to it in this pass). A runtime
        that cannot answer now does not keep the timeout from applying."""
        runtime = self.ports.runtime
        if not isinstance(runtime, DescribesDeploys):
            return False
        if (self.now - deploy.updated_at).total_seconds() < self.thresholds.lost_job_grace_seconds:
            return False  # its signal is most likely still on its way: no describe calls
        try:
            signal = runtime.describe_deploy(deploy.service_id, deploy.id)
        except Exception as exc:
            logger.warning(
                "could not describe the deploy; its timeout still applies",
                extra={
                    "deploy_id": deploy.id,
                    "service_id": deploy.service_id,
                    "error_type": type(exc).__name__,
                },
            )
            return False
        if signal is None:
            return False
        before = self.ports.store.get_deploy(deploy.id)  # fresh: an event may have moved it on
        if before is None or machine.phase_of(before) is not phase:
            return True
        after = deploys.handle_signal(self.ports, deploy.id, signal)
        if after is None:
            return True
        if after.version == before.version:
            return False  # the signal did not apply: the deploy is still where it was
        self.report.recovered.append(deploy.id)
        _log_repair(f"recover_{type(signal).__name__}", after)
        return after.status.finished or machine.phase_of(after) is not phase

    def _signal(self, deploy_id: str, signal: machine.Signal, outcome: list[str]) -> None:
        """Send a signal that ends the deploy; counted in ``outcome`` when it did."""
        before = self.ports.store.get_deploy(deploy_id)
        if before is None or before.status.finished:
            return
        after = deploys.handle_signal(self.ports, deploy_id, signal)
        if after is not None and after.status.finished:
            outcome.append(deploy_id)
            _log_repair(type(signal).__name__, after)

    def _requeue_if_lost(self, kind: str, deploy: Deploy, age: float) -> None:
        """Enqueue ``kind`` again when the deploy has waited a grace period for it (at once on
        resume: an in-process queue lost its jobs with the old process), once per grace
        window of the deploy's age."""
        grace = self.thresholds.lost_job_grace_seconds
        if not self.resume and age < grace:
            return
        window = int(age // grace) if grace > 0 else 0
        claimed = self.ports.store.claim_once(
            f"reconcile:{kind}:{deploy.id}:{window}", max(2 * grace, 60)
        )
        if not claimed and not self.resume:
            return
        job = Job(kind, deploy.id)
        self.ports.jobs.enqueue(job)
        self.report.requeued.append(job)
        _log_repair(f"requeue_{kind}", deploy)

    def _resume(self, deploy_id: str, phase: Phase) -> None:
        """Issue the runtime command of the phase again (idempotent per deploy)."""
        deploy = self.ports.store.get_deploy(deploy_id)  # fresh: it may have moved on
        if deploy is None or machine.phase_of(deploy) is not phase:
            return
        with unit_of_work(self.ports) as tx:
            if phase is Phase.PRE_DEPLOY:
                tx.effect(StartPreDeploy(deploy.id))
            else:
                tx.effect(StartRollout(deploy.id))
        self.report.resumed.append(deploy.id)
        _log_repair(f"resume_{phase.value}", deploy)

    def _cancel_orphan(self, deploy: Deploy) -> None:
        """The service was deleted: end the deploy (no events: nothing lists them any more)."""
        if _cancel_orphan(self.ports, deploy.id):
            self.report.canceled.append(deploy.id)
            _log_repair("cancel_orphan", deploy)

    # waiting deploys: queued, or created and not begun

    def _waiting(self, deploy: Deploy, service: Service, age: float) -> None:
        if deploy.status is DeployStatus.CREATED and service.active_deploy_id == deploy.id:
            self._requeue_if_lost("begin", deploy, age)
            return
        decision = _settle_waiting(self.ports, deploy.id)
        if decision is None:
            return
        action, other_id = decision
        if action == "supersede":
            self._signal(deploy.id, machine.Superseded(other_id), self.report.canceled)
        elif action == "promote":
            self.report.promoted.append(deploy.id)
            _log_repair("promote", deploy)
        else:
            self.report.requeued_slots.append(deploy.id)
            _log_repair("requeue_slot", deploy)

    # cron runs

    def run(self, run: CronRun) -> None:
        limit = self.ports.limits.cron_run_timeout_seconds
        if (self.now - run.started_at).total_seconds() >= limit:
            ended = cron.run_ended(
                self.ports, run.id, RunStatus.UNSUCCESSFUL, None, TIMED_OUT, stop=True
            )
            if ended is not None:
                self.report.runs_timed_out.append(run.id)
                logger.info(
                    "reconcile repaired",
                    extra={
                        "action": "time_out_run",
                        "run_id": run.id,
                        "service_id": run.service_id,
                    },
                )
        elif self.resume:
            self._resume_run(run)

    def _resume_run(self, run: CronRun) -> None:
        """Start the run again: the runtime attaches to its container if it still exists (or
        reports how it ended) rather than running the job twice (idempotent per run)."""
        with unit_of_work(self.ports) as tx:
            tx.effect(StartCronRun(run.id))
        self.report.resumed.append(run.id)
        logger.info(
            "reconcile repaired",
            extra={"action": "resume_run", "run_id": run.id, "service_id": run.service_id},
        )

    # one-off jobs

    def job(self, job: OneOffJob) -> None:
        """A running job whose end the platform knows but we do not (a lost ECS event): end
        it as the event would have (runtimes that can say, ``DescribesJobs``)."""
        runtime = self.ports.runtime
        started = job.started_at or job.created_at
        late = (self.now - started).total_seconds() >= self.thresholds.lost_job_grace_seconds
        if job.status is not JobStatus.RUNNING or not late:
            return
        if not isinstance(runtime, DescribesJobs):
            return
        end = runtime.job_end(job.id)
        if end is not None and jobs.job_ended(self.ports, job.id, end) is not None:
            self.report.recovered.append(job.id)
            logger.info(
                "reconcile repaired",
                extra={"action": "end_job", "job_id": job.id, "service_id": job.service_id},
            )

    # the outbox

    def outbox(self, record: OutboxRecord) -> None:
        """Enqueue an outbox record whose dispatch job was lost (at once on resume: an
        in-process queue lost its jobs with the old process), once per grace window."""
        grace = self.thresholds.lost_job_grace_seconds
        late = (self.now - record.due_at).total_seconds()
        if late < 0 or (not self.resume and late < grace):
            return  # not due yet, or written by this very pass (its job is queued)
        window = int(late // grace) if grace > 0 else 0
        claimed = self.ports.store.claim_once(
            f"reconcile:outbox:{record.id}:{window}", max(2 * grace, 60)
        )
        if not claimed and not self.resume:
            return
        job = dispatch_job(record)
        self.ports.jobs.enqueue(job)
        self.report.requeued.append(job)
        logger.info("reconcile repaired", extra={"action": "requeue_outbox", "record": record.id})


@retry_on_conflict
def _cancel_orphan(ports: Ports, deploy_id: str) -> bool:
    current = ports.store.get_deploy(deploy_id)
    if current is None:
        return False
    transition = machine.advance(current, machine.Cancel(), ports.clock.now())
    if not transition.changed:
        return False
    with unit_of_work(ports) as tx:
        tx.put(transition.deploy)
        if machine.Command.STOP_RUNTIME in transition.commands:
            tx.effect(StopDeploy(current.service_id, current.id))
    return True


@retry_on_conflict
def _settle_waiting(ports: Ports, deploy_id: str) -> tuple[str, str] | None:
    """Decide (and, for a promotion or a re-queue, write) what a waiting deploy that is not
    its service's active deploy becomes: canceled for a newer deploy, the active deploy
    when nothing else is in progress, or the queued deploy behind the one in progress."""
    store = ports.store
    deploy = store.get_deploy(deploy_id)
    if deploy is None or deploy.status.finished or deploy.started_at is not None:
        return None
    service = store.get_service(deploy.service_id)
    if service is None or service.suspended or service.active_deploy_id == deploy.id:
        return None
    newer = _newer_deploy(ports, service, deploy)
    if newer is not None:
        return "supersede", newer.id
    active = store.get_deploy(service.active_deploy_id) if service.active_deploy_id else None
    now = ports.clock.now()
    if active is None or active.status.finished:
        queued = None if service.queued_deploy_id == deploy.id else service.queued_deploy_id
        with unit_of_work(ports) as tx:
            tx.put(dataclasses.replace(deploy, status=DeployStatus.CREATED, updated_at=now))
            tx.put(
                dataclasses.replace(service, active_deploy_id=deploy.id, queued_deploy_id=queued)
            )
            tx.effect(RunJob("begin", deploy.id))
        return "promote", deploy.id
    if service.queued_deploy_id == deploy.id and deploy.status is DeployStatus.QUEUED:
        return None  # waiting its turn: the normal case
    with unit_of_work(ports) as tx:
        tx.put(dataclasses.replace(deploy, status=DeployStatus.QUEUED, updated_at=now))
        tx.put(dataclasses.replace(service, queued_deploy_id=deploy.id))
    return "requeue_slot", active.id


# -- helpers ------------------------------------------------------------------------------------


def _newer_deploy(ports: Ports, service: Service, deploy: Deploy) -> Deploy | None:
    """A deploy of the service created after ``deploy`` that holds one of its slots: then
    ``deploy`` will never run (the rule ``deploys.supersede`` applies)."""
    for other_id in (service.queued_deploy_id, service.active_deploy_id):
        if other_id is None or other_id == deploy.id:
            continue
        other = ports.store.get_deploy(other_id)
        if other is not None and other.created_at >= deploy.created_at:
            return other
    return None


def _walk(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a cursor-paginated list, one page at a time."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _guarded(report: ReconcileReport, subject: str, repair: Callable[[], None]) -> None:
    try:
        repair()
    except Exception as exc:
        report.failed.append(subject)
        extra: dict[str, object] = {"subject": subject, "error_type": type(exc).__name__}
        if isinstance(exc, ImagedeployError):  # their messages never contain a secret
            extra["error"] = exc.message
        logger.warning("reconcile repair failed; the next pass retries it", extra=extra)


def _log_repair(action: str, deploy: Deploy) -> None:
    logger.info(
        "reconcile repaired",
        extra={"action": action, "deploy_id": deploy.id, "service_id": deploy.service_id},
    )
