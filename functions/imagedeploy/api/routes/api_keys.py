"""``/v1/api-keys`` (ours: Render has no API-key endpoints): the caller's workspace's keys.
The key itself is in the ``POST`` answer only; lists and gets show name, dates and last use."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import wire
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import Cursor, Limit, json_response, list_response, owner_id
from imagedeploy.api.schemas import ApiKeyPOST
from imagedeploy.usecases import api_keys


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    @r.get("/v1/api-keys", summary="List API keys")
    def list_api_keys(limit: Limit = 20, cursor: Cursor = None) -> Response[str]:
        return list_response(
            lambda n, c: api_keys.list_keys(ports.store, owner_id(r), n, c),
            cursor,
            limit,
            wire.api_key_list_json,
        )

    @r.post("/v1/api-keys", summary="Create an API key (the key is shown once)")
    def create_api_key(body: Annotated[ApiKeyPOST, Body()]) -> Response[str]:
        key, secret = api_keys.create_key(ports.store, ports.clock, owner_id(r), body.name)
        return json_response(201, wire.api_key_json(key, secret))

    @r.get("/v1/api-keys/<apiKeyId>", summary="Retrieve an API key")
    def get_api_key(apiKeyId: str) -> Response[str]:
        return json_response(
            200, wire.api_key_json(api_keys.get_key(ports.store, owner_id(r), apiKeyId))
        )

    @r.delete("/v1/api-keys/<apiKeyId>", summary="Revoke an API key")
    def revoke_api_key(apiKeyId: str) -> Response[str]:
        api_keys.revoke_key(ports.store, owner_id(r), apiKeyId, keep_last=True)
        return Response(status_code=204, body="")

    return r
