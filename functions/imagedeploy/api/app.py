"""The API: one powertools resolver (``enable_validation=True``) with a router per resource,
Bearer API keys on ``/v1``, and one error mapping (``api.errors``). ``imagedeploy serve`` and
``handlers.api`` both serve this resolver."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from imagedeploy.api import errors
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes import deploys, notifications, resources, services
from imagedeploy.domain.accounts import hash_key
from imagedeploy.domain.errors import Unauthenticated


def _authenticate(
    deps: ApiDeps,
) -> Callable[[APIGatewayHttpResolver, NextMiddleware], Response[str]]:
    def middleware(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[str]:
        path = app.current_event.path
        if not path.startswith("/v1/"):
            return next_middleware(app)  # the deploy hook authenticates by its own key
        header = app.current_event.headers.get("authorization") or ""
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("send an API key: Authorization: Bearer <key>")
        api_key = deps.ports.store.get_api_key_by_hash(hash_key(key.strip()))
        if api_key is None:
            raise Unauthenticated("this API key is not valid; create one with imagedeploy")
        app.append_context(owner_id=api_key.owner_id)  # type: ignore[no-untyped-call]
        return next_middleware(app)

    return middleware


def build_resolver(deps: ApiDeps) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    errors.install(app)
    app.use(middlewares=[_authenticate(deps)])
    for module in (services, deploys, resources, notifications):
        app.include_router(module.router(deps))
    return app
