"""Metrics (Render's ``/metrics/*``, docs/architecture.md §20.3): what a query asks for, the
series it answers, and the pure rule that turns stored samples into series (the local home;
AWS asks CloudWatch for series directly).

A series is one resource's (and, unless aggregated, one instance's) values at the start of each
``resolution_seconds`` bucket of ``[start, end)``; a bucket without samples has no point.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

MIN_RESOLUTION_SECONDS = 30  # Render's minimum
DEFAULT_RESOLUTION_SECONDS = 60
DEFAULT_RANGE = timedelta(hours=1)  # Render: startTime defaults to an hour before endTime
MAX_POINTS = 1440  # per series; a range needing more asks for a larger resolution


class Metric(StrEnum):
    CPU = "cpu"
    MEMORY = "memory"
    INSTANCE_COUNT = "instance-count"
    CPU_LIMIT = "cpu-limit"
    MEMORY_LIMIT = "memory-limit"
    HTTP_REQUESTS = "http-requests"
    HTTP_LATENCY = "http-latency"

    @property
    def unit(self) -> str:
        return _UNITS[self]

    @property
    def http(self) -> bool:
        return self in (Metric.HTTP_REQUESTS, Metric.HTTP_LATENCY)


_UNITS = {
    Metric.CPU: "cpu",  # cores
    Metric.MEMORY: "bytes",
    Metric.INSTANCE_COUNT: "instances",
    Metric.CPU_LIMIT: "cpu",
    Metric.MEMORY_LIMIT: "bytes",
    Metric.HTTP_REQUESTS: "requests",
    Metric.HTTP_LATENCY: "ms",
}


class Aggregation(StrEnum):
    AVG = "AVG"
    MAX = "MAX"
    MIN = "MIN"


@dataclass(frozen=True, slots=True)
class MetricQuery:
    metric: Metric
    resources: tuple[str, ...]  # service ids
    start: datetime
    end: datetime
    resolution_seconds: int = DEFAULT_RESOLUTION_SECONDS
    instances: frozenset[str] | None = None  # None: every instance
    aggregation: Aggregation | None = None  # None: one series per instance
    quantiles: tuple[float, ...] = (0.95,)  # http-latency
    aggregate_by: str | None = None  # http-requests: "statusCode" or "host"

    def buckets(self) -> list[datetime]:
        """The start of every bucket of the range."""
        step = timedelta(seconds=self.resolution_seconds)
        first = bucket_of(self.start, self.resolution_seconds)
        found, at = [], first
        while at < self.end:
            found.append(at)
            at += step
        return found


@dataclass(frozen=True, slots=True)
class Series:
    labels: tuple[tuple[str, str], ...]  # (field, value), e.g. ("resource", "srv-…")
    unit: str
    points: tuple[tuple[datetime, float], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    """One instance's resource use at one moment (what the local sampler stores)."""

    service_id: str
    instance_id: str
    at: datetime
    cpu: float | None  # cores used since the previous sample; None on the first
    memory_bytes: float


def bucket_of(moment: datetime, resolution_seconds: int) -> datetime:
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % resolution_seconds, UTC)


def _combine(values: Sequence[float], how: Aggregation) -> float:
    match how:
        case Aggregation.MAX:
            return max(values)
        case Aggregation.MIN:
            return min(values)
        case _:
            return statistics.fmean(values)


def series_from_samples(query: MetricQuery, samples: Iterable[Sample]) -> list[Series]:
    """cpu, memory and instance-count series of ``samples`` (already limited to the query's
    resources and range): each instance's bucket value is the mean of its samples there; with
    an aggregation, instances are combined per bucket into one series per resource."""
    per: dict[tuple[str, str], dict[datetime, list[float]]] = defaultdict(lambda: defaultdict(list))
    for sample in samples:
        if query.instances is not None and sample.instance_id not in query.instances:
            continue
        value = sample.memory_bytes if query.metric is Metric.MEMORY else sample.cpu
        if query.metric is Metric.INSTANCE_COUNT:
            value = 1.0
        if value is None:
            continue
        bucket = bucket_of(sample.at, query.resolution_seconds)
        per[(sample.service_id, sample.instance_id)][bucket].append(value)
    if query.metric is Metric.INSTANCE_COUNT:
        return _instance_counts(query, per)
    means = {
        key: {at: statistics.fmean(values) for at, values in buckets.items()}
        for key, buckets in per.items()
    }
    if query.aggregation is None:
        return [
            Series(
                (("resource", service_id), ("instance", instance_id)),
                query.metric.unit,
                tuple(sorted(points.items())),
            )
            for (service_id, instance_id), points in sorted(means.items())
        ]
    by_resource: dict[str, dict[datetime, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (service_id, _), points in means.items():
        for at, value in points.items():
            by_resource[service_id][at].append(value)
    return [
        Series(
            (("resource", service_id),),
            query.metric.unit,
            tuple((at, _combine(v, query.aggregation)) for at, v in sorted(points.items())),
        )
        for service_id, points in sorted(by_resource.items())
    ]


def _instance_counts(
    query: MetricQuery, per: dict[tuple[str, str], dict[datetime, list[float]]]
) -> list[Series]:
    counts: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for (service_id, _), buckets in per.items():
        for at in buckets:
            counts[service_id][at] += 1
    return [
        Series(
            (("resource", service_id),),
            query.metric.unit,
            tuple((at, float(n)) for at, n in sorted(points.items())),
        )
        for service_id, points in sorted(counts.items())
    ]


def limit_series(query: MetricQuery, limits: dict[str, float]) -> list[Series]:
    """cpu-limit / memory-limit: each resource's plan limit (``limits``: service id -> value)
    at every bucket of the range (both homes: the limit is the plan's, not sampled)."""
    buckets = query.buckets()
    return [
        Series(
            (("resource", service_id),),
            query.metric.unit,
            tuple((at, value) for at in buckets),
        )
        for service_id, value in sorted(limits.items())
    ]


@dataclass(frozen=True, slots=True)
class RequestSample:
    """One answered HTTP request of a web service (what ``serve``'s router observes)."""

    service_id: str
    at: datetime
    status_code: int
    host: str
    duration_ms: float


def series_from_requests(query: MetricQuery, samples: Iterable[RequestSample]) -> list[Series]:
    """http-requests (requests per bucket, per resource, split by ``aggregate_by``) and
    http-latency (each quantile of the bucket's durations, per resource) of ``samples``
    (already limited to the query's resources and range)."""
    per: dict[tuple[tuple[str, str], ...], dict[datetime, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for sample in samples:
        labels: tuple[tuple[str, str], ...] = (("resource", sample.service_id),)
        if query.metric is Metric.HTTP_REQUESTS and query.aggregate_by == "statusCode":
            labels += (("statusCode", str(sample.status_code)),)
        elif query.metric is Metric.HTTP_REQUESTS and query.aggregate_by == "host":
            labels += (("host", sample.host),)
        per[labels][bucket_of(sample.at, query.resolution_seconds)].append(sample.duration_ms)
    if query.metric is Metric.HTTP_REQUESTS:
        return [
            Series(
                labels, query.metric.unit, tuple((at, float(len(v))) for at, v in sorted(b.items()))
            )
            for labels, b in sorted(per.items())
        ]
    return [
        Series(
            (*labels, ("quantile", f"{q:g}")),
            query.metric.unit,
            tuple((at, _quantile(v, q)) for at, v in sorted(b.items())),
        )
        for labels, b in sorted(per.items())
        for q in query.quantiles
    ]


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]
