"""The smaller resources: owners, events, registry credentials, cron runs, image verify."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import wire
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import Cursor, Limit, json_response, owned_service, owner_id
from imagedeploy.api.schemas import (
    ImageVerifyPOST,
    RegistryCredentialPATCH,
    RegistryCredentialPOST,
)
from imagedeploy.domain.errors import ImagePullError, InvalidReference, NotFound
from imagedeploy.domain.reference import parse_reference
from imagedeploy.ports import Page
from imagedeploy.usecases import credentials, cron
from imagedeploy.usecases.common import load_credential


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    # -- owners -------------------------------------------------------------------------------
    @r.get("/v1/owners", summary="List workspaces")
    def list_owners(limit: Limit = 20, cursor: Cursor = None) -> Response[str]:
        mine = ports.store.get_owner(owner_id(r))

        def fetch(n: int, c: str | None) -> Page[object]:
            return Page([mine] if mine is not None and c is None else [], None)

        page, position = wire.read_page(fetch, cursor, limit)
        return json_response(200, wire.owner_list_json(page, position))  # type: ignore[arg-type]

    @r.get("/v1/owners/<ownerId>", summary="Retrieve a workspace")
    def get_owner(ownerId: str) -> Response[str]:
        owner = ports.store.get_owner(ownerId)
        if owner is None or owner.id != owner_id(r):
            raise NotFound(f"owner {ownerId} not found; list owners with GET /v1/owners")
        return json_response(200, wire.owner_json(owner))

    # -- events -------------------------------------------------------------------------------
    @r.get("/v1/services/<serviceId>/events", summary="List a service's events")
    def list_events(serviceId: str, limit: Limit = 20, cursor: Cursor = None) -> Response[str]:
        owned_service(ports, r, serviceId)
        page, position = wire.read_page(
            lambda n, c: ports.store.list_events(serviceId, n, c), cursor, limit
        )
        return json_response(200, wire.event_list_json(page, position))

    @r.get("/v1/events/<eventId>", summary="Retrieve an event")
    def get_event(eventId: str) -> Response[str]:
        event = ports.store.get_event(eventId)
        if event is None:
            raise NotFound(f"event {eventId} not found")
        owned_service(ports, r, event.service_id)
        return json_response(200, wire.event_json(event))

    # -- registry credentials ------------------------------------------------------------------
    def owned_credential(credential_id: str) -> None:
        record = credentials.get_credential(ports, credential_id)
        if record.owner_id != owner_id(r):
            raise NotFound(f"registry credential {credential_id} not found")

    @r.get("/v1/registrycredentials", summary="List registry credentials")
    def list_credentials(limit: Limit = 20, cursor: Cursor = None) -> Response[str]:
        page, _ = wire.read_page(
            lambda n, c: credentials.list_credentials(ports, owner_id(r), n, c), cursor, limit
        )
        return json_response(200, wire.credential_list_json(page.items))

    @r.post("/v1/registrycredentials", summary="Create a registry credential")
    def create_credential(body: Annotated[RegistryCredentialPOST, Body()]) -> Response[str]:
        if body.owner_id != owner_id(r):
            raise NotFound(f"owner {body.owner_id} not found; list owners with GET /v1/owners")
        record = credentials.create_credential(
            ports, body.owner_id, body.name, body.registry, body.username, body.auth_token
        )
        return json_response(200, wire.credential_json(record))

    @r.get("/v1/registrycredentials/<registryCredentialId>", summary="Retrieve a credential")
    def get_credential(registryCredentialId: str) -> Response[str]:
        owned_credential(registryCredentialId)
        return json_response(
            200, wire.credential_json(credentials.get_credential(ports, registryCredentialId))
        )

    @r.patch("/v1/registrycredentials/<registryCredentialId>", summary="Update a credential")
    def update_credential(
        registryCredentialId: str,
        body: Annotated[RegistryCredentialPATCH, Body()],
    ) -> Response[str]:
        owned_credential(registryCredentialId)
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
        owned_credential(registryCredentialId)
        credentials.delete_credential(ports, registryCredentialId)
        return Response(status_code=204, body="")

    # -- cron job runs ------------------------------------------------------------------------
    @r.post("/v1/cron-jobs/<cronJobId>/runs", summary="Run a cron job now")
    def trigger_run(cronJobId: str) -> Response[str]:
        owned_service(ports, r, cronJobId)
        return json_response(200, wire.cron_run_json(cron.trigger_run(ports, cronJobId)))

    @r.delete("/v1/cron-jobs/<cronJobId>/runs", summary="Cancel the active run")
    def cancel_run(cronJobId: str) -> Response[str]:
        owned_service(ports, r, cronJobId)
        cron.cancel_active_run(ports, cronJobId)
        return Response(status_code=204, body="")

    @r.get("/v1/cron-jobs/<cronJobId>/runs", summary="List runs (imagedeploy extension)")
    def list_runs(cronJobId: str, limit: Limit = 20, cursor: Cursor = None) -> Response[str]:
        owned_service(ports, r, cronJobId)
        page, position = wire.read_page(
            lambda n, c: cron.list_runs(ports, cronJobId, n, c), cursor, limit
        )
        return json_response(200, wire.cron_run_list_json(page, position))

    # -- images -------------------------------------------------------------------------------
    @r.post("/v1/images/verify", summary="Preflight an image before creating a service")
    def verify(body: Annotated[ImageVerifyPOST, Body()]) -> Response[str]:
        url = body.image_url.removeprefix("https://").removeprefix("http://")
        if body.registry_credential_id:
            owned_credential(body.registry_credential_id)
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
