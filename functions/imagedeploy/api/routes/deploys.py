"""Deploys: ``/v1/services/{id}/deploys``, trigger, cancel, rollback, and the pre-deploy output."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import list_filters as lf
from imagedeploy.api import wire
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import Cursor, Limit, json_response, owned_service
from imagedeploy.api.schemas import RollbackPOST, TriggerDeployPOST
from imagedeploy.domain import hooks
from imagedeploy.domain.deploys import Deploy, DeployTrigger
from imagedeploy.domain.errors import InvalidInput, NotFound
from imagedeploy.usecases import deploys
from imagedeploy.usecases.deploys import Triggered

LOG_PAGE_BYTES = 1024 * 1024  # the largest page asked for
LogOffset = Annotated[int, Query(ge=0, description="Byte offset into the kept output")]
LogLimit = Annotated[
    int | None,
    Query(
        ge=1, le=LOG_PAGE_BYTES, description="Bytes per page (at most 1 MiB; default: to the end)"
    ),
]


def rate_headers(triggered: Triggered) -> dict[str, str]:
    rate = triggered.rate
    return hooks.rate_limit_headers(rate.limit, rate.remaining, rate.reset_seconds)


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    def deploy_body(deploy: Deploy) -> dict[str, object]:
        credential = (
            ports.store.get_credential(deploy.credential_id) if deploy.credential_id else None
        )
        return wire.deploy_json(deploy, credential=credential)

    def accepted(triggered: Triggered) -> Response[str]:
        # Render: 201 with the deploy when it starts, 202 (no body) when it waits in the queue
        if triggered.queued:
            return Response(status_code=202, body="", headers=rate_headers(triggered))
        return json_response(201, deploy_body(triggered.deploy), rate_headers(triggered))

    @r.get("/v1/services/<serviceId>/deploys", summary="List deploys")
    def list_deploys(
        serviceId: str,
        status: lf.DeployStatuses = None,
        createdBefore: lf.CreatedBefore = None,
        createdAfter: lf.CreatedAfter = None,
        updatedBefore: lf.UpdatedBefore = None,
        updatedAfter: lf.UpdatedAfter = None,
        finishedBefore: lf.FinishedBefore = None,
        finishedAfter: lf.FinishedAfter = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Response[str]:
        where = lf.deploy_filter(
            status=status,
            created_before=createdBefore,
            created_after=createdAfter,
            updated_before=updatedBefore,
            updated_after=updatedAfter,
            finished_before=finishedBefore,
            finished_after=finishedAfter,
        )
        owned_service(ports, r, serviceId)
        page, position = wire.read_page(
            lambda n, c: ports.store.list_deploys(serviceId, n, c, where), cursor, limit
        )
        ids = {d.credential_id for d in page.items if d.credential_id}
        records = {i: rec for i in ids if (rec := ports.store.get_credential(i)) is not None}
        return json_response(200, wire.deploy_list_json(page, position, credentials=records))

    @r.post("/v1/services/<serviceId>/deploys", summary="Trigger a deploy")
    def trigger(
        serviceId: str, body: Annotated[TriggerDeployPOST | None, Body()] = None
    ) -> Response[str]:
        service = owned_service(ports, r, serviceId)
        image = None
        if body is not None and body.image_url is not None:
            try:
                image = hooks.resolve_hook_image(service.image_path, body.image_url)
            except NotFound as exc:  # the hook's 404 rule; in the API it is a bad request
                raise InvalidInput(exc.message) from exc
        triggered = deploys.trigger_deploy(
            ports, serviceId, DeployTrigger.API, image=image, service=service
        )
        return accepted(triggered)

    @r.get("/v1/services/<serviceId>/deploys/<deployId>", summary="Retrieve a deploy")
    def get_deploy(serviceId: str, deployId: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        return json_response(200, deploy_body(deploys.get_deploy(ports, serviceId, deployId)))

    @r.post("/v1/services/<serviceId>/deploys/<deployId>/cancel", summary="Cancel a deploy")
    def cancel(serviceId: str, deployId: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        return json_response(200, deploy_body(deploys.cancel_deploy(ports, serviceId, deployId)))

    @r.get("/v1/services/<serviceId>/deploys/<deployId>/logs", summary="Pre-deploy output")
    def logs(
        serviceId: str, deployId: str, offset: LogOffset = 0, limit: LogLimit = None
    ) -> Response[str]:
        """Without ``limit``, the rest of the kept output (which is itself capped)."""
        owned_service(ports, r, serviceId)
        deploys.get_deploy(ports, serviceId, deployId)
        page = deps.read_logs(deployId, offset, limit)
        body: dict[str, object] = {"deployId": deployId, "preDeployOutput": None}
        if page is not None:
            end = page.size if limit is None else min(offset + limit, page.size)
            body.update(
                preDeployOutput=page.text,
                offset=offset,
                nextOffset=end if end < page.size else None,
                size=page.size,
            )
        return json_response(200, body)

    @r.post("/v1/services/<serviceId>/rollback", summary="Roll back to an earlier deploy")
    def rollback(serviceId: str, body: Annotated[RollbackPOST, Body()]) -> Response[str]:
        owned_service(ports, r, serviceId)
        triggered = deploys.rollback(ports, serviceId, body.deploy_id)
        # Render answers a rollback with 201 and the deploy, queued or not
        return json_response(201, deploy_body(triggered.deploy), rate_headers(triggered))

    return r
