"""A cron schedule for display: its next run times (the domain's own ``next_fire``) and, for
the common shapes, in words ("every 5 minutes", "daily at 03:00 UTC"); None for anything else
(the page then shows only the next run times, which are exact)."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime

from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.schedules import next_fire

_NUMBER = re.compile(r"\d{1,2}")
_STEP = re.compile(r"\*/(\d{1,2})")


def describe(schedule: str) -> str | None:
    fields = schedule.split()
    if len(fields) != 5:
        return None
    minute, hour, day, month, weekday = fields
    if (step := _STEP.fullmatch(minute)) and hour == day == month == weekday == "*":
        return f"every {step.group(1)} minutes"
    if minute == "*" and hour == day == month == weekday == "*":
        return "every minute"
    if not _NUMBER.fullmatch(minute):
        return None
    if hour == "*" and day == month == weekday == "*":
        return f"every hour at minute {int(minute)}"
    if not _NUMBER.fullmatch(hour):
        return None
    at = f"at {int(hour):02}:{int(minute):02} UTC"
    if day == month == weekday == "*":
        return f"daily {at}"
    if day == month == "*" and _NUMBER.fullmatch(weekday) and int(weekday) <= 7:
        return f"every {calendar.day_name[(int(weekday) - 1) % 7]} {at}"
    if month == weekday == "*" and _NUMBER.fullmatch(day):
        return f"monthly on day {int(day)} {at}"
    yearly = weekday == "*" and _NUMBER.fullmatch(day) and _NUMBER.fullmatch(month)
    if yearly and 1 <= int(month) <= 12:
        return f"every year on {calendar.month_name[int(month)]} {int(day)} {at}"
    return None


def next_runs(schedule: str, count: int = 5) -> tuple[list[str], str | None]:
    """The next ``count`` run times in UTC, or the schedule's problem."""
    times: list[str] = []
    moment = datetime.now(UTC)
    try:
        for _ in range(count):
            moment = next_fire(schedule, moment)
            times.append(moment.strftime("%Y-%m-%d %H:%M UTC (%A)"))
    except InvalidInput as exc:
        return [], exc.message
    return times, None
