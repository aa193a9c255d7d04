"""``/v1/services/{id}/events`` and ``/v1/events/{id}``: a service's timeline."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import list_filters as lf
from imagedeploy.api import wire
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import (
    Cursor,
    Limit,
    json_response,
    list_response,
    owned_service,
    owner_id,
)
from imagedeploy.domain.errors import NotFound


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    @r.get("/v1/services/<serviceId>/events", summary="List a service's events")
    def list_events(
        serviceId: str,
        type_: lf.EventTypes = None,
        startTime: lf.StartTime = None,
        endTime: lf.EndTime = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Response[str]:
        where = lf.event_filter(types=type_, start_time=startTime, end_time=endTime)
        owned_service(ports, r, serviceId)
        return list_response(
            lambda n, c: ports.store.list_events(serviceId, n, c, where),
            cursor,
            limit,
            wire.event_list_json,
        )

    @r.get("/v1/events/<eventId>", summary="Retrieve an event")
    def get_event(eventId: str) -> Response[str]:
        event = ports.store.get_event(eventId)
        service = ports.store.get_service(event.service_id) if event else None
        if event is None or service is None or service.owner_id != owner_id(r):
            # one answer for "no such event" and "another workspace's": it names no service
            raise NotFound(f"event {eventId} not found")
        return json_response(200, wire.event_json(event))

    return r
