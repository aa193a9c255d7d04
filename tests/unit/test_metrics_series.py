"""``domain.metrics``: samples into Render's series (per instance, aggregated, counted, limits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from imagedeploy.domain.metrics import (
    Aggregation,
    Metric,
    MetricQuery,
    RequestSample,
    Sample,
    limit_series,
    series_from_requests,
    series_from_samples,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


SAMPLES = [
    Sample("srv-a", "srv-a-1", at(0), None, 100.0),  # first sample: no CPU yet
    Sample("srv-a", "srv-a-1", at(10), 0.2, 200.0),
    Sample("srv-a", "srv-a-1", at(20), 0.4, 300.0),
    Sample("srv-a", "srv-a-2", at(20), 1.0, 500.0),
    Sample("srv-a", "srv-a-1", at(40), 0.6, 400.0),
]


def query(metric: Metric, **changes: object) -> MetricQuery:
    fields: dict[str, object] = {
        "metric": metric,
        "resources": ("srv-a",),
        "start": T0,
        "end": at(60),
        "resolution_seconds": 30,
        **changes,
    }
    return MetricQuery(**fields)  # type: ignore[arg-type]


def test_per_instance_series_average_each_bucket() -> None:
    one, two = series_from_samples(query(Metric.CPU), SAMPLES)
    assert one.labels == (("resource", "srv-a"), ("instance", "srv-a-1"))
    assert one.points == ((T0, pytest.approx(0.3)), (at(30), 0.6))
    assert two.points == ((T0, 1.0),)
    assert one.unit == "cpu"


def test_an_aggregation_combines_instances_per_bucket() -> None:
    (found,) = series_from_samples(query(Metric.MEMORY, aggregation=Aggregation.MAX), SAMPLES)
    assert found.labels == (("resource", "srv-a"),)
    assert found.points == ((T0, 500.0), (at(30), 400.0))
    (low,) = series_from_samples(query(Metric.MEMORY, aggregation=Aggregation.MIN), SAMPLES)
    assert low.points == ((T0, 200.0), (at(30), 400.0))


def test_instances_narrow_and_count() -> None:
    (only,) = series_from_samples(query(Metric.CPU, instances=frozenset({"srv-a-2"})), SAMPLES)
    assert only.labels[1] == ("instance", "srv-a-2")
    (count,) = series_from_samples(query(Metric.INSTANCE_COUNT), SAMPLES)
    assert count.points == ((T0, 2.0), (at(30), 1.0))


def test_limits_are_the_plan_at_every_bucket() -> None:
    (found,) = limit_series(query(Metric.CPU_LIMIT), {"srv-a": 0.5})
    assert found.points == ((T0, 0.5), (at(30), 0.5))


REQUESTS = [
    RequestSample("srv-a", at(1), 200, "a.test", 10.0),
    RequestSample("srv-a", at(2), 500, "a.test", 30.0),
    RequestSample("srv-a", at(3), 200, "b.test", 20.0),
    RequestSample("srv-a", at(40), 200, "a.test", 5.0),
]


def test_http_requests_are_counted_per_bucket_and_split_by_status_or_host() -> None:
    [total] = series_from_requests(query(Metric.HTTP_REQUESTS), REQUESTS)
    assert total.labels == (("resource", "srv-a"),)
    assert total.points == ((at(0), 3.0), (at(30), 1.0))
    by_status = series_from_requests(
        query(Metric.HTTP_REQUESTS, aggregate_by="statusCode"), REQUESTS
    )
    assert [(s.labels[-1], s.points) for s in by_status] == [
        (("statusCode", "200"), ((at(0), 2.0), (at(30), 1.0))),
        (("statusCode", "500"), ((at(0), 1.0),)),
    ]
    by_host = series_from_requests(query(Metric.HTTP_REQUESTS, aggregate_by="host"), REQUESTS)
    assert [s.labels[-1] for s in by_host] == [("host", "a.test"), ("host", "b.test")]


def test_http_latency_is_each_quantile_of_the_bucket() -> None:
    series = series_from_requests(query(Metric.HTTP_LATENCY, quantiles=(0.5, 0.99)), REQUESTS)
    assert [(s.labels, s.unit, s.points) for s in series] == [
        ((("resource", "srv-a"), ("quantile", "0.5")), "ms", ((at(0), 20.0), (at(30), 5.0))),
        ((("resource", "srv-a"), ("quantile", "0.99")), "ms", ((at(0), 30.0), (at(30), 5.0))),
    ]
