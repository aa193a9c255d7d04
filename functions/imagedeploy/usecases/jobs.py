"""One-off jobs (docs/architecture.md §20.2): ``POST /v1/services/{id}/jobs`` runs a command once
in a new container of the service's live digest, with the service's env vars as they are now.

Like a cron run (§9.3) a job is written with its launch effect (``StartJob``) in one commit; the
dispatcher builds its ``RunSpec`` and hands it to the runtime, then marks it ``running``. Its end
comes from the runtime (locally the engine's event stream, on AWS the ECS task-state event) and
is decided by ``domain.cron.run_outcome``; no thread waits for it. A cancel ends it at once and
stops its container (``StopJob``).
"""

from __future__ import annotations

import dataclasses

from imagedeploy.domain.cron import RunEnd, RunStatus
from imagedeploy.domain.errors import InvalidInput, NotFound
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.jobs import JobStatus, OneOffJob, job_status
from imagedeploy.domain.listing import ANY_JOB, JobFilter
from imagedeploy.domain.outbox import StartJob, StopJob
from imagedeploy.domain.service_rules import split_command
from imagedeploy.domain.services import PLAN_RESOURCES, Plan
from imagedeploy.ports import Page, Ports, RunSpec
from imagedeploy.usecases.common import get_service
from imagedeploy.usecases.deploys import pinned_image, run_spec, runnable_live_deploy
from imagedeploy.usecases.unit_of_work import retry_on_conflict, unit_of_work

PLANS = tuple(p.value for p in Plan)


def _plan(plan_id: str | None, default: Plan) -> Plan:
    if plan_id is None or plan_id == "":
        return default
    try:
        return Plan(plan_id)
    except ValueError:
        raise InvalidInput(
            f"planId {plan_id!r} is not a plan; use one of {', '.join(PLANS)}, or omit it to "
            "run the job on the service's own plan"
        ) from None


def create_job(
    ports: Ports, service_id: str, start_command: str, plan_id: str | None = None
) -> OneOffJob:
    """A pending job of the service's live deploy; 400 when there is nothing to run it on."""
    service = get_service(ports, service_id)
    if not split_command(start_command):
        raise InvalidInput("startCommand is empty; give the command the job runs")
    plan = _plan(plan_id, service.plan)
    live = runnable_live_deploy(ports, service)
    if live is None:
        raise InvalidInput(
            f"service {service_id} has no live deploy to run a job on; deploy it first"
        )
    with unit_of_work(ports) as tx:
        job = tx.put(
            OneOffJob(
                id=new_id("job"),
                service_id=service.id,
                start_command=start_command,
                plan=plan,
                status=JobStatus.PENDING,
                deploy_id=live.id,
                image=pinned_image(live),
                created_at=ports.clock.now(),
            )
        )
        tx.effect(StartJob(job.id))
    return job


def get_job(ports: Ports, service_id: str, job_id: str) -> OneOffJob:
    job = ports.store.get_job(job_id)
    if job is None or job.service_id != service_id:
        raise NotFound(
            f"job {job_id} of service {service_id} not found; list jobs with "
            f"GET /v1/services/{service_id}/jobs"
        )
    return job


def list_jobs(
    ports: Ports, service_id: str, limit: int, cursor: str | None, where: JobFilter = ANY_JOB
) -> Page[OneOffJob]:
    get_service(ports, service_id)
    return ports.store.list_jobs(service_id, limit, cursor, where)


@retry_on_conflict
def cancel_job(ports: Ports, service_id: str, job_id: str) -> OneOffJob:
    """Cancel a pending or running job (its container is stopped); a canceled job is answered
    as it is; a job that has already succeeded or failed cannot be canceled (400)."""
    job = get_job(ports, service_id, job_id)
    if job.status is JobStatus.CANCELED:
        return job
    if job.status.finished:
        raise InvalidInput(
            f"job {job_id} has already {job.status.value}; there is nothing to cancel"
        )
    with unit_of_work(ports) as tx:
        canceled = tx.put(
            dataclasses.replace(
                job,
                status=JobStatus.CANCELED,
                finished_at=ports.clock.now(),
                reason="canceled by a user",
            )
        )
        tx.effect(StopJob(service_id, job_id))
    return canceled


def job_spec(ports: Ports, job: OneOffJob) -> RunSpec | None:
    """What the runtime runs for the job (None: its service or deploy is gone): the deploy's
    pinned digest and the service's env vars now, the job's command and plan, one container."""
    service = ports.store.get_service(job.service_id)
    deploy = ports.store.get_deploy(job.deploy_id)
    if service is None or deploy is None:
        return None
    spec = run_spec(ports, service, deploy, command=job.start_command)
    return dataclasses.replace(spec, resources=PLAN_RESOURCES[job.plan], num_instances=1)


def launch(ports: Ports, job_id: str) -> None:
    """The ``StartJob`` effect: hand an unfinished job to the runtime and mark it running; a
    job whose service or deploy is gone meanwhile ends unsuccessful instead."""
    job = ports.store.get_job(job_id)
    if job is None or job.status.finished:
        return
    spec = job_spec(ports, job)
    if spec is None:
        job_ended(
            ports, job_id, RunEnd(RunStatus.UNSUCCESSFUL, None, "its service or deploy is gone")
        )
        return
    ports.runtime.start_job(spec, job_id)
    job_started(ports, job_id)


@retry_on_conflict
def job_started(ports: Ports, job_id: str) -> OneOffJob | None:
    """The runtime accepted the job's start: pending → running (idempotent)."""
    job = ports.store.get_job(job_id)
    if job is None or job.status is not JobStatus.PENDING:
        return None
    started = dataclasses.replace(job, status=JobStatus.RUNNING, started_at=ports.clock.now())
    with unit_of_work(ports) as tx:
        return tx.put(started)


@retry_on_conflict
def job_ended(ports: Ports, job_id: str, end: RunEnd) -> OneOffJob | None:
    """The job's container ended (or could not start). Idempotent: a job ends once; a job
    canceled meanwhile stays canceled."""
    job = ports.store.get_job(job_id)
    if job is None or job.status.finished:
        return None
    now = ports.clock.now()
    ended = dataclasses.replace(
        job,
        status=job_status(end),
        started_at=job.started_at or now,
        finished_at=now,
        exit_code=end.exit_code,
        reason=end.reason,
    )
    with unit_of_work(ports) as tx:
        return tx.put(ended)
