"""``GET /v1/metrics/*`` on the Lambda stack under moto: CloudWatch ``GetMetricData`` of the ECS
service (CPU and memory as shares of the task size) and of its ALB target group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devkit.lambda_stack import Stack, live_web_service
from devkit.moto_aws import make_service
from imagedeploy.adapters.aws.cloudwatch_metrics import CloudWatchMetrics, load_balancer_dimension
from imagedeploy.domain.metrics import Metric, MetricQuery
from imagedeploy.domain.services import ServiceType

pytestmark = pytest.mark.integration


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _values(body: list[dict[str, Any]]) -> list[float]:
    (series,) = body
    return [v["value"] for v in series["values"]]


def test_cpu_memory_and_requests_come_from_cloudwatch(stack: Stack) -> None:
    created, _, _ = live_web_service(stack)
    service_id = created["service"]["id"]
    plan = created["service"]["serviceDetails"]["plan"]
    assert plan == "standard"  # 1 vCPU, 2 GB: Fargate 1024 CPU units, 2048 MB
    cloudwatch = stack.aws.client("cloudwatch")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    ecs_dims = [
        {"Name": "ClusterName", "Value": "imagedeploy"},
        {"Name": "ServiceName", "Value": stack.app.ecs.name_of(service_id)},
    ]
    for minutes, cpu, memory in ((3, 50.0, 25.0), (2, 100.0, 50.0)):
        at = now - timedelta(minutes=minutes)
        cloudwatch.put_metric_data(
            Namespace="AWS/ECS",
            MetricData=[
                {
                    "MetricName": "CPUUtilization",
                    "Dimensions": ecs_dims,
                    "Timestamp": at,
                    "Value": cpu,
                },
                {
                    "MetricName": "MemoryUtilization",
                    "Dimensions": ecs_dims,
                    "Timestamp": at,
                    "Value": memory,
                },
            ],
        )
    target_group = stack.app.ecs.routing.target_group_arn(service_id)
    assert target_group is not None
    alb_dims = [
        {"Name": "LoadBalancer", "Value": load_balancer_dimension(stack.app.settings.listener_arn)},
        {"Name": "TargetGroup", "Value": target_group.split(":")[-1]},
    ]
    cloudwatch.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": "RequestCount",
                "Dimensions": alb_dims,
                "Timestamp": now - timedelta(minutes=2),
                "Value": 7.0,
            }
        ],
    )
    query = {
        "resource": service_id,
        "startTime": _stamp(now - timedelta(minutes=10)),
        "endTime": _stamp(now),
        "resolutionSeconds": "60",
    }

    cpu = stack.ok(stack.call("GET", "/v1/metrics/cpu", query=query))
    assert cpu[0]["labels"] == [{"field": "resource", "value": service_id}]
    assert cpu[0]["unit"] == "cpu"
    assert _values(cpu) == [0.5, 1.0]  # percent of 1024 CPU units
    memory = stack.ok(stack.call("GET", "/v1/metrics/memory", query=query))
    size_mb = 2048
    assert _values(memory) == [size_mb * 1024 * 1024 * 0.25, size_mb * 1024 * 1024 * 0.5]
    requests = stack.ok(stack.call("GET", "/v1/metrics/http-requests", query=query))
    assert _values(requests) == [7.0]
    limit = stack.ok(stack.call("GET", "/v1/metrics/cpu-limit", query=query))
    assert set(_values(limit)) == {1.0}


class _Answering:
    """A CloudWatch client answering GetMetricData from a table (moto gap: it cannot answer a
    percentile statistic such as ``p99``), keeping what it was asked."""

    def __init__(self, values: dict[str, float]) -> None:
        self.values = values
        self.asked: list[dict[str, Any]] = []

    def get_metric_data(self, **params: Any) -> dict[str, Any]:
        self.asked.append(params)
        at = params["StartTime"]
        return {
            "MetricDataResults": [
                {
                    "Id": q["Id"],
                    "Timestamps": [at],
                    "Values": [self.values[q["MetricStat"]["Stat"]]],
                }
                for q in params["MetricDataQueries"]
            ]
        }


def test_latency_asks_for_each_quantile_of_the_target_group_in_ms() -> None:
    client = _Answering({"p99": 0.25, "p50": 0.01})
    listener = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/imd/50dc6c495c0c9188/f2f7"
    metrics = CloudWatchMetrics(
        "imagedeploy",
        lambda service_id: f"imagedeploy-{service_id}",
        lambda service_id: (
            "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/imd-x/73e2d6bc24d8a067"
        ),
        listener,
        lambda: client,
    )
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    query = MetricQuery(
        Metric.HTTP_LATENCY,
        ("srv-1",),
        start,
        start + timedelta(hours=1),
        resolution_seconds=90,
        quantiles=(0.99, 0.5),
    )
    service = make_service(ServiceType.WEB_SERVICE, service_id="srv-1")
    high, low = metrics.series(query, [service])
    assert high.labels == (("resource", "srv-1"), ("quantile", "0.99"))
    assert (high.unit, high.points) == ("ms", ((start, 250.0),))
    assert low.points == ((start, 10.0),)
    (asked,) = client.asked
    stat = asked["MetricDataQueries"][0]["MetricStat"]
    assert (stat["Stat"], stat["Period"]) == ("p99", 60)  # a whole number of minutes
    assert stat["Metric"]["Dimensions"] == [
        {"Name": "LoadBalancer", "Value": "app/imd/50dc6c495c0c9188"},
        {"Name": "TargetGroup", "Value": "targetgroup/imd-x/73e2d6bc24d8a067"},
    ]
