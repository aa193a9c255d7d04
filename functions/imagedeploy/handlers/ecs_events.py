"""EventBridge "ECS Task State Change" / "ECS Deployment State Change" → the use cases' signals.

Matching (how ``EcsRuntime`` tags what it starts, ``EcsRuntime.identify_task``):

- a stopped task ``startedBy`` a deploy id is that deploy's **pre-deploy** task: its exit code
  → ``PreDeployExited`` (a pull failure → ``PullFailed``), through ``EcsStatus.pre_deploy_signal``;
- ``startedBy`` a run id: a **cron run** ended → ``cron.run_ended``, as ``domain.cron.run_outcome``
  decides for both homes (successful on exit 0);
- ``startedBy`` a job id: a **one-off job** ended → ``jobs.job_ended``, by the same rule;
- ``startedBy`` ``ecs-svc/...``: a service **instance**. If that ECS deployment is the one the
  service's ``RolloutRef`` recorded for a deploy still in progress, a failure fails the rollout
  (``PullFailed`` / ``InstanceFailed``, fail fast); otherwise it is a live instance failing
  (``instances.instance_failed`` / ``instance_pull_failed``; ECS replaces it);
- a deployment event whose ``deploymentId`` is the recorded one: ``SERVICE_DEPLOYMENT_COMPLETED``
  → ``RolloutHealthy``, ``SERVICE_DEPLOYMENT_FAILED`` → ``InstanceFailed(Unhealthy(...))``;
  any other deployment (a circuit-breaker rollback, a restart) is not a deploy's.

Failures are classified by ``domain.ecs_rules.classify_stop`` into runtime outcomes
(``domain.outcomes``; the same rules the reconcile side uses).

Idempotency: deploy signals and ``run_ended`` are idempotent (the state machine ignores
duplicate, late and reordered signals), so they always run — a retried invocation after an
error must not be swallowed. The one non-idempotent effect, recording a live instance's
``server_failed`` / ``image_pull_failed`` event, is guarded by
``store.claim_once("ecs-event:<event id>")``. Errors raise: Lambda retries, then dead-letters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from imagedeploy.handlers._common import logger, traced

if TYPE_CHECKING:
    from imagedeploy.aws_bootstrap import AwsApp

TASK_STATE_CHANGE = "ECS Task State Change"
DEPLOYMENT_STATE_CHANGE = "ECS Deployment State Change"
#: The deployment events acted on; template.yaml's EcsEventsRule forwards only these (and tasks
#: that reached STOPPED).
DEPLOYMENT_EVENTS = ("SERVICE_DEPLOYMENT_COMPLETED", "SERVICE_DEPLOYMENT_FAILED")


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from imagedeploy import aws_bootstrap

    app = aws_bootstrap.app()
    event_id = str(event.get("id", ""))
    kind = event.get("detail-type")
    detail = event.get("detail") or {}
    logger.append_keys(ecs_event_id=event_id, detail_type=kind)
    if kind == TASK_STATE_CHANGE:
        outcome = _task_changed(app, event_id, detail)
    elif kind == DEPLOYMENT_STATE_CHANGE:
        outcome = _deployment_changed(app, event, detail)
    else:
        outcome = "ignored: not an ECS state change"
    logger.info("ECS event handled", extra={"outcome": outcome})
    return {"id": event_id, "outcome": outcome}


def _task_changed(app: AwsApp, event_id: str, detail: Mapping[str, Any]) -> str:
    from imagedeploy.domain.ecs_rules import EcsStatus, run_end, task_outcome
    from imagedeploy.usecases import cron, deploys, jobs

    task = task_outcome(detail)
    if not task.stopped:
        return "ignored: task not stopped"
    subject = app.ecs.identify_task(detail)
    if subject is None:
        return "ignored: not our task"
    memory = _memory(detail)
    ports = app.ports
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
            memory_mb=memory,
        )
        signal = status.pre_deploy_signal()
        if signal is None:
            return "ignored: pre-deploy task stopped on purpose"
        deploys.handle_signal(ports, subject.deploy_id, signal)
        return f"pre-deploy {subject.deploy_id}: {type(signal).__name__}"
    if subject.role == "cron" and subject.run_id:
        end = run_end(task, memory)
        cron.run_ended(ports, subject.run_id, end.status, end.exit_code, end.reason)
        return f"cron run {subject.run_id}: {end.status.value}"
    if subject.role == "job" and subject.job_id:
        end = run_end(task, memory)
        ended = jobs.job_ended(ports, subject.job_id, end)
        return f"job {subject.job_id}: {ended.status.value if ended else 'ended already'}"
    if subject.role == "instance":
        return _instance_stopped(app, event_id, subject.service_id, subject.deployment_id, detail)
    return "ignored: unknown task"


def _instance_stopped(
    app: AwsApp,
    event_id: str,
    service_id: str,
    deployment_id: str | None,
    detail: Mapping[str, Any],
) -> str:
    from imagedeploy.domain.ecs_rules import classify_stop, rollout_failed, task_outcome
    from imagedeploy.domain.outcomes import PullFailed
    from imagedeploy.usecases import deploys, instances

    task = task_outcome(detail)
    failure = classify_stop(task, long_running=True, memory_mb=_memory(detail))
    if failure is None:
        return "ignored: instance stopped on purpose"
    ports = app.ports
    ref = app.ecs.rollout_ref(service_id)
    if ref is not None and deployment_id and ref.deployment_id == deployment_id:
        deploy = ports.store.get_deploy(ref.deploy_id)
        if deploy is not None and not deploy.status.finished:
            signal = rollout_failed(failure)
            deploys.handle_signal(ports, ref.deploy_id, signal)
            return f"rollout {ref.deploy_id}: {type(signal).__name__}"
    if not ports.store.claim_once(f"ecs-event:{event_id}", app.settings.ecs_event_ttl_seconds):
        return "ignored: duplicate event"
    instance_id = task.task_arn.rsplit("/", 1)[-1]
    if isinstance(failure, PullFailed):
        image = _image(detail)
        instances.instance_pull_failed(ports, service_id, image, failure.reason, failure.message)
        return f"service {service_id}: instance pull failed"
    instances.instance_failed(ports, service_id, instance_id, failure)
    return f"service {service_id}: instance failed"


def _deployment_changed(app: AwsApp, event: Mapping[str, Any], detail: Mapping[str, Any]) -> str:
    from imagedeploy.domain.deploy_machine import InstanceFailed, RolloutHealthy, Signal
    from imagedeploy.domain.outcomes import Unhealthy
    from imagedeploy.usecases import deploys

    name = str(detail.get("eventName", ""))
    if name not in DEPLOYMENT_EVENTS:
        return f"ignored: {name or 'no eventName'}"
    resources = [str(r) for r in event.get("resources") or []]
    service_id = next((s for s in map(app.ecs.service_id_of, resources) if s), None)
    if service_id is None:
        return "ignored: not our service"
    ref = app.ecs.rollout_ref(service_id)
    if ref is None or ref.deployment_id != detail.get("deploymentId"):
        return "ignored: not a deploy's rollout"
    signal: Signal
    if name == "SERVICE_DEPLOYMENT_COMPLETED":
        signal = RolloutHealthy()
    else:
        reason = str(detail.get("reason") or "the ECS deployment failed")
        signal = InstanceFailed(Unhealthy(reason))
    deploys.handle_signal(app.ports, ref.deploy_id, signal)
    return f"rollout {ref.deploy_id}: {type(signal).__name__}"


def _memory(detail: Mapping[str, Any]) -> int | None:
    value = detail.get("memory")
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def _image(detail: Mapping[str, Any]) -> str:
    for container in detail.get("containers") or []:
        if isinstance(container, Mapping) and container.get("image"):
            return str(container["image"])
    return ""
