"""The dashboard's cron schedules in words: the common shapes, and nothing invented for others."""

from __future__ import annotations

import pytest

from imagedeploy.dashboard.schedule_words import describe

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ("*/5 * * * *", "every 5 minutes"),
        ("* * * * *", "every minute"),
        ("15 * * * *", "every hour at minute 15"),
        ("0 3 * * *", "daily at 03:00 UTC"),
        ("30 9 * * 1", "every Monday at 09:30 UTC"),
        ("30 9 * * 0", "every Sunday at 09:30 UTC"),
        ("0 0 1 * *", "monthly on day 1 at 00:00 UTC"),
        ("0 0 1 1 *", "every year on January 1 at 00:00 UTC"),
        ("0 9-17 * * 1-5", None),
        ("@daily", None),
        ("0 0 1 13 *", None),
    ],
)
def test_describe(schedule: str, words: str | None) -> None:
    assert describe(schedule) == words
