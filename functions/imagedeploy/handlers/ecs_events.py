"""EventBridge "ECS Task State Change" / "ECS Deployment State Change" → ``usecases.ecs_events``.

The handler parses the event and reads the facts the use case decides on from the ECS runtime:
whose task it is (``EcsRuntime.identify_task``: ``startedBy`` a deploy id is its pre-deploy
task, a run id a cron run, a job id a one-off job, ``ecs-svc/...`` a service instance) and the
rollout recorded for the service (``rollout_ref``). Errors raise: Lambda retries, then
dead-letters (the use case's effects are idempotent, or claimed once per event).
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
    from imagedeploy.domain.ecs_rules import task_outcome
    from imagedeploy.usecases import ecs_events

    task = task_outcome(detail)
    if not task.stopped:
        return "ignored: task not stopped"
    subject = app.ecs.identify_task(detail)
    if subject is None:
        return "ignored: not our task"
    stopped = ecs_events.StoppedTask(subject, task, _memory(detail), _image(detail), event_id)
    return ecs_events.task_stopped(
        app.ports,
        stopped,
        rollout_ref=app.ecs.rollout_ref,
        claim_seconds=app.settings.ecs_event_ttl_seconds,
    )


def _deployment_changed(app: AwsApp, event: Mapping[str, Any], detail: Mapping[str, Any]) -> str:
    from imagedeploy.usecases import ecs_events

    name = str(detail.get("eventName", ""))
    if name not in DEPLOYMENT_EVENTS:
        return f"ignored: {name or 'no eventName'}"
    resources = [str(r) for r in event.get("resources") or []]
    service_id = next((s for s in map(app.ecs.service_id_of, resources) if s), None)
    if service_id is None:
        return "ignored: not our service"
    failure = None
    if name != "SERVICE_DEPLOYMENT_COMPLETED":
        failure = str(detail.get("reason") or "the ECS deployment failed")
    return ecs_events.deployment_ended(
        app.ports, app.ecs.rollout_ref(service_id), str(detail.get("deploymentId", "")), failure
    )


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
