"""``/v1/owners``: the workspace an API key belongs to."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import list_filters as lf
from imagedeploy.api import wire
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import Cursor, Limit, json_response, list_response, owner_id
from imagedeploy.domain.accounts import Owner
from imagedeploy.domain.errors import NotFound
from imagedeploy.ports import Page


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    @r.get("/v1/owners", summary="List workspaces")
    def list_owners(
        name: lf.OwnerNames = None,
        email: lf.OwnerEmails = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Response[str]:
        where = lf.owner_filter(name=name, email=email)
        mine = ports.store.get_owner(owner_id(r))
        if mine is not None and not where.matches(mine):
            mine = None

        def fetch(n: int, c: str | None) -> Page[Owner]:
            return Page([mine] if mine is not None and c is None else [], None)

        return list_response(fetch, cursor, limit, wire.owner_list_json)

    @r.get("/v1/owners/<ownerId>", summary="Retrieve a workspace")
    def get_owner(ownerId: str) -> Response[str]:
        owner = ports.store.get_owner(ownerId)
        if owner is None or owner.id != owner_id(r):
            raise NotFound(f"owner {ownerId} not found; list owners with GET /v1/owners")
        return json_response(200, wire.owner_json(owner))

    return r
