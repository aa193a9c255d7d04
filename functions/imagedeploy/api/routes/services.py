"""``/v1/services``: create, list, read, update, delete, suspend/resume/restart/scale, env vars."""

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
    owned_service,
    owner_id,
)
from imagedeploy.api.schemas import (
    ScalePOST,
    ServicePATCH,
    ServicePOST,
)
from imagedeploy.domain.accounts import CredentialRecord
from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.service_rules import UNSET, ServiceChanges, validate_create
from imagedeploy.domain.services import Service
from imagedeploy.usecases import services


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    def credential_of(service: Service) -> CredentialRecord | None:
        return ports.store.get_credential(service.credential_id) if service.credential_id else None

    def service_body(service: Service) -> dict[str, object]:
        live = ports.store.get_deploy(service.live_deploy_id) if service.live_deploy_id else None
        return wire.service_json(
            service,
            base_url=deps.base_url,
            credential=credential_of(service),
            live_deploy=live,
            apps_base_url=deps.apps_base_url,
        )

    @r.post("/v1/services", summary="Create a service (starts its first deploy)")
    def create_service(body: Annotated[ServicePOST, Body()]) -> Response[str]:
        own_owner(r, body.owner_id)
        d = body.service_details
        spec = validate_create(
            body.type,
            body.name,
            body.image.image_path,
            body.credential_id,
            [e.to_env_var() for e in body.env_vars],
            d.plan,
            d.region,
            d.num_instances if body.type.long_running else None,
            d.docker_command,
            d.pre_deploy_command if body.type.long_running else None,
            d.health_check_path or None,
            d.max_shutdown_delay_seconds if body.type.long_running else None,
            d.schedule or None,
        )
        created = services.create_service(ports, body.owner_id, spec)
        payload = wire.service_and_deploy_json(
            created.service,
            created.deploy.id,
            base_url=deps.base_url,
            credential=credential_of(created.service),
            apps_base_url=deps.apps_base_url,
        )
        # extension: the deploy hook URL, shown once (only the key's hash is stored)
        payload["deployHookUrl"] = (
            f"{deps.base_url}/deploy/{created.service.id}?key={created.hook_key}"
        )
        return json_response(201, payload)

    @r.get("/v1/services", summary="List services")
    def list_services(
        name: lf.Names = None,
        type_: lf.ServiceTypes = None,
        env: lf.Runtimes = None,
        region: lf.Regions = None,
        suspended: lf.Suspension = None,
        environmentId: lf.EnvironmentIds = None,
        createdBefore: lf.CreatedBefore = None,
        createdAfter: lf.CreatedAfter = None,
        updatedBefore: lf.UpdatedBefore = None,
        updatedAfter: lf.UpdatedAfter = None,
        ownerId: lf.OwnerIds = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Response[str]:
        where = lf.service_filter(
            name=name,
            types=type_,
            env=env,
            region=region,
            suspended=suspended,
            environment_id=environmentId,
            created_before=createdBefore,
            created_after=createdAfter,
            updated_before=updatedBefore,
            updated_after=updatedAfter,
        )
        owners = lf.words(ownerId)
        page, position = wire.read_page(
            lambda n, c: services.list_services(ports, owner_id(r), n, c, where, owners),
            cursor,
            limit,
        )
        ids = {s.credential_id for s in page.items if s.credential_id}
        records = {i: rec for i in ids if (rec := ports.store.get_credential(i)) is not None}
        return json_response(
            200,
            wire.service_list_json(
                page,
                position,
                base_url=deps.base_url,
                credentials=records,
                apps_base_url=deps.apps_base_url,
            ),
        )

    @r.get("/v1/services/<serviceId>", summary="Retrieve a service")
    def get_service(serviceId: str) -> Response[str]:
        return json_response(200, service_body(owned_service(ports, r, serviceId)))

    @r.patch("/v1/services/<serviceId>", summary="Update a service (does not deploy)")
    def update_service(serviceId: str, body: Annotated[ServicePATCH, Body()]) -> Response[str]:
        service = owned_service(ports, r, serviceId)
        changes = _changes(service, body)
        return json_response(200, service_body(services.update_service(ports, serviceId, changes)))

    @r.delete("/v1/services/<serviceId>", summary="Delete a service")
    def delete_service(serviceId: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        services.delete_service(ports, serviceId)
        return Response(status_code=204, body="")

    @r.post("/v1/services/<serviceId>/suspend", summary="Suspend a service")
    def suspend(serviceId: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        services.suspend(ports, serviceId)
        return Response(status_code=202, body="")

    @r.post("/v1/services/<serviceId>/resume", summary="Resume a service")
    def resume(serviceId: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        services.resume(ports, serviceId)
        return Response(status_code=202, body="")

    @r.post("/v1/services/<serviceId>/restart", summary="Restart a service")
    def restart(serviceId: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        services.restart(ports, serviceId)
        return Response(status_code=200, body="")

    @r.post("/v1/services/<serviceId>/scale", summary="Scale a service")
    def scale(serviceId: str, body: Annotated[ScalePOST, Body()]) -> Response[str]:
        owned_service(ports, r, serviceId)
        services.scale(ports, serviceId, body.num_instances)
        return Response(status_code=202, body="")

    return r


def _changes(service: Service, body: ServicePATCH) -> ServiceChanges:
    details = body.details_for(service.type)
    fields: dict[str, object] = {}
    if body.name is not None:
        fields["name"] = body.name
    if body.image is not None:
        if body.image.owner_id != service.owner_id:
            raise InvalidInput("image.ownerId must be the service's ownerId")
        fields["image_path"] = body.image.image_path
        if "registry_credential_id" in body.image.model_fields_set:
            fields["credential_id"] = body.image.registry_credential_id
    if details is not None:
        docker = details.env_specific_details
        if docker is not None:
            if docker.docker_command is not None:
                fields["docker_command"] = docker.docker_command
            if "registry_credential_id" in docker.model_fields_set:
                fields["credential_id"] = docker.registry_credential_id
        for name in (
            "plan",
            "health_check_path",
            "pre_deploy_command",
            "max_shutdown_delay_seconds",
            "schedule",
        ):
            value = getattr(details, name)
            if value is not None:
                fields[name] = value
    return ServiceChanges(**{k: v for k, v in fields.items() if v is not UNSET})  # type: ignore[arg-type]
