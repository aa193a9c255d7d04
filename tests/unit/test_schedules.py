"""Cron schedules: what is accepted (and how it is normalized), what is refused and why,
``next_fire`` in UTC, and Unix cron's "either" rule for day-of-month and day-of-week."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.schedules import EXAMPLE, next_fire, uses_either_rule, validate_schedule

pytestmark = pytest.mark.unit


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# --- validate_schedule ---


@pytest.mark.parametrize(
    ("expr", "normalized"),
    [
        ("*/10 * * * *", "*/10 * * * *"),
        ("0 3 * * MON-FRI", "0 3 * * MON-FRI"),
        ("0 3 * * mon-fri", "0 3 * * MON-FRI"),
        ("  0\t3  *  *  *  ", "0 3 * * *"),
        ("0 0 1 jan,jul *", "0 0 1 JAN,JUL *"),
        ("5-55/5 0-6,18-23 * * *", "5-55/5 0-6,18-23 * * *"),
        ("0 0 29 2 *", "0 0 29 2 *"),
        ("0 0 * * 7", "0 0 * * 7"),
        ("0 0 L * *", "0 0 L * *"),
        ("0 0 LW * *", "0 0 LW * *"),
        ("0 0 * * 5L", "0 0 * * 5L"),
        ("0 0 * * MON#2", "0 0 * * MON#2"),
        ("0 0 31 * *", "0 0 31 * *"),
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@ANNUALLY", "0 0 1 1 *"),
    ],
)
def test_accepted(expr: str, normalized: str) -> None:
    assert validate_schedule(expr) == normalized


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("* * * *", "it has 4 fields, not 5"),
        ("daily", "it has 1 field, not 5"),
        ("0 * * * * *", "it has 6 fields; a seconds field"),
        ("0 0 12 * * ?", "it has 6 fields"),
        ("0 0 12 * * ? 2030", "it has 7 fields"),
        ("@reboot", "@reboot is not a schedule"),
        ("@every 5m", "'@every 5m' is not a known macro"),
        ("60 * * * *", "the minute field '60' is invalid (cronsim: Bad minute); it takes 0-59"),
        ("*/0 * * * *", "the minute field '*/0' is invalid"),
        ("* 24 * * *", "the hour field '24' is invalid (cronsim: Bad hour); it takes 0-23"),
        ("* * 0 * *", "the day-of-month field '0' is invalid"),
        ("* * 32 * *", "the day-of-month field '32' is invalid"),
        ("* * * 13 *", "the month field '13' is invalid (cronsim: Bad month); it takes 1-12"),
        ("* * * JANUARY *", "the month field 'JANUARY' is invalid"),
        ("* * * * 8", "the day-of-week field '8' is invalid"),
        ("* * * * MONDAY", "the day-of-week field 'MONDAY' is invalid"),
        ("5-1 * * * *", "the minute field '5-1' is invalid"),
        ("0 0 30 2 *", "day-of-month '30' never occurs in month '2'"),
        ("0 0 31 4,6,9,11 *", "day-of-month '31' never occurs"),
        ("0 0 ? * MON", "'?' is EventBridge/Quartz syntax"),
        ("\uff10 * * * *", "the minute field '\uff10' is invalid"),  # a fullwidth zero
        ("* " * 200 + "*", "longer than 255 characters"),
    ],
)
def test_refused_with_the_reason_and_an_example(expr: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_schedule(expr)
    message = caught.value.message
    assert says in message
    assert repr(EXAMPLE) in message
    assert "5 fields in UTC" in message


@given(st.text(max_size=40))
def test_any_text_is_accepted_or_refused_cleanly(expr: str) -> None:
    try:
        normalized = validate_schedule(expr)
    except InvalidInput:
        return
    assert validate_schedule(normalized) == normalized
    assert len(normalized.split(" ")) == 5


# --- next_fire ---


@pytest.mark.parametrize(
    ("expr", "after", "fires"),
    [
        ("*/10 * * * *", utc(2025, 5, 1, 10, 3, 20), utc(2025, 5, 1, 10, 10)),
        ("*/10 * * * *", utc(2025, 5, 1, 10, 10), utc(2025, 5, 1, 10, 20)),  # strictly after
        ("*/10 * * * *", utc(2025, 5, 1, 10, 9, 59, 999999), utc(2025, 5, 1, 10, 10)),
        ("0 3 * * MON-FRI", utc(2025, 5, 2, 4, 0), utc(2025, 5, 5, 3, 0)),  # Fri -> Mon
        ("0 0 29 2 *", utc(2025, 3, 1), utc(2028, 2, 29)),
        ("0 0 L 2 *", utc(2027, 1, 1), utc(2027, 2, 28)),
        ("0 0 * * 5L", utc(2025, 5, 1), utc(2025, 5, 30)),  # last Friday of May 2025
        ("0 0 * * MON#2", utc(2025, 5, 1), utc(2025, 5, 12)),
        ("@yearly", utc(2025, 12, 31, 23, 59, 59), utc(2026, 1, 1)),
        ("59 23 31 12 *", utc(2025, 12, 31, 23, 59), utc(2026, 12, 31, 23, 59)),
    ],
)
def test_next_fire(expr: str, after: datetime, fires: datetime) -> None:
    result = next_fire(expr, after)
    assert result == fires
    assert result.tzinfo is UTC


def test_next_fire_is_in_utc_whatever_the_zone_of_after() -> None:
    tokyo = timezone(timedelta(hours=9))
    # 08:30 in Tokyo is 23:30 UTC the day before: "0 0 * * *" fires at 00:00 UTC, 30 min later.
    result = next_fire("0 0 * * *", datetime(2025, 5, 2, 8, 30, tzinfo=tokyo))
    assert result == utc(2025, 5, 2, 0, 0)
    assert result.utcoffset() == timedelta(0)


def test_next_fire_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire("* * * * *", datetime(2025, 5, 1))


def test_next_fire_refuses_invalid_expressions() -> None:
    with pytest.raises(InvalidInput, match="6 fields"):
        next_fire("* * * * * *", utc(2025, 1, 1))


# --- the "either" rule ---


def test_both_day_fields_restricted_means_either() -> None:
    """``0 0 13 * FRI``: every 13th and every Friday, not only Friday the 13th."""
    fires: list[date] = []
    after = utc(2024, 9, 1)
    while len(fires) < 7:
        after = next_fire("0 0 13 * FRI", after)
        fires.append(after.date())
    assert fires == [
        date(2024, 9, 6),
        date(2024, 9, 13),  # a Friday and the 13th: once
        date(2024, 9, 20),
        date(2024, 9, 27),
        date(2024, 10, 4),
        date(2024, 10, 11),
        date(2024, 10, 13),  # a Sunday: the 13th alone is enough
    ]


def test_a_day_field_starting_with_a_star_means_both() -> None:
    """``*/2`` starts with ``*``, so the fields combine with "and": Mondays on odd days."""
    fires: list[date] = []
    after = utc(2024, 9, 1)
    while len(fires) < 3:
        after = next_fire("0 0 */2 * MON", after)
        fires.append(after.date())
    assert fires == [date(2024, 9, 9), date(2024, 9, 23), date(2024, 10, 7)]
    assert all(day.weekday() == 0 and day.day % 2 == 1 for day in fires)


@pytest.mark.parametrize(
    ("expr", "either"),
    [
        ("0 0 13 * FRI", True),
        ("0 0 1,15 * 1-5", True),
        ("0 0 L * 5L", True),
        ("0 0 * * FRI", False),
        ("0 0 13 * *", False),
        ("0 0 */2 * MON", False),
        ("0 0 1 * */2", False),
        ("@weekly", False),
    ],
)
def test_uses_either_rule(expr: str, either: bool) -> None:
    assert uses_either_rule(expr) is either


# --- properties: next_fire is strictly after, matches, and is the first match ---


def _field(values: st.SearchStrategy[int]) -> st.SearchStrategy[list[int] | None]:
    """None stands for '*'."""
    return st.one_of(st.none(), st.lists(values, min_size=1, max_size=3, unique=True))


@st.composite
def schedules(draw: st.DrawFn) -> tuple[str, list[list[int] | None]]:
    fields = [
        draw(_field(st.integers(0, 59))),
        draw(_field(st.integers(0, 23))),
        draw(_field(st.integers(1, 31))),
        draw(_field(st.integers(1, 12))),
        draw(_field(st.integers(0, 7))),
    ]
    text = " ".join("*" if f is None else ",".join(map(str, f)) for f in fields)
    return text, fields


def _day_matches(day: date, fields: list[list[int] | None]) -> bool:
    _, _, doms, months, dows = fields
    if months is not None and day.month not in months:
        return False
    cron_dow = (day.weekday() + 1) % 7  # cron: 0 (or 7) is Sunday
    dom_ok = doms is None or day.day in doms
    dow_ok = dows is None or cron_dow in dows or (cron_dow == 0 and 7 in dows)
    if doms is not None and dows is not None:
        return dom_ok or dow_ok  # the "either" rule
    return dom_ok and dow_ok


def _reference_next(fields: list[list[int] | None], after: datetime) -> datetime:
    minutes = sorted(fields[0] or range(60))
    hours = sorted(fields[1] or range(24))
    day = after.date()
    while True:
        if _day_matches(day, fields):
            for hour in hours:
                for minute in minutes:
                    candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if candidate > after:
                        return candidate
        day += timedelta(days=1)


@given(
    schedules(),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31)),
)
def test_next_fire_is_the_first_match_strictly_after(
    schedule: tuple[str, list[list[int] | None]], naive_after: datetime
) -> None:
    expr, fields = schedule
    try:
        validate_schedule(expr)
    except InvalidInput:
        assume(False)  # e.g. the 31st of February
    after = naive_after.replace(tzinfo=UTC)
    result = next_fire(expr, after)
    assert result > after
    assert result.tzinfo is UTC
    assert result.second == result.microsecond == 0
    assert result == _reference_next(fields, after)
