"""EventBridge ``rate(1 minute)`` → one ``usecases.reconcile.reconcile`` pass (timeouts, lost
jobs, queued deploys). A repair that fails is counted and retried by the next pass; anything
else raises (Lambda retries, then the on-failure destination)."""

from __future__ import annotations

from typing import Any

from imagedeploy.handlers._common import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from imagedeploy import aws_bootstrap
    from imagedeploy.usecases.reconcile import reconcile

    report = reconcile(aws_bootstrap.app().ports)
    return {
        "deploysExamined": report.deploys_examined,
        "runsExamined": report.runs_examined,
        "timedOut": report.timed_out,
        "runsTimedOut": report.runs_timed_out,
        "requeued": [f"{job.kind}:{job.subject}" for job in report.requeued],
        "failed": report.failed,
    }
