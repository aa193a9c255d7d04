"""EventBridge Scheduler → ``usecases.cron.tick`` for ``{"serviceId", "scheduledTime"}``. The
single-run rule is the use case's (a tick while a run is active is remembered, not started);
the redelivery of one scheduled time, and the second half of a day-of-month/day-of-week pair
firing at the same minute, are dropped by ``claim_once("tick:<id>:<scheduledTime>")``.
Errors raise: Lambda retries, then the schedule's dead-letter queue."""

from __future__ import annotations

from typing import Any

from imagedeploy.handlers._common import logger, traced

TICK_CLAIM_TTL_SECONDS = 24 * 3600


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from imagedeploy import aws_bootstrap
    from imagedeploy.usecases import cron

    service_id = event.get("serviceId")
    if not isinstance(service_id, str) or not service_id:
        raise ValueError("a cron invocation needs a serviceId")
    logger.append_keys(service_id=service_id)
    ports = aws_bootstrap.app().ports
    scheduled = event.get("scheduledTime")
    if isinstance(scheduled, str) and scheduled and not scheduled.startswith("<"):
        claim = f"tick:{service_id}:{scheduled}"
        if not ports.store.claim_once(claim, TICK_CLAIM_TTL_SECONDS):
            logger.info("duplicate tick dropped", extra={"scheduled_time": scheduled})
            return {"serviceId": service_id, "runId": None, "duplicate": True}
    run = cron.tick(ports, service_id)
    return {"serviceId": service_id, "runId": run.id if run else None}
