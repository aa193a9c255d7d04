"""``/v1/services/{id}/env-vars``: a service's environment (applies to the next deploy)."""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import wire
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import Cursor, Limit, json_response, owned_service
from imagedeploy.api.schemas import (
    EnvVarInput,
    EnvVarValueInput,
)
from imagedeploy.domain.errors import InvalidInput, NotFound
from imagedeploy.domain.services import EnvVar, Service
from imagedeploy.ports import Page
from imagedeploy.usecases import services


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    def env_page(service: Service, limit: int, cursor: str | None) -> list[dict[str, object]]:
        items = list(service.env_vars)

        def fetch(n: int, store_cursor: str | None) -> Page[EnvVar]:
            if store_cursor is not None and not re.fullmatch(r"[0-9]{1,6}", store_cursor):
                raise InvalidInput("cursor is not one of this list's; pass it unchanged")
            start = int(store_cursor or 0)
            end = start + n
            return Page(items[start:end], str(end) if end < len(items) else None)

        page, position = wire.read_page(fetch, cursor, limit)
        return wire.env_var_list_json(page, position)

    @r.get("/v1/services/<serviceId>/env-vars", summary="List env vars")
    def list_env_vars(serviceId: str, limit: Limit = 20, cursor: Cursor = None) -> Response[str]:
        return json_response(200, env_page(owned_service(ports, r, serviceId), limit, cursor))

    @r.put("/v1/services/<serviceId>/env-vars", summary="Replace all env vars")
    def put_env_vars(serviceId: str, body: Annotated[list[EnvVarInput], Body()]) -> Response[str]:
        owned_service(ports, r, serviceId)
        updated = services.put_env_vars(ports, serviceId, [e.to_env_var() for e in body])
        return json_response(200, env_page(updated, 100, None))

    @r.get("/v1/services/<serviceId>/env-vars/<envVarKey>", summary="Retrieve an env var")
    def get_env_var(serviceId: str, envVarKey: str) -> Response[str]:
        service = owned_service(ports, r, serviceId)
        for env_var in service.env_vars:
            if env_var.key == envVarKey:
                return json_response(200, wire.env_var_json(env_var))
        raise NotFound(f"env var {envVarKey} is not set on service {serviceId}")

    @r.put("/v1/services/<serviceId>/env-vars/<envVarKey>", summary="Set one env var")
    def put_env_var(
        serviceId: str,
        envVarKey: str,
        body: Annotated[EnvVarValueInput, Body()],
    ) -> Response[str]:
        owned_service(ports, r, serviceId)
        env_var = body.to_env_var(envVarKey)
        services.put_env_var(ports, serviceId, env_var.key, env_var.value)
        return json_response(200, wire.env_var_json(env_var))

    @r.delete("/v1/services/<serviceId>/env-vars/<envVarKey>", summary="Delete an env var")
    def delete_env_var(serviceId: str, envVarKey: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        services.remove_env_var(ports, serviceId, envVarKey)
        return Response(status_code=204, body="")

    return r
