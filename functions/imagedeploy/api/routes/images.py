"""``POST /v1/images/verify``: the "Connect" preflight before a service exists (an extension).

Problems of the image are the 200 answer (``ok: false``); a registry that is unavailable or
does not answer within the request budget is a 503 (``api.errors``): retry later."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import json_response, owned_credential
from imagedeploy.api.schemas import (
    ImageVerifyPOST,
)
from imagedeploy.domain.errors import ImagePullError, InvalidReference
from imagedeploy.domain.reference import parse_reference
from imagedeploy.usecases.common import load_credential


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    @r.post("/v1/images/verify", summary="Preflight an image before creating a service")
    def verify(body: Annotated[ImageVerifyPOST, Body()]) -> Response[str]:
        url = body.image_url.removeprefix("https://").removeprefix("http://")
        if body.registry_credential_id:
            owned_credential(ports, r, body.registry_credential_id)
        credential = load_credential(ports, body.registry_credential_id)
        try:
            ref = parse_reference(url)
            result = ports.registry.inspect(ref, credential)
        except InvalidReference as exc:
            return json_response(
                200,
                {
                    "imageUrl": body.image_url,
                    "ok": False,
                    "problem": "invalid_reference",
                    "message": exc.message,
                },
            )
        except ImagePullError as exc:
            if exc.transient:
                raise
            return json_response(
                200,
                {
                    "imageUrl": body.image_url,
                    "ok": False,
                    "problem": exc.reason.value,
                    "message": exc.message,
                },
            )
        return json_response(200, {"imageUrl": body.image_url, "ok": True, **result.to_json()})

    return r
