"""EventBridge ``rate(1 minute)`` → one ``usecases.reconcile.reconcile`` pass (timeouts, lost
jobs, queued deploys). A repair that fails is counted and retried by the next pass; anything
else raises (Lambda retries, then the on-failure destination)."""

from __future__ import annotations

from typing import Any

from imagedeploy.handlers._common import logger, metrics, traced

_progress: Any = None  # where the last pass stopped (kept while this Lambda stays warm)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from imagedeploy import aws_bootstrap
    from imagedeploy.usecases.reconcile import Progress, reconcile

    global _progress
    _progress = _progress or Progress()
    app = aws_bootstrap.app()
    report = reconcile(
        app.ports, budget_seconds=app.settings.reconcile_budget_seconds, progress=_progress
    )
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric("ReconcileTimedOut", MetricUnit.Count, len(report.timed_out))
    metrics.add_metric("ReconcileRecovered", MetricUnit.Count, len(report.recovered))
    metrics.add_metric("ReconcileFailedRepairs", MetricUnit.Count, len(report.failed))
    return {
        "deploysExamined": report.deploys_examined,
        "runsExamined": report.runs_examined,
        "timedOut": report.timed_out,
        "runsTimedOut": report.runs_timed_out,
        "requeued": [f"{job.kind}:{job.subject}" for job in report.requeued],
        "recovered": report.recovered,
        "failed": report.failed,
        "finished": report.finished,
    }
