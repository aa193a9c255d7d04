"""SQS jobs queue → ``usecases.worker.run_job``. The event
source has ``BatchSize: 1`` and ``ReportBatchItemFailures``: a job that raises is reported as a
batch item failure, so SQS makes it visible again after the visibility timeout and, after
``maxReceiveCount`` receives, moves it to the dead-letter queue."""

from __future__ import annotations

from typing import Any

from imagedeploy.handlers._common import logger, metrics, traced


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from imagedeploy import aws_bootstrap
    from imagedeploy.adapters.aws.jobs import job_from_body
    from imagedeploy.usecases.worker import run_job

    app = aws_bootstrap.app()
    failures: list[dict[str, str]] = []
    for record in event.get("Records") or []:
        message_id = str(record.get("messageId", ""))
        try:
            job = job_from_body(str(record.get("body", "")))
            logger.append_keys(job_kind=job.kind, job_subject=job.subject)
            run_job(app.ports, job)
        except Exception:
            logger.exception("job failed; SQS retries it", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric("JobsFailed", MetricUnit.Count, len(failures))
    return {"batchItemFailures": failures}
