"""What the runtime reports about live instances, outside any deploy (docs/architecture.md
§5.3, §6.3, §10): a crash (``server_failed``), its replacement (``server_available``), and a
pull that failed when starting one (``image_pull_failed`` plus a notification, whether or not a
deploy is running)."""

from __future__ import annotations

from typing import Any

from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.events import EventType
from imagedeploy.domain.outcomes import ServerFailure, failure_reason
from imagedeploy.ports import Instance, Ports
from imagedeploy.usecases.common import get_service
from imagedeploy.usecases.unit_of_work import unit_of_work


def _record(ports: Ports, service_id: str, type_: EventType, details: dict[str, Any]) -> None:
    service = ports.store.get_service(service_id)
    if service is None:
        return
    with unit_of_work(ports) as tx:
        tx.record(service, type_, details)


def instance_failed(
    ports: Ports, service_id: str, instance_id: str, failure: ServerFailure
) -> None:
    """A live instance exited or was OOM-killed; the runtime replaces it."""
    details = {"instanceID": instance_id, "reason": failure_reason(failure)}
    _record(ports, service_id, EventType.SERVER_FAILED, details)


def instance_available(ports: Ports, service_id: str) -> None:
    _record(ports, service_id, EventType.SERVER_AVAILABLE, {})


def instance_pull_failed(
    ports: Ports, service_id: str, image: str, reason: PullFailureReason, message: str
) -> None:
    """Starting an instance (restart, scale-out, replacement) could not pull its digest."""
    _record(
        ports,
        service_id,
        EventType.IMAGE_PULL_FAILED,
        {"imageURL": image, "message": f"{message} ({reason.value})"},
    )


def list_instances(ports: Ports, service_id: str) -> list[Instance]:
    """``GET /v1/services/{id}/instances``: the live instances of a web service, private
    service or worker, as the runtime sees them now (a cron job or a suspended service has
    none)."""
    service = get_service(ports, service_id)
    if not service.type.long_running or service.suspended or service.live_deploy_id is None:
        return []
    return ports.runtime.list_instances(service_id)
