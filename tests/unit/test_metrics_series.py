"""``domain.metrics``: samples into Render's series (per instance, aggregated, counted, limits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from imagedeploy.domain.metrics import (
    Aggregation,
    Metric,
    MetricQuery,
    Sample,
    limit_series,
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
