"""Helpers shared by the routers: the authenticated owner, JSON responses, list parameters and
pages, and signatures shared by several routes."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import wire
from imagedeploy.domain.errors import NotFound
from imagedeploy.domain.paging import MAX_LIMIT
from imagedeploy.domain.services import Service
from imagedeploy.ports import Page, Ports

T = TypeVar("T")
Handler = TypeVar("Handler", bound=Callable[..., Response[str]])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1-{MAX_LIMIT})")]
Cursor = Annotated[str | None, Query(description="The cursor of the last item you have")]


def owner_id(router: APIGatewayHttpRouter) -> str:
    """The workspace the request's API key belongs to (set by the auth middleware)."""
    value = router.context.get("owner_id")
    assert isinstance(value, str), "the auth middleware runs before every /v1 route"
    return value


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body),
        headers=headers or {},
    )


def list_response(
    fetch: Callable[[int, str | None], Page[T]],
    cursor: str | None,
    limit: int,
    to_json: Callable[[Page[T], wire.ListPosition], Any],
) -> Response[str]:
    """One page of a list for the request's ``cursor`` and ``limit`` (``wire.read_page``), as
    ``to_json`` (a ``wire.*_list_json``) writes it."""
    page, position = wire.read_page(fetch, cursor, limit)
    return json_response(200, to_json(page, position))


def parameter(
    name: str, annotation: Any, default: Any = inspect.Parameter.empty
) -> inspect.Parameter:
    """One query parameter for ``with_parameters``; required when it has no ``default``."""
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def with_parameters(handler: Handler, parameters: Sequence[inspect.Parameter]) -> Handler:
    """``handler`` (taking ``**kwargs``) declaring ``parameters`` as its own. Powertools reads a
    route's parameters from its handler's signature (to validate and to document them) and
    calls it with keywords, so routes that share parameters share one list this way."""
    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        list(parameters), return_annotation=Response[str]
    )
    return handler


def owned_service(ports: Ports, router: APIGatewayHttpRouter, service_id: str) -> Service:
    """The service, if it belongs to the caller's workspace; else 404 (not 403: ids of other
    workspaces are not confirmed)."""
    service = ports.store.get_service(service_id)
    if service is None or service.owner_id != owner_id(router):
        raise NotFound(f"service {service_id} not found; list services with GET /v1/services")
    return service


def owned_credential(ports: Ports, router: APIGatewayHttpRouter, credential_id: str) -> None:
    """404 unless the registry credential belongs to the caller's workspace."""
    record = ports.store.get_credential(credential_id)
    if record is None or record.owner_id != owner_id(router):
        raise NotFound(f"registry credential {credential_id} not found")


def own_owner(router: APIGatewayHttpRouter, owner: str) -> None:
    """404 unless ``owner`` is the caller's workspace (ids of others are not confirmed)."""
    if owner != owner_id(router):
        raise NotFound(f"owner {owner} not found; list owners with GET /v1/owners")
