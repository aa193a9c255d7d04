"""``/v1/registrycredentials``: reusable registry logins (the token is write-only)."""

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
    own_owner,
    owned_credential,
    owner_id,
)
from imagedeploy.api.schemas import (
    RegistryCredentialPATCH,
    RegistryCredentialPOST,
)
from imagedeploy.usecases import credentials


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    @r.get("/v1/registrycredentials", summary="List registry credentials")
    def list_credentials(
        name: lf.CredentialNames = None,
        username: lf.Usernames = None,
        type_: lf.CredentialTypes = None,
        createdBefore: lf.CreatedBefore = None,
        createdAfter: lf.CreatedAfter = None,
        updatedBefore: lf.UpdatedBefore = None,
        updatedAfter: lf.UpdatedAfter = None,
        ownerId: lf.WorkspaceIds = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Response[str]:
        where = lf.credential_filter(
            name=name,
            username=username,
            types=type_,
            created_before=createdBefore,
            created_after=createdAfter,
            updated_before=updatedBefore,
            updated_after=updatedAfter,
        )
        if not lf.mine(owner_id(r), ownerId):
            return json_response(200, [])
        page, _ = wire.read_page(
            lambda n, c: credentials.list_credentials(ports, owner_id(r), n, c, where),
            cursor,
            limit,
        )
        return json_response(200, wire.credential_list_json(page.items))

    @r.post("/v1/registrycredentials", summary="Create a registry credential")
    def create_credential(body: Annotated[RegistryCredentialPOST, Body()]) -> Response[str]:
        own_owner(r, body.owner_id)
        record = credentials.create_credential(
            ports, body.owner_id, body.name, body.registry, body.username, body.auth_token
        )
        return json_response(200, wire.credential_json(record))

    @r.get("/v1/registrycredentials/<registryCredentialId>", summary="Retrieve a credential")
    def get_credential(registryCredentialId: str) -> Response[str]:
        owned_credential(ports, r, registryCredentialId)
        return json_response(
            200, wire.credential_json(credentials.get_credential(ports, registryCredentialId))
        )

    @r.patch("/v1/registrycredentials/<registryCredentialId>", summary="Update a credential")
    def update_credential(
        registryCredentialId: str,
        body: Annotated[RegistryCredentialPATCH, Body()],
    ) -> Response[str]:
        owned_credential(ports, r, registryCredentialId)
        record = credentials.update_credential(
            ports,
            registryCredentialId,
            name=body.name,
            registry=body.registry,
            username=body.username,
            token=body.auth_token,
        )
        return json_response(200, wire.credential_json(record))

    @r.delete("/v1/registrycredentials/<registryCredentialId>", summary="Delete a credential")
    def delete_credential(registryCredentialId: str) -> Response[str]:
        owned_credential(ports, r, registryCredentialId)
        credentials.delete_credential(ports, registryCredentialId)
        return Response(status_code=204, body="")

    return r
