"""``CloudWatchMetrics``: the ``Metrics`` port on AWS (docs/architecture.md §20.3).

One ``GetMetricData`` request per query (every resource's series in it, paginated):

- cpu / memory: ``AWS/ECS`` ``CPUUtilization`` / ``MemoryUtilization`` of the ECS service
  (``ClusterName``, ``ServiceName``; ECS publishes them without Container Insights), a percentage
  of the task size, turned into cores and bytes with the service's Fargate size
  (``domain.ecs_rules.fargate_size``). The statistic follows ``aggregationMethod`` (AVG: Average,
  MAX: Maximum, MIN: Minimum) across the service's tasks; there is no per-task series (the
  ``instance`` parameter narrows nothing here).
- instance-count: ``ECS/ContainerInsights`` ``RunningTaskCount`` (only while the cluster has
  Container Insights enabled; otherwise no data points).
- http-requests / http-latency (web services): the ALB's ``AWS/ApplicationELB`` ``RequestCount``
  (Sum) and ``TargetResponseTime`` (the ``p<quantile>`` statistic, seconds → ms) of the service's
  target group (``LoadBalancer``, ``TargetGroup`` dimensions: the ARN suffixes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

from imagedeploy.domain.ecs_rules import fargate_size
from imagedeploy.domain.metrics import Aggregation, Metric, MetricQuery, Series
from imagedeploy.domain.services import PLAN_RESOURCES, Service

_STATISTIC = {Aggregation.AVG: "Average", Aggregation.MAX: "Maximum", Aggregation.MIN: "Minimum"}


class CloudWatchMetrics:
    def __init__(
        self,
        cluster: str,
        ecs_service_name: Callable[[str], str],
        target_group_arn: Callable[[str], str | None],
        listener_arn: str,
        cloudwatch: Callable[[], Any],
    ) -> None:
        self._cluster = cluster
        self._ecs_service_name = ecs_service_name
        self._target_group_arn = target_group_arn
        self._load_balancer = load_balancer_dimension(listener_arn)
        self._cloudwatch_client = cloudwatch

    @property
    def _cloudwatch(self) -> Any:
        return self._cloudwatch_client()

    def series(self, query: MetricQuery, services: Sequence[Service]) -> list[Series]:
        wanted: list[dict[str, Any]] = []
        meta: dict[str, tuple[tuple[tuple[str, str], ...], float]] = {}
        for index, service in enumerate(services):
            for item_id, stat, labels, scale in self._queries(query, service, index):
                wanted.append({"Id": item_id, "MetricStat": stat, "ReturnData": True})
                meta[item_id] = (labels, scale)
        if not wanted:
            return []
        points: dict[str, list[tuple[Any, float]]] = {item_id: [] for item_id in meta}
        params: dict[str, Any] = {
            "MetricDataQueries": wanted,
            "StartTime": query.start,
            "EndTime": query.end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            answer = self._cloudwatch.get_metric_data(**params)
            for result in answer.get("MetricDataResults", []):
                scale = meta[result["Id"]][1]
                points[result["Id"]].extend(
                    (at.astimezone(UTC), float(value) * scale)
                    for at, value in zip(result["Timestamps"], result["Values"], strict=True)
                )
            token = answer.get("NextToken")
            if not token:
                break
            params["NextToken"] = token
        return [
            Series(meta[item_id][0], query.metric.unit, tuple(sorted(found)))
            for item_id, found in points.items()
        ]

    def _queries(
        self, query: MetricQuery, service: Service, index: int
    ) -> list[tuple[str, dict[str, Any], tuple[tuple[str, str], ...], float]]:
        period = query.resolution_seconds - query.resolution_seconds % 60 or 60
        resource = (("resource", service.id),)
        ecs_dimensions = [
            {"Name": "ClusterName", "Value": self._cluster},
            {"Name": "ServiceName", "Value": self._ecs_service_name(service.id)},
        ]
        size = fargate_size(PLAN_RESOURCES[service.plan])
        statistic = _STATISTIC[query.aggregation or Aggregation.AVG]

        def stat(namespace: str, name: str, dims: list[dict[str, str]], how: str) -> dict[str, Any]:
            return {
                "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dims},
                "Period": period,
                "Stat": how,
            }

        match query.metric:
            case Metric.CPU:
                cores_per_percent = size.cpu / 1024 / 100
                cpu = stat("AWS/ECS", "CPUUtilization", ecs_dimensions, statistic)
                return [(f"m{index}", cpu, resource, cores_per_percent)]
            case Metric.MEMORY:
                bytes_per_percent = size.memory_mb * 1024 * 1024 / 100
                memory = stat("AWS/ECS", "MemoryUtilization", ecs_dimensions, statistic)
                return [(f"m{index}", memory, resource, bytes_per_percent)]
            case Metric.INSTANCE_COUNT:
                count = stat("ECS/ContainerInsights", "RunningTaskCount", ecs_dimensions, "Average")
                return [(f"m{index}", count, resource, 1.0)]
        target_group = self._target_group_arn(service.id)
        if target_group is None or not self._load_balancer:
            return []
        alb_dimensions = [
            {"Name": "LoadBalancer", "Value": self._load_balancer},
            {"Name": "TargetGroup", "Value": target_group.split(":")[-1]},
        ]
        if query.metric is Metric.HTTP_REQUESTS:
            requests = stat("AWS/ApplicationELB", "RequestCount", alb_dimensions, "Sum")
            return [(f"m{index}", requests, resource, 1.0)]
        return [
            (
                f"m{index}q{n}",
                stat(
                    "AWS/ApplicationELB",
                    "TargetResponseTime",
                    alb_dimensions,
                    f"p{quantile * 100:g}",
                ),
                (*resource, ("quantile", f"{quantile:g}")),
                1000.0,  # seconds -> ms
            )
            for n, quantile in enumerate(query.quantiles)
        ]


def load_balancer_dimension(listener_arn: str) -> str:
    """``app/<name>/<id>`` (CloudWatch's ``LoadBalancer``) of a listener ARN
    (``…:listener/app/<name>/<id>/<listener id>``); "" without one."""
    _, _, path = listener_arn.partition(":listener/")
    parts = path.split("/")
    return "/".join(parts[:3]) if len(parts) >= 4 else ""
