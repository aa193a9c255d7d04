"""``/v1/logs``, ``/v1/logs/values`` and ``/v1/logs/subscribe``: Render's log API.

The parameters are Render's (``domain.logs`` says how filters match). Array parameters take
repeated values; label filters also take comma-separated ones as every other list does, but
``text`` never splits on commas (a search may hold one), so its values are read from the raw
query string. ``task``/``taskRun`` (Render workflows) are accepted and match nothing.

``subscribe`` is a stream: ``serve``'s HTTP layer answers it with Server-Sent Events
(``api.log_stream``) after this route has checked the request; through the resolver alone (AWS
Lambda, which cannot stream) the route answers an empty event stream saying so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import json_response, owner_id, parameter, with_parameters
from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.logs import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    LogQuery,
    parse_query,
    to_wire,
)
from imagedeploy.ports import LogReader
from imagedeploy.usecases import logs as log_usecases

_RE = "Wildcards (*) and regular expressions (/regex/) are supported."
_SEVERAL = "several: repeat the parameter"


def _array(description: str, alias: str | None = None) -> Any:
    return Query(alias=alias, description=f"{description} ({_SEVERAL})")


OwnerId = Annotated[str, Query(description="The ID of the workspace to return logs for")]
Resources = Annotated[list[str], _array("Service ids whose logs to return (required)")]
Instances = Annotated[list[str] | None, _array(f"Only these instances. {_RE}")]
Hosts = Annotated[list[str] | None, _array(f"Request logs: only these hosts. {_RE}")]
StatusCodes = Annotated[list[str] | None, _array(f"Request logs: only these statuses. {_RE}")]
Methods = Annotated[list[str] | None, _array(f"Request logs: only these methods. {_RE}")]
Tasks = Annotated[list[str] | None, _array("Workflow tasks (none here: matches nothing)")]
TaskRuns = Annotated[list[str] | None, _array("Workflow task runs (none here: matches nothing)")]
Levels = Annotated[list[str] | None, _array(f"Only these levels. {_RE}")]
Types = Annotated[list[str] | None, _array("Only these types: app, request, build", "type")]
Texts = Annotated[list[str] | None, _array(f"Lines containing this text. {_RE}")]
Paths = Annotated[list[str] | None, _array(f"Request logs: only these paths. {_RE}")]
StartTime = Annotated[
    datetime | None, Query(description="Start of the time range (default: an hour before end)")
]
EndTime = Annotated[datetime | None, Query(description="End of the time range (default: now)")]
Direction = Annotated[
    str | None,
    Query(description="backward (default: newest first) or forward (oldest first)"),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Lines per page (1-{MAX_LIMIT})")]
Label = Annotated[
    str, Query(description="The label: instance, host, statusCode, method, level or type")
]

_FILTERS = ("instance", "host", "statusCode", "method", "level", "type", "path")


def log_query(
    deps: ApiDeps, router: APIGatewayHttpRouter, limit: int | None = DEFAULT_LIMIT
) -> LogQuery:
    """The request's ``LogQuery``, from its raw query string (shared by ``api.log_stream``)."""
    raw = router.current_event.raw_query_string or ""
    return query_from_string(deps, raw, limit)


def query_from_string(deps: ApiDeps, raw: str, limit: int | None = DEFAULT_LIMIT) -> LogQuery:
    pairs = parse_qsl(raw, keep_blank_values=False)
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)

    def split(name: str) -> list[str]:
        return [part for v in multi.get(name, []) for part in v.split(",") if part]

    def last(name: str) -> str | None:
        values = multi.get(name)
        return values[-1] if values else None

    def moment(name: str) -> datetime | None:
        value = last(name)
        if not value:
            return None
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(
                f"{name} must be an RFC 3339 time, e.g. 2021-06-17T08:15:30Z"
            ) from None

    filters: dict[str, list[str]] = {name: split(name) for name in _FILTERS}
    filters["text"] = multi.get("text", [])
    if split("task") or split("taskRun"):
        filters["type"] = ["/(?!)/"]  # no workflows here: nothing matches
    return parse_query(
        owner_id=last("ownerId"),
        resources=split("resource"),
        start=moment("startTime"),
        end=moment("endTime"),
        direction=last("direction"),
        limit=limit,
        now=deps.ports.clock.now(),
        filters=filters,
    )


def _reader(deps: ApiDeps) -> LogReader:
    if deps.log_reader is None:
        raise InvalidInput("logs are not kept by this installation")
    return deps.log_reader


# The parameters of every route here, as Render documents them (``label`` of ``/values`` goes
# after ``ownerId``): powertools validates them; the handlers read the raw query (``log_query``).
_OWNER = parameter("ownerId", OwnerId)
_QUERY = (
    parameter("resource", Resources),
    parameter("startTime", StartTime, None),
    parameter("endTime", EndTime, None),
    parameter("direction", Direction, None),
    parameter("instance", Instances, None),
    parameter("host", Hosts, None),
    parameter("statusCode", StatusCodes, None),
    parameter("method", Methods, None),
    parameter("task", Tasks, None),
    parameter("taskRun", TaskRuns, None),
    parameter("level", Levels, None),
    parameter("type_", Types, None),
    parameter("text", Texts, None),
    parameter("path", Paths, None),
    parameter("limit", Limit, DEFAULT_LIMIT),
)


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    def list_logs(limit: int, **_: Any) -> Response[str]:
        query = log_query(deps, r, limit)
        page = log_usecases.list_logs(ports, _reader(deps), owner_id(r), query)
        return json_response(
            200,
            {
                "hasMore": page.has_more,
                "nextStartTime": _stamp(page.next_start),
                "nextEndTime": _stamp(page.next_end),
                "logs": [to_wire(line) for line in page.lines],
            },
        )

    def list_log_values(label: str, limit: int, **_: Any) -> Response[str]:
        query = log_query(deps, r, limit)
        values = log_usecases.label_values(ports, _reader(deps), owner_id(r), query, label)
        return json_response(200, values)

    def subscribe_logs(limit: int, **_: Any) -> Response[str]:
        query = log_query(deps, r, limit)
        log_usecases.readable_services(ports, owner_id(r), query)  # 404s; no line, no masker
        return Response(
            status_code=200,
            content_type="text/event-stream",
            body=": streaming needs imagedeploy serve; poll GET /v1/logs here\n\n",
            headers={"Cache-Control": "no-cache"},
        )

    r.get("/v1/logs", summary="List logs")(with_parameters(list_logs, (_OWNER, *_QUERY)))
    r.get("/v1/logs/values", summary="List log label values")(
        with_parameters(list_log_values, (_OWNER, parameter("label", Label), *_QUERY))
    )
    r.get("/v1/logs/subscribe", summary="Subscribe to new logs")(
        with_parameters(subscribe_logs, (_OWNER, *_QUERY))
    )
    return r


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
