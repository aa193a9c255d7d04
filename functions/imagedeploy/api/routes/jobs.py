"""``/v1/services/{id}/jobs`` (one-off jobs) and ``/v1/services/{id}/instances``."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import list_filters as lf
from imagedeploy.api import wire_jobs
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import (
    Cursor,
    Limit,
    json_response,
    list_response,
    owned_service,
)
from imagedeploy.api.schemas import JobPOST
from imagedeploy.usecases import instances, jobs


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    @r.post("/v1/services/<serviceId>/jobs", summary="Run a one-off job")
    def create_job(serviceId: str, body: Annotated[JobPOST, Body()]) -> Response[str]:
        owned_service(ports, r, serviceId)
        job = jobs.create_job(ports, serviceId, body.start_command, body.plan_id)
        return json_response(201, wire_jobs.job_json(job))

    @r.get("/v1/services/<serviceId>/jobs", summary="List a service's one-off jobs")
    def list_jobs(
        serviceId: str,
        status: lf.JobStatuses = None,
        createdBefore: lf.CreatedBefore = None,
        createdAfter: lf.CreatedAfter = None,
        startedBefore: lf.StartedBefore = None,
        startedAfter: lf.StartedAfter = None,
        finishedBefore: lf.FinishedBefore = None,
        finishedAfter: lf.FinishedAfter = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Response[str]:
        where = lf.job_filter(
            status=status,
            created_before=createdBefore,
            created_after=createdAfter,
            started_before=startedBefore,
            started_after=startedAfter,
            finished_before=finishedBefore,
            finished_after=finishedAfter,
        )
        owned_service(ports, r, serviceId)
        return list_response(
            lambda n, c: jobs.list_jobs(ports, serviceId, n, c, where),
            cursor,
            limit,
            wire_jobs.job_list_json,
        )

    @r.get("/v1/services/<serviceId>/jobs/<jobId>", summary="Retrieve a one-off job")
    def get_job(serviceId: str, jobId: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        return json_response(200, wire_jobs.job_json(jobs.get_job(ports, serviceId, jobId)))

    @r.post("/v1/services/<serviceId>/jobs/<jobId>/cancel", summary="Cancel a one-off job")
    def cancel_job(serviceId: str, jobId: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        return json_response(200, wire_jobs.job_json(jobs.cancel_job(ports, serviceId, jobId)))

    @r.get("/v1/services/<serviceId>/instances", summary="List a service's instances")
    def list_instances(serviceId: str) -> Response[str]:
        owned_service(ports, r, serviceId)
        found = instances.list_instances(ports, serviceId)
        return json_response(200, wire_jobs.instance_list_json(found))

    return r
