"""Cron ticks → ``usecases.cron.tick`` for ``{"serviceId", "scheduledTime"}``.

EventBridge Scheduler sends each tick to the cron ticks SQS queue (template.yaml
``CronTicksQueue``), which feeds this function in batches with a bounded concurrency: 10,000
jobs on ``0 * * * *`` become a backlog drained at a steady rate, not 10,000 concurrent Lambda
invocations that would throttle the API. A tick that raises is reported as a batch item failure
(SQS retries it, then its dead-letter queue). A direct invocation with the payload itself (the
schedules of an earlier version invoked the function) is still handled; its errors raise.

The single-run rule is the use case's (a tick while a run is active is remembered, not started);
the redelivery of one scheduled time, and the second half of a day-of-month/day-of-week pair
firing at the same minute, are dropped by ``claim_once("tick:<id>:<scheduledTime>")``."""

from __future__ import annotations

import json
from typing import Any

from imagedeploy.handlers._common import logger, traced

TICK_CLAIM_TTL_SECONDS = 24 * 3600


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" not in event:
        return _tick(event)
    failures: list[dict[str, str]] = []
    for record in event.get("Records") or []:
        message_id = str(record.get("messageId", ""))
        try:
            payload = json.loads(str(record.get("body", "")))
            if not isinstance(payload, dict):
                raise ValueError("a cron tick message is a JSON object")
            _tick(payload)
        except Exception:
            logger.exception("tick failed; SQS retries it", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def _tick(payload: dict[str, Any]) -> dict[str, Any]:
    from imagedeploy import aws_bootstrap
    from imagedeploy.usecases import cron

    service_id = payload.get("serviceId")
    if not isinstance(service_id, str) or not service_id:
        raise ValueError("a cron tick needs a serviceId")
    logger.append_keys(service_id=service_id)
    ports = aws_bootstrap.app().ports
    scheduled = payload.get("scheduledTime")
    if isinstance(scheduled, str) and scheduled and not scheduled.startswith("<"):
        claim = f"tick:{service_id}:{scheduled}"
        if not ports.store.claim_once(claim, TICK_CLAIM_TTL_SECONDS):
            logger.info("duplicate tick dropped", extra={"scheduled_time": scheduled})
            return {"serviceId": service_id, "runId": None, "duplicate": True}
    run = cron.tick(ports, service_id)
    return {"serviceId": service_id, "runId": run.id if run else None}
