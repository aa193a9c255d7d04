"""The API: one powertools resolver (``enable_validation=True``) with a router per resource,
Bearer API keys on ``/v1``, and one error mapping (``api.errors``). ``imagedeploy serve`` and
``handlers.api`` both serve this resolver.

``ImagedeployResolver.resolve`` checks two things before powertools routes and validates, because
powertools validates a request before any middleware runs: the API key (so an unauthenticated
request is a 401 whatever its body), and that the body is UTF-8 JSON of the right kind (a body
powertools cannot decode would otherwise be a 500, and a JSON array would be unwrapped into its
first item). ``admit_body`` is the same credential check for a server to make before it reads a
large body (``api.http_server``).

Concurrency: powertools keeps the request being resolved on the resolver (``current_event``,
``lambda_context``, the routing ``context``, the middleware trace) and even on the ``BaseRouter``
class — right for a Lambda handling one event at a time, wrong for ``serve``'s threads. Here
that state lives in a ``threading.local``, so one resolver serves any number of threads at once
(the routers read it through ``api_resolver``); middleware stacks are built once, up front.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

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
    jobs,
    logs,
    metrics,
    notifications,
    owners,
    services,
    webhooks,
)
from imagedeploy.dashboard.paths import is_dashboard_path
from imagedeploy.domain.errors import ImagedeployError, InvalidInput, NotFound, Unauthenticated
from imagedeploy.ports import Ports
from imagedeploy.usecases import services as service_usecases
from imagedeploy.usecases.api_keys import authenticate

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from imagedeploy.dashboard.app import Dashboard

# Bodies up to this size are read before the credentials are checked (api.http_server's gate).
SMALL_BODY = 64 * 1024
# the only operation whose body is a JSON array (Render's envVarInputArray)
_ARRAY_BODIES = re.compile(r"PUT /v1/services/[^/]+/env-vars")
_DEPLOY_HOOK = re.compile(r"/deploy/([^/]+)")


class _RequestState(threading.local):
    """What powertools keeps about the request being resolved, one per thread."""

    def __init__(self) -> None:
        self.current_event: Any = None
        self.lambda_context: Any = None
        self.context: dict[str, Any] = {}
        self.processed_stack_frames: list[str] = []


class ImagedeployResolver(APIGatewayHttpResolver):
    def __init__(self, deps: ApiDeps) -> None:
        self._request = _RequestState()  # before super().__init__, which sets the context
        super().__init__(enable_validation=True)
        self._deps = deps
        # The pages at / and /dashboard (build_resolver), built at their first request.
        self.dashboard: Callable[[], Dashboard] | None = None

    # -- powertools' per-request state, thread-local ------------------------------------------
    @property  # type: ignore[override]
    def current_event(self) -> APIGatewayProxyEventV2:
        event: APIGatewayProxyEventV2 = self._request.current_event
        return event

    @current_event.setter
    def current_event(self, value: APIGatewayProxyEventV2) -> None:
        self._request.current_event = value

    @property
    def lambda_context(self) -> LambdaContext:
        context: LambdaContext = self._request.lambda_context
        return context

    @lambda_context.setter
    def lambda_context(self, value: LambdaContext) -> None:
        self._request.lambda_context = value

    @property
    def context(self) -> dict[str, Any]:
        return self._request.context

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        self._request.context = value

    @property
    def processed_stack_frames(self) -> list[str]:
        return self._request.processed_stack_frames

    @processed_stack_frames.setter
    def processed_stack_frames(self, value: list[str]) -> None:
        self._request.processed_stack_frames = value

    def build_middleware_stacks(self) -> None:
        """Build every route's middleware stack now: powertools builds one lazily on the
        route's first call, and two threads doing that at once would stack it twice."""
        for route in [*self._static_routes, *self._dynamic_routes]:
            if not route._middleware_stack_built:
                route._build_middleware_stack(router_middlewares=self._router_middlewares, app=self)

    # -- resolving ------------------------------------------------------------------------------
    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        if self.dashboard is not None and is_dashboard_path(_path(event)):
            return self.dashboard().handle(event, context)  # its own sessions; calls back in here
        try:
            owner_id = self._authenticate(event)
            _check_body(event)
        except ImagedeployError as exc:
            return _proxy_response(exc)
        # powertools' resolve() sets BaseRouter.current_event, shared by every thread; the
        # routes read this thread's copy (the properties above) instead.
        self.current_event = cast("APIGatewayProxyEventV2", self._to_proxy_event(dict(event)))
        self.lambda_context = context
        if owner_id is not None:
            self.append_context(owner_id=owner_id)  # type: ignore[no-untyped-call]
        try:
            return super().resolve(event, context)
        finally:  # a thread keeps no request (bodies are up to 6 MB) between requests
            self._request.current_event = self._request.lambda_context = None

    def _authenticate(self, event: Mapping[str, Any]) -> str | None:
        """The workspace of the request's API key; None for the deploy hook (its own key)."""
        if not _path(event).startswith("/v1/"):
            return None
        return api_key_owner(self._deps.ports, event.get("headers") or {})

    def admit_body(
        self, path: str, query: str, headers: Mapping[str, str]
    ) -> ImagedeployError | None:
        """Whether a request may send a large body, from its head alone: a valid API key on
        ``/v1``, the right key on a deploy hook; None when it may, else the error to answer."""
        try:
            if path.startswith("/v1/"):
                api_key_owner(self._deps.ports, headers)
                return None
            if hook := _DEPLOY_HOOK.fullmatch(path):
                key = dict(parse_qsl(query)).get("key")
                service_usecases.hook_service(self._deps.ports, hook.group(1), key)
                return None
        except ImagedeployError as exc:
            return exc
        if is_dashboard_path(path):  # a browser's form: its session is checked once it is read
            return InvalidInput(
                f"a dashboard form is at most {SMALL_BODY // 1024} KiB; shorten the values, "
                "or send large ones through the API (for env vars: PUT /v1/services/{id}/env-vars)"
            )
        return NotFound(f"{path} is not an API route; the API is under /v1")


def api_key_owner(ports: Ports, headers: Mapping[str, str]) -> str:
    """The workspace of the request's ``Authorization: Bearer <key>``; ``Unauthenticated``
    without a valid one."""
    lowered = {k.lower(): v for k, v in headers.items()}
    scheme, _, key = str(lowered.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated("send an API key: Authorization: Bearer <key>")
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
    except UnicodeDecodeError:
        raise InvalidInput("the request body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InvalidInput(f"the request body is not valid JSON: {exc.msg} ({where})") from None
    except RecursionError:
        raise InvalidInput("the request body nests JSON arrays or objects too deeply") from None
    except ValueError:  # the one other thing json.loads refuses: an integer too long to convert
        raise InvalidInput(
            f"a number in the request body has more than {sys.get_int_max_str_digits()} "
            "digits; no field takes a number that large"
        ) from None
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


def build_resolver(deps: ApiDeps) -> ImagedeployResolver:
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
        logs,
        jobs,
        metrics,
    ):
        app.include_router(module.router(deps))
    app.build_middleware_stacks()

    @functools.cache
    def dashboard() -> Dashboard:
        from imagedeploy.dashboard.app import Dashboard

        return Dashboard(
            app.resolve,
            deps.session_secret(),
            secure=deps.base_url.startswith("https://"),
            lifetime=deps.session_seconds,
        )

    app.dashboard = dashboard
    return app
