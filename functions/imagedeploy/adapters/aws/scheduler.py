"""``EventBridgeScheduler``: the ``Scheduler`` port on EventBridge Scheduler
(docs/architecture.md §9.2).

One schedule per cron job, named after the service id, in the stack's schedule group; two
(``<id>-dom`` and ``<id>-dow``) when the Unix expression restricts both day-of-month and
day-of-week, since Unix cron then means "either" and one EventBridge expression cannot say it
(``domain.schedules_aws.to_eventbridge``). Every schedule runs in UTC with the flexible time
window off and sends ``{"serviceId", "scheduledTime", "schedule"}`` to its target, the cron
ticks SQS queue (which feeds the cron function at a bounded concurrency, so a storm of ticks
at one minute queues up instead of starving other functions; a function ARN also works):
the scheduled time (an EventBridge Scheduler context attribute) lets the handler drop the
duplicate tick when both halves of an "either" pair fire at the same minute, and the redelivery
of an at-least-once invocation (``Store.claim_once("tick:<id>:<scheduledTime>")``).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.clients import error_code
from imagedeploy.domain.schedules_aws import to_eventbridge

logger = logging.getLogger(__name__)

__all__ = ["EventBridgeScheduler", "schedule_names"]

SUFFIXES: Final = ("", "-dom", "-dow")


def schedule_names(service_id: str, count: int) -> list[str]:
    """The schedule names for ``count`` expressions: ``[id]``, or ``[id-dom, id-dow]``."""
    if count == 1:
        return [service_id]
    if count == 2:
        return [f"{service_id}-dom", f"{service_id}-dow"]
    raise ValueError(f"a cron job has one or two schedules, not {count}")


class EventBridgeScheduler:
    def __init__(
        self,
        group: str,
        role_arn: str,
        target_arn: str,
        *,
        client: Any = None,
        dead_letter_arn: str | None = None,
        max_event_age_seconds: int = 3600,
        max_retry_attempts: int = 10,
    ) -> None:
        if client is None:
            import boto3  # type: ignore[import-untyped]

            client = boto3.client("scheduler")
        self._client = client
        self._group = group
        self._role_arn = role_arn
        self._target_arn = target_arn
        self._dead_letter_arn = dead_letter_arn
        self._retry = {
            "MaximumEventAgeInSeconds": max_event_age_seconds,
            "MaximumRetryAttempts": max_retry_attempts,
        }

    def set_schedule(self, service_id: str, schedule: str) -> None:
        """Create or update the schedule(s) of a cron job; the one(s) an earlier expression
        needed and this one does not are deleted. ``InvalidInput`` for an expression
        EventBridge cannot run (nothing changes then)."""
        expressions = to_eventbridge(schedule)
        names = schedule_names(service_id, len(expressions))
        for name, expression in zip(names, expressions, strict=True):
            self._put(name, expression, service_id, schedule)
        for name in (service_id + suffix for suffix in SUFFIXES):
            if name not in names:
                self._delete(name)

    def remove_schedule(self, service_id: str) -> None:
        for suffix in SUFFIXES:
            self._delete(service_id + suffix)

    def _put(self, name: str, expression: str, service_id: str, schedule: str) -> None:
        target: dict[str, Any] = {
            "Arn": self._target_arn,
            "RoleArn": self._role_arn,
            "Input": json.dumps(
                {
                    "serviceId": service_id,
                    "scheduledTime": "<aws.scheduler.scheduled-time>",
                    "schedule": "<aws.scheduler.schedule-arn>",
                }
            ),
            "RetryPolicy": self._retry,
        }
        if self._dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self._dead_letter_arn}
        request = {
            "Name": name,
            "GroupName": self._group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": target,
            "State": "ENABLED",
            "Description": f"imagedeploy cron job {service_id}: {schedule} (UTC)"[:512],
        }
        try:
            self._client.create_schedule(**request)
        except ClientError as exc:
            if error_code(exc) != "ConflictException":
                raise
            self._client.update_schedule(**request)
        logger.info(
            "schedule set",
            extra={"service_id": service_id, "schedule_name": name, "cron": expression},
        )

    def _delete(self, name: str) -> None:
        try:
            self._client.delete_schedule(Name=name, GroupName=self._group)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
