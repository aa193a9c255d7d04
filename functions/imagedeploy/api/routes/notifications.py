"""``/v1/notification-settings``: the workspace setting and per-service overrides."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import wire
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import json_response, own_owner, owned_service
from imagedeploy.api.schemas import (
    OwnerNotificationSettingsPATCH,
    ServiceNotificationOverridePATCH,
)
from imagedeploy.usecases import notifications


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    @r.get("/v1/notification-settings/owners/<ownerId>", summary="Workspace notifications")
    def get_settings(ownerId: str) -> Response[str]:
        own_owner(r, ownerId)
        settings = notifications.get_notification_settings(ports, ownerId)
        return json_response(200, wire.notification_settings_json(settings))

    @r.patch("/v1/notification-settings/owners/<ownerId>", summary="Change workspace notifications")
    def patch_settings(
        ownerId: str, body: Annotated[OwnerNotificationSettingsPATCH, Body()]
    ) -> Response[str]:
        own_owner(r, ownerId)
        wanted = body.notifications_to_send.value if body.notifications_to_send else None
        settings = notifications.patch_notification_settings(
            ports, ownerId, notifications_to_send=wanted
        )
        return json_response(200, wire.notification_settings_json(settings))

    @r.get(
        "/v1/notification-settings/overrides/services/<serviceId>",
        summary="A service's notification override",
    )
    def get_override(serviceId: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        override = notifications.get_notification_override(ports, serviceId)
        return json_response(200, wire.notification_override_json(override))

    @r.patch(
        "/v1/notification-settings/overrides/services/<serviceId>",
        summary="Change a service's notification override",
    )
    def patch_override(
        serviceId: str, body: Annotated[ServiceNotificationOverridePATCH, Body()]
    ) -> Response[str]:
        owned_service(ports, r, serviceId)
        wanted = body.notifications_to_send.value if body.notifications_to_send else None
        override = notifications.patch_notification_override(
            ports, serviceId, notifications_to_send=wanted
        )
        return json_response(200, wire.notification_override_json(override))

    return r
