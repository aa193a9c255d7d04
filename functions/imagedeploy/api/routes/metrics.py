"""``/v1/metrics/*``: Render's resource metrics (cpu, memory, instance count, limits) and HTTP
metrics of web services, with Render's parameters for each path."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, NamedTuple

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import list_filters as lf
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import json_response, owner_id, parameter, with_parameters
from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.metrics import Aggregation, Metric, Series
from imagedeploy.domain.timestamps import rfc3339
from imagedeploy.usecases import metrics

StartTime = Annotated[datetime | None, Query(description="Start of the range (default: 1 h ago)")]
EndTime = Annotated[datetime | None, Query(description="End of the range (default: now)")]
Resolution = Annotated[
    float | None, Query(description="Seconds per data point (at least 30; default 60)")
]
Resources = Annotated[lf.Values, Query(description="Service ids (several: repeat or commas)")]
ServiceParam = Annotated[lf.Values, Query(description="Deprecated: use resource")]
Instances = Annotated[lf.Values, Query(description="Instance ids (several: repeat or commas)")]
AggregationParam = Annotated[
    str | None, Query(description="Combine the instances' series: AVG, MAX or MIN")
]
Hosts = Annotated[lf.Values, Query(description="Request hosts (not kept: no effect)")]
Paths = Annotated[lf.Values, Query(description="Request paths (not kept: no effect)")]
Quantiles = Annotated[lf.Values, Query(description="Latency quantiles, e.g. 0.99 (default 0.95)")]
AggregateBy = Annotated[str | None, Query(description="statusCode or host")]

AGGREGATIONS = tuple(a.value for a in Aggregation)
AGGREGATE_BY = ("statusCode", "host")


def series_json(found: Sequence[Series]) -> list[dict[str, Any]]:
    """Render's time series: ``labels`` as ``{field, value}``, ``values`` as
    ``{timestamp, value, unit}`` (Render requires the unit on each value too), and ``unit``."""
    return [
        {
            "labels": [{"field": f, "value": v} for f, v in s.labels],
            "values": [
                {"timestamp": rfc3339(at), "value": value, "unit": s.unit} for at, value in s.points
            ],
            "unit": s.unit,
        }
        for s in found
    ]


def _one_of(parameter: str, value: str | None, allowed: Sequence[str]) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidInput(f"query parameter {parameter} takes {', '.join(allowed)}")
    return value


def _numbers(parameter: str, values: lf.Values) -> list[float]:
    try:
        return [float(v) for v in values or () if v.strip()]
    except ValueError:
        raise InvalidInput(f"query parameter {parameter} takes numbers, e.g. 0.99") from None


# The parameters of every metric: the time range, its resolution and the services.
_RANGE = (
    parameter("startTime", StartTime, None),
    parameter("endTime", EndTime, None),
    parameter("resolutionSeconds", Resolution, None),
    parameter("resource", Resources, None),
    parameter("service", ServiceParam, None),
)
_INSTANCE = parameter("instance", Instances, None)
_REQUEST = (parameter("host", Hosts, None), parameter("path", Paths, None))


def _instances(given: Mapping[str, Any]) -> dict[str, Any]:
    return {"instances": sorted(lf.words(given["instance"]) or ())}


def _cpu(given: Mapping[str, Any]) -> dict[str, Any]:
    how = _one_of("aggregationMethod", given["aggregationMethod"], AGGREGATIONS)
    return {**_instances(given), "aggregation": None if how is None else Aggregation(how)}


class _Route(NamedTuple):
    metric: Metric  # at /v1/metrics/<its value>
    summary: str
    # the parameters beyond ``_RANGE``, and the keywords of ``metrics.query`` they make
    parameters: tuple[inspect.Parameter, ...]
    options: Callable[[Mapping[str, Any]], dict[str, Any]]


_ROUTES = (
    _Route(
        Metric.CPU,
        "CPU usage",
        (_INSTANCE, parameter("aggregationMethod", AggregationParam, None)),
        _cpu,
    ),
    _Route(Metric.MEMORY, "Memory usage", (_INSTANCE,), _instances),
    _Route(Metric.CPU_LIMIT, "CPU limit", (_INSTANCE,), _instances),
    _Route(Metric.MEMORY_LIMIT, "Memory limit", (_INSTANCE,), _instances),
    _Route(Metric.INSTANCE_COUNT, "Instance count", (), lambda given: {}),
    _Route(
        Metric.HTTP_REQUESTS,
        "HTTP request count",
        (*_REQUEST, parameter("aggregateBy", AggregateBy, None)),
        lambda given: {"aggregate_by": _one_of("aggregateBy", given["aggregateBy"], AGGREGATE_BY)},
    ),
    _Route(
        Metric.HTTP_LATENCY,
        "HTTP latency",
        (*_REQUEST, parameter("quantile", Quantiles, None)),
        lambda given: {"quantiles": _numbers("quantile", given["quantile"])},
    ),
)


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    def handler(route: _Route) -> Callable[..., Response[str]]:
        def answer(**given: Any) -> Response[str]:
            options = route.options(given)
            resources = [*(lf.words(given["resource"]) or ()), *(lf.words(given["service"]) or ())]
            found = metrics.query(
                ports,
                owner_id(r),
                route.metric,
                sorted(resources),
                start=given["startTime"],
                end=given["endTime"],
                resolution_seconds=given["resolutionSeconds"],
                **options,
            )
            return json_response(200, series_json(found))

        answer.__name__ = route.metric.name.lower()  # the OpenAPI operation id: name and path
        return with_parameters(answer, (*_RANGE, *route.parameters))

    for route in _ROUTES:
        r.get(f"/v1/metrics/{route.metric.value}", summary=route.summary)(handler(route))
    return r
