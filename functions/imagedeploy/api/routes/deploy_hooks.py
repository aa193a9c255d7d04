"""Deploy hooks: ``GET|POST /deploy/{serviceId}?key=…&imgURL=…`` (outside /v1, authenticated by
its key only), and reading / regenerating a service's hook URL under /v1."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import wire
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import json_response, owned_service
from imagedeploy.api.routes.deploys import rate_headers
from imagedeploy.usecases import services


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    @r.get("/v1/services/<serviceId>/deploy-hook", summary="The deploy hook (key not shown)")
    def hook_info(serviceId: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        return json_response(
            200,
            {
                "serviceId": serviceId,
                "url": f"{deps.base_url}/deploy/{serviceId}",
                "key": None,  # stored hashed: regenerate to get a new one
                "regenerate": f"{deps.base_url}/v1/services/{serviceId}/deploy-hook/regenerate",
            },
        )

    @r.post("/v1/services/<serviceId>/deploy-hook/regenerate", summary="New deploy hook key")
    def regenerate(serviceId: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        key = services.regenerate_hook_key(ports, serviceId)
        return json_response(
            200, {"serviceId": serviceId, "url": f"{deps.base_url}/deploy/{serviceId}?key={key}"}
        )

    def hook(serviceId: str) -> Response[str]:
        params = r.current_event.query_string_parameters or {}
        triggered = services.deploy_hook(ports, serviceId, params.get("key"), params.get("imgURL"))
        return json_response(
            200, wire.deploy_hook_json(triggered.deploy.id), rate_headers(triggered)
        )

    r.get("/deploy/<serviceId>", summary="Deploy hook (GET)")(hook)
    r.post("/deploy/<serviceId>", summary="Deploy hook (POST)")(hook)
    return r
