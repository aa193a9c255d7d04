"""``/v1/cron-jobs/{id}/runs``: run now, cancel, and the run history (an extension)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import list_filters as lf
from imagedeploy.api import wire
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import (
    Cursor,
    Limit,
    json_response,
    list_response,
    owned_service,
)
from imagedeploy.usecases import cron


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

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
    def list_runs(
        cronJobId: str,
        status: lf.RunStatuses = None,
        startedBefore: lf.StartedBefore = None,
        startedAfter: lf.StartedAfter = None,
        finishedBefore: lf.FinishedBefore = None,
        finishedAfter: lf.FinishedAfter = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Response[str]:
        where = lf.run_filter(
            status=status,
            started_before=startedBefore,
            started_after=startedAfter,
            finished_before=finishedBefore,
            finished_after=finishedAfter,
        )
        owned_service(ports, r, cronJobId)
        return list_response(
            lambda n, c: cron.list_runs(ports, cronJobId, n, c, where),
            cursor,
            limit,
            wire.cron_run_list_json,
        )

    return r
