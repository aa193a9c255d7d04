"""``EventBridgeScheduler`` under moto: one schedule per cron job (two for Unix cron's
"either" rule), UTC, no flexible window, the cron function as target with the service id and
the scheduled time; updates and removal.

moto gap: moto's Scheduler stores ``ScheduleExpression`` without checking it; the translation
itself is tested in ``tests/unit/test_schedules_aws.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devkit.moto_aws import ACCOUNT, REGION, Aws
from imagedeploy.adapters.aws.scheduler import EventBridgeScheduler, schedule_names
from imagedeploy.domain.errors import InvalidInput

pytestmark = pytest.mark.integration

CRON_ID = "crn-0000000000000000000c"
TARGET = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:imagedeploy-cron"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/imagedeploy-scheduler"


@pytest.fixture
def scheduler(aws: Aws, schedule_group: str) -> EventBridgeScheduler:
    return EventBridgeScheduler(schedule_group, ROLE, TARGET, client=aws.client("scheduler"))


def schedules(aws: Aws, group: str) -> dict[str, dict[str, Any]]:
    client = aws.client("scheduler")
    names = [s["Name"] for s in client.list_schedules(GroupName=group)["Schedules"]]
    return {n: client.get_schedule(Name=n, GroupName=group) for n in names}


def test_one_schedule_per_cron_job(
    aws: Aws, scheduler: EventBridgeScheduler, schedule_group: str
) -> None:
    scheduler.set_schedule(CRON_ID, "*/10 * * * *")

    found = schedules(aws, schedule_group)
    assert list(found) == [CRON_ID]
    schedule = found[CRON_ID]
    assert schedule["ScheduleExpression"] == "cron(0/10 * * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert (target["Arn"], target["RoleArn"]) == (TARGET, ROLE)
    assert json.loads(target["Input"]) == {
        "serviceId": CRON_ID,
        "scheduledTime": "<aws.scheduler.scheduled-time>",
        "schedule": "<aws.scheduler.schedule-arn>",
    }
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 10}


def test_weekdays_are_numbered_from_sunday_as_one(
    aws: Aws, scheduler: EventBridgeScheduler, schedule_group: str
) -> None:
    scheduler.set_schedule(CRON_ID, "0 3 * * MON-FRI")

    assert schedules(aws, schedule_group)[CRON_ID]["ScheduleExpression"] == "cron(0 3 ? * 2-6 *)"


def test_day_of_month_and_day_of_week_make_two_schedules(
    aws: Aws, scheduler: EventBridgeScheduler, schedule_group: str
) -> None:
    scheduler.set_schedule(CRON_ID, "0 0 1,15 * 5")  # the 1st, the 15th, and every Friday

    found = schedules(aws, schedule_group)
    assert sorted(found) == [f"{CRON_ID}-dom", f"{CRON_ID}-dow"]
    assert found[f"{CRON_ID}-dom"]["ScheduleExpression"] == "cron(0 0 1,15 * ? *)"
    assert found[f"{CRON_ID}-dow"]["ScheduleExpression"] == "cron(0 0 ? * 6 *)"
    for schedule in found.values():
        assert json.loads(schedule["Target"]["Input"])["serviceId"] == CRON_ID


def test_updates_replace_and_clean_up(
    aws: Aws, scheduler: EventBridgeScheduler, schedule_group: str
) -> None:
    scheduler.set_schedule(CRON_ID, "0 0 13 * FRI")
    assert len(schedules(aws, schedule_group)) == 2

    scheduler.set_schedule(CRON_ID, "30 2 */2 * *")  # back to one: the pair is deleted

    found = schedules(aws, schedule_group)
    assert list(found) == [CRON_ID]
    assert found[CRON_ID]["ScheduleExpression"] == "cron(30 2 1/2 * ? *)"

    scheduler.set_schedule(CRON_ID, "0 12 * * 7")  # an update of the existing schedule
    found = schedules(aws, schedule_group)
    assert found[CRON_ID]["ScheduleExpression"] == "cron(0 12 ? * 1 *)"

    scheduler.set_schedule(CRON_ID, "0 0 L * 1")  # one to two
    assert sorted(schedules(aws, schedule_group)) == [f"{CRON_ID}-dom", f"{CRON_ID}-dow"]


def test_remove_deletes_every_schedule_and_is_idempotent(
    aws: Aws, scheduler: EventBridgeScheduler, schedule_group: str
) -> None:
    other = "crn-0000000000000000000d"
    scheduler.set_schedule(CRON_ID, "0 0 1 * MON")
    scheduler.set_schedule(other, "@hourly")

    scheduler.remove_schedule(CRON_ID)
    scheduler.remove_schedule(CRON_ID)

    assert list(schedules(aws, schedule_group)) == [other]


def test_an_expression_eventbridge_cannot_run_changes_nothing(
    aws: Aws, scheduler: EventBridgeScheduler, schedule_group: str
) -> None:
    scheduler.set_schedule(CRON_ID, "0 4 * * *")

    with pytest.raises(InvalidInput, match="both day-of-month and day-of-week"):
        scheduler.set_schedule(CRON_ID, "0 0 */2 * MON")

    assert schedules(aws, schedule_group)[CRON_ID]["ScheduleExpression"] == "cron(0 4 * * ? *)"


def test_dead_letter_queue_is_set_when_given(aws: Aws, schedule_group: str) -> None:
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:cron-dlq"
    scheduler = EventBridgeScheduler(
        schedule_group, ROLE, TARGET, client=aws.client("scheduler"), dead_letter_arn=dlq
    )

    scheduler.set_schedule(CRON_ID, "@daily")

    target = schedules(aws, schedule_group)[CRON_ID]["Target"]
    assert target["DeadLetterConfig"] == {"Arn": dlq}


def test_schedule_names() -> None:
    assert schedule_names(CRON_ID, 1) == [CRON_ID]
    assert schedule_names(CRON_ID, 2) == [f"{CRON_ID}-dom", f"{CRON_ID}-dow"]
    with pytest.raises(ValueError, match="one or two"):
        schedule_names(CRON_ID, 3)
