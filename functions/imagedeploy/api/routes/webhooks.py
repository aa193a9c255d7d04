"""``/v1/webhooks``: signed event deliveries (Standard Webhooks) and their delivery log."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import list_filters as lf
from imagedeploy.api import wire
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import (
    Cursor,
    Limit,
    json_response,
    list_response,
    own_owner,
    owner_id,
)
from imagedeploy.api.schemas import (
    WebhookPATCH,
    WebhookPOST,
)
from imagedeploy.domain.errors import NotFound
from imagedeploy.usecases import notifications


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    def owned_webhook(webhook_id: str) -> None:
        if notifications.get_webhook(ports, webhook_id).owner_id != owner_id(r):
            raise NotFound(f"webhook {webhook_id} not found")

    @r.get("/v1/webhooks", summary="List webhooks")
    def list_webhooks(
        ownerId: lf.WorkspaceIds = None, limit: Limit = 20, cursor: Cursor = None
    ) -> Response[str]:
        if not lf.mine(owner_id(r), ownerId):
            return json_response(200, [])
        return list_response(
            lambda n, c: notifications.list_webhooks(ports, owner_id(r), n, c),
            cursor,
            limit,
            wire.webhook_list_json,
        )

    @r.post("/v1/webhooks", summary="Create a webhook")
    def create_webhook(body: Annotated[WebhookPOST, Body()]) -> Response[str]:
        own_owner(r, body.owner_id)
        webhook = notifications.create_webhook(
            ports, body.owner_id, body.name, body.url, body.enabled, body.event_filter
        )
        return json_response(201, wire.webhook_json(webhook))

    @r.get("/v1/webhooks/<webhookId>", summary="Retrieve a webhook")
    def get_webhook(webhookId: str) -> Response[str]:
        owned_webhook(webhookId)
        return json_response(200, wire.webhook_json(notifications.get_webhook(ports, webhookId)))

    @r.patch("/v1/webhooks/<webhookId>", summary="Update a webhook")
    def update_webhook(webhookId: str, body: Annotated[WebhookPATCH, Body()]) -> Response[str]:
        owned_webhook(webhookId)
        webhook = notifications.update_webhook(
            ports,
            webhookId,
            name=body.name,
            url=body.url,
            enabled=body.enabled,
            event_filter=body.event_filter,
        )
        return json_response(200, wire.webhook_json(webhook))

    @r.delete("/v1/webhooks/<webhookId>", summary="Delete a webhook")
    def delete_webhook(webhookId: str) -> Response[str]:
        owned_webhook(webhookId)
        notifications.delete_webhook(ports, webhookId)
        return Response(status_code=204, body="")

    @r.get("/v1/webhooks/<webhookId>/events", summary="A webhook's delivery log")
    def list_webhook_events(
        webhookId: str,
        sentBefore: lf.SentBefore = None,
        sentAfter: lf.SentAfter = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Response[str]:
        where = lf.delivery_filter(sent_before=sentBefore, sent_after=sentAfter)
        owned_webhook(webhookId)
        return list_response(
            lambda n, c: notifications.list_webhook_events(ports, webhookId, n, c, where),
            cursor,
            limit,
            wire.webhook_event_list_json,
        )

    return r
