"""What an ECS task or deployment state change means (the AWS home's runtime reports): the
signal a pre-deploy, cron run, one-off job or rollout gets, or a live instance's failure. The
handler (``handlers/ecs_events.py``) parses the EventBridge event and reads the facts these
need from the ECS runtime: whose task it is and the rollout recorded for the service.

Idempotency: deploy signals and run/job ends are idempotent (the state machine ignores
duplicate, late and reordered signals), so they always run. The one non-idempotent effect,
recording a live instance's ``server_failed`` / ``image_pull_failed`` event, is guarded by
``store.claim_once("ecs-event:<event id>")``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from imagedeploy.domain.deploy_machine import InstanceFailed, RolloutHealthy, Signal
from imagedeploy.domain.ecs_rules import (
    EcsStatus,
    RolloutRef,
    TaskOutcome,
    TaskSubject,
    classify_stop,
    rollout_failed,
    run_end,
)
from imagedeploy.domain.outcomes import PullFailed, Unhealthy
from imagedeploy.ports import Ports
from imagedeploy.usecases import cron, deploys, instances, jobs


@dataclass(frozen=True, slots=True)
class StoppedTask:
    """A stopped task of ours, as the handler read it from the event."""

    subject: TaskSubject
    outcome: TaskOutcome
    memory_mb: int | None
    image: str  # its container's image (named by an instance's pull failure)
    event_id: str


def task_stopped(
    ports: Ports,
    stopped: StoppedTask,
    *,
    rollout_ref: Callable[[str], RolloutRef | None],
    claim_seconds: int,
) -> str:
    """A task of ours stopped; what was done, in words. ``rollout_ref(service_id)``: the
    rollout recorded for a service (read only for an instance that failed)."""
    subject, task, memory_mb = stopped.subject, stopped.outcome, stopped.memory_mb
    if subject.role == "pre_deploy" and subject.deploy_id:
        status = EcsStatus(
            service_id=subject.service_id,
            deploy_id=subject.deploy_id,
            service_exists=False,
            ref=None,
            deployment=None,
            service_task_definition_arn="",
            desired_count=0,
            running_count=0,
            stopped_tasks=(),
            pre_deploy=task,
            memory_mb=memory_mb,
        )
        signal = status.pre_deploy_signal()
        if signal is None:
            return "ignored: pre-deploy task stopped on purpose"
        deploys.handle_signal(ports, subject.deploy_id, signal)
        return f"pre-deploy {subject.deploy_id}: {type(signal).__name__}"
    if subject.role == "cron" and subject.run_id:
        end = run_end(task, memory_mb)
        cron.run_ended(ports, subject.run_id, end.status, end.exit_code, end.reason)
        return f"cron run {subject.run_id}: {end.status.value}"
    if subject.role == "job" and subject.job_id:
        ended = jobs.job_ended(ports, subject.job_id, run_end(task, memory_mb))
        return f"job {subject.job_id}: {ended.status.value if ended else 'ended already'}"
    if subject.role == "instance":
        return _instance_stopped(ports, stopped, rollout_ref, claim_seconds)
    return "ignored: unknown task"


def _instance_stopped(
    ports: Ports,
    stopped: StoppedTask,
    rollout_ref: Callable[[str], RolloutRef | None],
    claim_seconds: int,
) -> str:
    """A task of the recorded rollout fails that rollout (fail fast); any other is a live
    instance failing (ECS replaces it), recorded once per event."""
    task = stopped.outcome
    failure = classify_stop(task, long_running=True, memory_mb=stopped.memory_mb)
    if failure is None:
        return "ignored: instance stopped on purpose"
    service_id, deployment_id = stopped.subject.service_id, stopped.subject.deployment_id
    ref = rollout_ref(service_id)
    if ref is not None and deployment_id and ref.deployment_id == deployment_id:
        deploy = ports.store.get_deploy(ref.deploy_id)
        if deploy is not None and not deploy.status.finished:
            signal = rollout_failed(failure)
            deploys.handle_signal(ports, ref.deploy_id, signal)
            return f"rollout {ref.deploy_id}: {type(signal).__name__}"
    if not ports.store.claim_once(f"ecs-event:{stopped.event_id}", claim_seconds):
        return "ignored: duplicate event"
    if isinstance(failure, PullFailed):
        instances.instance_pull_failed(
            ports, service_id, stopped.image, failure.reason, failure.message
        )
        return f"service {service_id}: instance pull failed"
    instance_id = task.task_arn.rsplit("/", 1)[-1]
    instances.instance_failed(ports, service_id, instance_id, failure)
    return f"service {service_id}: instance failed"


def deployment_ended(
    ports: Ports, ref: RolloutRef | None, deployment_id: str, failure: str | None
) -> str:
    """An ECS deployment of one of our services completed (``failure`` None) or failed: only
    the deployment the service's ``RolloutRef`` recorded is a deploy's (not a circuit-breaker
    rollback, a restart)."""
    if ref is None or ref.deployment_id != deployment_id:
        return "ignored: not a deploy's rollout"
    signal: Signal = RolloutHealthy() if failure is None else InstanceFailed(Unhealthy(failure))
    deploys.handle_signal(ports, ref.deploy_id, signal)
    return f"rollout {ref.deploy_id}: {type(signal).__name__}"
