"""Where the router's observed requests go on ``serve``: a ``type=request`` log line of the
service and a sample of its HTTP metrics (docs/architecture.md §19, §20.3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from imagedeploy.adapters.local.http_observer import ObservedRequest
from imagedeploy.adapters.local.log_collector import LogCollector
from imagedeploy.adapters.local.metrics import MetricsSampler
from imagedeploy.domain.logs import RequestFields, request_line
from imagedeploy.domain.metrics import RequestSample


def request_sink(
    logs: LogCollector, metrics: MetricsSampler | None
) -> Callable[[str, ObservedRequest], None]:
    """``Router(on_request=…)``: both writes are queued, so the router's loop never waits."""

    def record(service_id: str, observed: ObservedRequest) -> None:
        at = datetime.fromtimestamp(observed.at, UTC)
        fields = RequestFields(
            method=observed.method,
            path=observed.path,
            status_code=observed.status,
            host=observed.host,
            duration_ms=round(observed.duration_ms),
        )
        logs.add_line(request_line(service_id, at, fields, instance=observed.instance))
        if metrics is not None:
            metrics.record_request(
                RequestSample(service_id, at, observed.status, observed.host, observed.duration_ms)
            )

    return record
