"""``GET /v1/metrics/*`` (docs/architecture.md §20.3): checks a query and answers its series.

Decided here for both homes: the time range (Render's defaults: the last hour, up to now), the
resolution (at least 30 s, at most ``MAX_POINTS`` buckets), which resources may be asked for
(services of the caller's workspace), that HTTP metrics exist for web services only, and the
limits (the plan's CPU and memory, at every bucket while the service runs a live deploy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.metrics import (
    DEFAULT_RANGE,
    DEFAULT_RESOLUTION_SECONDS,
    MAX_POINTS,
    MIN_RESOLUTION_SECONDS,
    Aggregation,
    Metric,
    MetricQuery,
    Series,
    limit_series,
)
from imagedeploy.domain.services import PLAN_RESOURCES, Service, ServiceType
from imagedeploy.ports import Ports


def query(
    ports: Ports,
    owner_id: str,
    metric: Metric,
    resources: Sequence[str],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    resolution_seconds: float | None = None,
    instances: Sequence[str] = (),
    aggregation: Aggregation | None = None,
    quantiles: Sequence[float] = (),
    aggregate_by: str | None = None,
) -> list[Series]:
    services = _owned(ports, owner_id, resources)
    until = end or ports.clock.now()
    since = start or until - DEFAULT_RANGE
    if since >= until:
        raise InvalidInput("startTime must be before endTime")
    resolution = _resolution(resolution_seconds, since, until)
    for q in quantiles:
        if not 0 < q < 1:
            raise InvalidInput(f"quantile {q:g} is not between 0 and 1 (e.g. 0.99)")
    asked = MetricQuery(
        metric=metric,
        resources=tuple(s.id for s in services),
        start=since,
        end=until,
        resolution_seconds=resolution,
        instances=frozenset(instances) or None,
        aggregation=aggregation,
        quantiles=tuple(quantiles) or (0.95,),
        aggregate_by=aggregate_by,
    )
    if metric in (Metric.CPU_LIMIT, Metric.MEMORY_LIMIT):
        running = [s for s in services if s.live_deploy_id and not s.suspended]
        limits = {
            s.id: PLAN_RESOURCES[s.plan].cpu
            if metric is Metric.CPU_LIMIT
            else float(PLAN_RESOURCES[s.plan].memory_mb * 1024 * 1024)
            for s in running
        }
        return limit_series(asked, limits)
    if metric.http:
        services = [s for s in services if s.type is ServiceType.WEB_SERVICE]
    if not services:
        return []
    return ports.metrics.series(asked, services)


def _owned(ports: Ports, owner_id: str, resources: Sequence[str]) -> list[Service]:
    if not resources:
        raise InvalidInput("give the services to query: resource=<service id> (repeatable)")
    found: list[Service] = []
    for resource in dict.fromkeys(resources):
        service = ports.store.get_service(resource)
        if service is None or service.owner_id != owner_id:
            # 400 as Render's metrics answer (they document no 404); one answer for "no such
            # service" and "another workspace's"
            raise InvalidInput(
                f"resource {resource} is not a service of this workspace; "
                "list services with GET /v1/services"
            )
        found.append(service)
    return found


def _resolution(asked: float | None, start: datetime, end: datetime) -> int:
    resolution = DEFAULT_RESOLUTION_SECONDS if asked is None else asked
    if not math.isfinite(resolution) or resolution < MIN_RESOLUTION_SECONDS:
        raise InvalidInput(f"resolutionSeconds must be at least {MIN_RESOLUTION_SECONDS}")
    seconds = int(resolution)
    if (end - start).total_seconds() / seconds > MAX_POINTS:
        raise InvalidInput(
            f"the range holds more than {MAX_POINTS} points at resolutionSeconds={seconds}; "
            "ask for a shorter range or a larger resolutionSeconds"
        )
    return seconds
