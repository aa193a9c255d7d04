"""The API: one powertools resolver (``enable_validation=True``) with a router per resource,
Bearer API keys on ``/v1``, and one error mapping (``api.errors``). ``imagedeploy serve`` and
``handlers.api`` both serve this resolver.

``ImagedeployResolver.resolve`` checks two things before powertools routes and validates, because
powertools validates a request before any middleware runs: the API key (so an unauthenticated
request is a 401 whatever its body), and that the body is UTF-8 JSON of the right kind (a body
powertools cannot decode would otherwise be a 500, and a JSON array would be unwrapped into its
first item).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from imagedeploy.api import errors
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes import (
    api_keys,
    credentials,
    cron_jobs,
    deploy_hooks,
    deploys,
    env_vars,
    events,
    images,
    notifications,
    owners,
    services,
    webhooks,
)
from imagedeploy.domain.errors import ImagedeployError, InvalidInput, Unauthenticated
from imagedeploy.usecases.api_keys import authenticate

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# the only operation whose body is a JSON array (Render's envVarInputArray)
_ARRAY_BODIES = re.compile(r"PUT /v1/services/[^/]+/env-vars")


class ImagedeployResolver(APIGatewayHttpResolver):
    def __init__(self, deps: ApiDeps) -> None:
        super().__init__(enable_validation=True)
        self._deps = deps

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            owner_id = self._authenticate(event)
            _check_body(event)
        except ImagedeployError as exc:
            return _proxy_response(exc)
        if owner_id is not None:
            self.append_context(owner_id=owner_id)  # type: ignore[no-untyped-call]
        return super().resolve(event, context)

    def _authenticate(self, event: Mapping[str, Any]) -> str | None:
        """The workspace of the request's API key; None for the deploy hook (its own key)."""
        if not _path(event).startswith("/v1/"):
            return None
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        scheme, _, key = str(headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("send an API key: Authorization: Bearer <key>")
        ports = self._deps.ports
        return authenticate(ports.store, ports.clock, key.strip()).owner_id


def _path(event: Mapping[str, Any]) -> str:
    return str(event.get("rawPath") or event.get("path") or "/")


def _check_body(event: Mapping[str, Any]) -> None:
    body = event.get("body")
    if not body:
        return
    raw = (
        base64.b64decode(body)
        if event.get("isBase64Encoded")
        else str(body).encode("utf-8", "surrogatepass")
    )
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInput("the request body is not valid UTF-8 JSON") from None
    method = str((event.get("requestContext") or {}).get("http", {}).get("method", "")).upper()
    if isinstance(parsed, list) and not _ARRAY_BODIES.fullmatch(f"{method} {_path(event)}"):
        raise InvalidInput("the request body must be a JSON object, not an array")


def _proxy_response(exc: ImagedeployError) -> dict[str, Any]:
    mapped = errors.error_response(exc)
    return {
        "statusCode": mapped.status,
        "headers": {"Content-Type": "application/json", **dict(mapped.headers)},
        "body": json.dumps(mapped.body),
        "isBase64Encoded": False,
    }


def build_resolver(deps: ApiDeps) -> APIGatewayHttpResolver:
    app = ImagedeployResolver(deps)
    errors.install(app)
    for module in (
        owners,
        services,
        env_vars,
        deploys,
        deploy_hooks,
        events,
        cron_jobs,
        credentials,
        images,
        notifications,
        webhooks,
        api_keys,
    ):
        app.include_router(module.router(deps))
    return app
