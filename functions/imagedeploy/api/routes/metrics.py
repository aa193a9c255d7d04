"""``/v1/metrics/*``: Render's resource metrics (cpu, memory, instance count, limits) and HTTP
metrics of web services, with Render's parameters for each path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagedeploy.api import list_filters as lf
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.common import json_response, owner_id
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


def router(deps: ApiDeps) -> APIGatewayHttpRouter:
    r = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # powertools lacks a hint
    ports = deps.ports

    def answer(metric: Metric, resource: lf.Values, service: lf.Values, **kw: Any) -> Response[str]:
        resources = [*(lf.words(resource) or ()), *(lf.words(service) or ())]
        found = metrics.query(ports, owner_id(r), metric, sorted(resources), **kw)
        return json_response(200, series_json(found))

    @r.get("/v1/metrics/cpu", summary="CPU usage")
    def cpu(
        startTime: StartTime = None,
        endTime: EndTime = None,
        resolutionSeconds: Resolution = None,
        resource: Resources = None,
        service: ServiceParam = None,
        instance: Instances = None,
        aggregationMethod: AggregationParam = None,
    ) -> Response[str]:
        how = _one_of("aggregationMethod", aggregationMethod, AGGREGATIONS)
        return answer(
            Metric.CPU,
            resource,
            service,
            start=startTime,
            end=endTime,
            resolution_seconds=resolutionSeconds,
            instances=sorted(lf.words(instance) or ()),
            aggregation=None if how is None else Aggregation(how),
        )

    def per_instance(metric: Metric) -> Any:
        def handler(
            startTime: StartTime = None,
            endTime: EndTime = None,
            resolutionSeconds: Resolution = None,
            resource: Resources = None,
            service: ServiceParam = None,
            instance: Instances = None,
        ) -> Response[str]:
            return answer(
                metric,
                resource,
                service,
                start=startTime,
                end=endTime,
                resolution_seconds=resolutionSeconds,
                instances=sorted(lf.words(instance) or ()),
            )

        return handler

    r.get("/v1/metrics/memory", summary="Memory usage")(per_instance(Metric.MEMORY))
    r.get("/v1/metrics/cpu-limit", summary="CPU limit")(per_instance(Metric.CPU_LIMIT))
    r.get("/v1/metrics/memory-limit", summary="Memory limit")(per_instance(Metric.MEMORY_LIMIT))

    @r.get("/v1/metrics/instance-count", summary="Instance count")
    def instance_count(
        startTime: StartTime = None,
        endTime: EndTime = None,
        resolutionSeconds: Resolution = None,
        resource: Resources = None,
        service: ServiceParam = None,
    ) -> Response[str]:
        return answer(
            Metric.INSTANCE_COUNT,
            resource,
            service,
            start=startTime,
            end=endTime,
            resolution_seconds=resolutionSeconds,
        )

    @r.get("/v1/metrics/http-requests", summary="HTTP request count")
    def http_requests(
        startTime: StartTime = None,
        endTime: EndTime = None,
        resolutionSeconds: Resolution = None,
        resource: Resources = None,
        service: ServiceParam = None,
        host: Hosts = None,
        path: Paths = None,
        aggregateBy: AggregateBy = None,
    ) -> Response[str]:
        return answer(
            Metric.HTTP_REQUESTS,
            resource,
            service,
            start=startTime,
            end=endTime,
            resolution_seconds=resolutionSeconds,
            aggregate_by=_one_of("aggregateBy", aggregateBy, AGGREGATE_BY),
        )

    @r.get("/v1/metrics/http-latency", summary="HTTP latency")
    def http_latency(
        startTime: StartTime = None,
        endTime: EndTime = None,
        resolutionSeconds: Resolution = None,
        resource: Resources = None,
        service: ServiceParam = None,
        host: Hosts = None,
        path: Paths = None,
        quantile: Quantiles = None,
    ) -> Response[str]:
        return answer(
            Metric.HTTP_LATENCY,
            resource,
            service,
            start=startTime,
            end=endTime,
            resolution_seconds=resolutionSeconds,
            quantiles=_numbers("quantile", quantile),
        )

    return r
