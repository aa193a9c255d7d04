"""5-field Unix cron → EventBridge Scheduler cron: a table of translations, a table of
refusals, and a property: for generated expressions, the EventBridge expression(s) fire on
exactly the days, hours and minutes cronsim (the Unix evaluator) says, checked over three years
by a small EventBridge evaluator written here from AWS's documentation (independent of the
translator)."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from cronsim import CronSim
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.schedules_aws import to_eventbridge

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("unix", "eventbridge"),
    [
        # minutes and hours: steps become start/step, lists and ranges stay
        ("*/10 * * * *", ["cron(0/10 * * * ? *)"]),
        ("* * * * *", ["cron(* * * * ? *)"]),
        ("0 * * * *", ["cron(0 * * * ? *)"]),
        ("5/15 * * * *", ["cron(5/15 * * * ? *)"]),
        ("1-30/5 * * * *", ["cron(1,6,11,16,21,26 * * * ? *)"]),  # a bounded step: listed
        ("0-59/20 * * * *", ["cron(0/20 * * * ? *)"]),
        ("0,30 9-17 * * *", ["cron(0,30 9-17 * * ? *)"]),
        ("15 */6 * * *", ["cron(15 0/6 * * ? *)"]),
        ("0 0-23/2 * * *", ["cron(0 0/2 * * ? *)"]),
        ("0-4,10,11 * * * *", ["cron(0-4,10,11 * * * ? *)"]),
        # day-of-week: Unix 0-7 (0 and 7 Sunday), names -> EventBridge 1-7 with 1 = Sunday
        ("0 3 * * MON-FRI", ["cron(0 3 ? * 2-6 *)"]),
        ("0 12 * * 0", ["cron(0 12 ? * 1 *)"]),
        ("0 12 * * 7", ["cron(0 12 ? * 1 *)"]),
        ("0 12 * * SUN", ["cron(0 12 ? * 1 *)"]),
        ("0 12 * * 6", ["cron(0 12 ? * 7 *)"]),
        ("0 12 * * 5-7", ["cron(0 12 ? * 1,6,7 *)"]),  # FRI-SUN wraps around in EventBridge
        ("0 12 * * SAT,SUN", ["cron(0 12 ? * 1,7 *)"]),
        ("0 0 * * */2", ["cron(0 0 ? * 1,3,5,7 *)"]),  # no steps in EventBridge's day-of-week
        ("0 0 * * 1-5/2", ["cron(0 0 ? * 2,4,6 *)"]),
        ("0 0 * * SUN-SAT", ["cron(0 0 * * ? *)"]),  # every day of the week: no restriction
        ("0 0 * * 0-7", ["cron(0 0 * * ? *)"]),
        # day-of-month and month
        ("30 2 */2 * *", ["cron(30 2 1/2 * ? *)"]),
        ("0 0 1 * *", ["cron(0 0 1 * ? *)"]),
        ("0 0 1-7 * *", ["cron(0 0 1-7 * ? *)"]),
        ("0 0 L * *", ["cron(0 0 L * ? *)"]),
        ("0 0 LW * *", ["cron(0 0 LW * ? *)"]),
        ("0 0 * */3 *", ["cron(0 0 * 1/3 ? *)"]),
        ("0 0 1 JAN,JUL *", ["cron(0 0 1 1,7 ? *)"]),
        ("0 0 * JUN-AUG *", ["cron(0 0 * 6-8 ? *)"]),
        ("0 0 29 2 *", ["cron(0 0 29 2 ? *)"]),
        # L and #
        ("0 0 * * 5L", ["cron(0 0 ? * 6L *)"]),
        ("0 0 * * 0L", ["cron(0 0 ? * 1L *)"]),
        ("0 0 * * MON#2", ["cron(0 0 ? * 2#2 *)"]),
        ("0 9 * * 7#1", ["cron(0 9 ? * 1#1 *)"]),
        # Unix "either": both restricted, neither starting with '*' -> two schedules
        ("0 0 1,15 * 5", ["cron(0 0 1,15 * ? *)", "cron(0 0 ? * 6 *)"]),
        ("0 0 13 * FRI", ["cron(0 0 13 * ? *)", "cron(0 0 ? * 6 *)"]),
        ("0 0 L * MON", ["cron(0 0 L * ? *)", "cron(0 0 ? * 2 *)"]),
        ("0 8 1 JAN-MAR 1-5", ["cron(0 8 1 1-3 ? *)", "cron(0 8 ? 1-3 2-6 *)"]),
        ("0 0 1 * SUN-SAT", ["cron(0 0 * * ? *)"]),  # either, and every weekday: every day
        ("0 0 1-31 * 1", ["cron(0 0 * * ? *)"]),
        ("0 0 31 2 MON", ["cron(0 0 ? 2 2 *)"]),  # Feb 31st never comes: Mondays in Feb
        # "and": one field starts with '*' but covers everything
        ("0 0 */1 * MON", ["cron(0 0 ? * 2 *)"]),
        ("0 0 1 * */1", ["cron(0 0 1 * ? *)"]),
        # macros
        ("@hourly", ["cron(0 * * * ? *)"]),
        ("@daily", ["cron(0 0 * * ? *)"]),
        ("@weekly", ["cron(0 0 ? * 1 *)"]),
        ("@monthly", ["cron(0 0 1 * ? *)"]),
        ("@yearly", ["cron(0 0 1 1 ? *)"]),
        ("  0  3 * *   mon-fri ", ["cron(0 3 ? * 2-6 *)"]),
    ],
)
def test_translation(unix: str, eventbridge: list[str]) -> None:
    assert to_eventbridge(unix) == eventbridge


@pytest.mark.parametrize(
    ("unix", "why"),
    [
        # Unix "and" of a stepped field with the other: EventBridge restricts only one of them
        ("0 0 */2 * MON", "both day-of-month and day-of-week"),
        ("0 0 1 * */2", "both day-of-month and day-of-week"),
        ("0 0 */10 * 1-5", "both day-of-month and day-of-week"),
        # L / LW / nL / n# only alone in their field
        ("0 0 1,L * *", "'L' (last day) or 'LW'"),
        ("0 0 LW,15 * *", "'L' (last day) or 'LW'"),
        ("0 0 * * 5L,MON", "one 'L'"),
        ("0 0 * * MON#1,MON#3", "one 'L'"),
        # not Unix cron at all (validate_schedule's reasons)
        ("0 0 ? * MON", "'?' is EventBridge/Quartz syntax"),
        ("0 0 0 * * *", "6 fields"),
        ("@reboot", "not a schedule"),
        ("61 * * * *", "minute field"),
        ("0 0 30 2 *", "never"),
        ("", "empty"),
    ],
)
def test_refusals(unix: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why.replace("(", r"\(").replace(")", r"\)")):
        to_eventbridge(unix)


# -- the property: same firing times -------------------------------------------------------------


def _days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _eb_dow(day: date) -> int:
    return (day.weekday() + 1) % 7 + 1  # EventBridge: 1 = Sunday ... 7 = Saturday


def _eb_values(text: str, low: int, high: int) -> set[int]:
    """An EventBridge numeric field (``*``, ``a``, ``a-b``, ``a/n``, ``a-b/n``, lists)."""
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            start, end = (int(v) for v in base.split("-"))
        else:
            start = int(base)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return values


def _eb_day_matches(dom: str, dow: str, day: date) -> bool:
    last = _days_in_month(day)
    if dom != "?":
        if dom == "*":
            return True
        if dom == "L":
            return day.day == last
        if dom == "LW":
            last_weekday = max(
                d for d in range(last - 2, last + 1) if date(day.year, day.month, d).weekday() < 5
            )
            return day.day == last_weekday
        return day.day in _eb_values(dom, 1, 31)
    if dow == "*":
        return True
    if dow.endswith("L"):
        return _eb_dow(day) == int(dow[:-1]) and day.day + 7 > last
    if "#" in dow:
        weekday, nth = (int(v) for v in dow.split("#"))
        return _eb_dow(day) == weekday and (day.day - 1) // 7 + 1 == nth
    return _eb_dow(day) in _eb_values(dow, 1, 7)


START, END = date(2024, 1, 1), date(2026, 12, 31)  # three years, one of them a leap year


def _eventbridge_days(expressions: list[str]) -> set[date]:
    days = set()
    for expression in expressions:
        _, _, dom, month, dow, year = expression.removeprefix("cron(").removesuffix(")").split()
        assert year == "*"
        assert (dom == "?") != (dow == "?"), "exactly one of day-of-month/week must be '?'"
        months = _eb_values(month, 1, 12)
        day = START
        while day <= END:
            if day.month in months and _eb_day_matches(dom, dow, day):
                days.add(day)
            day += timedelta(days=1)
    return days


def _eventbridge_times(expressions: list[str]) -> set[tuple[int, int]]:
    times = set()
    for expression in expressions:
        minute, hour, *_ = expression.removeprefix("cron(").split()
        times |= {(h, m) for h in _eb_values(hour, 0, 23) for m in _eb_values(minute, 0, 59)}
    return times


def _unix_days(unix: str) -> set[date]:
    _, _, dom, month, dow = unix.split()
    days = set()
    start = datetime(START.year, START.month, START.day, tzinfo=UTC) - timedelta(seconds=1)
    for fire in CronSim(f"0 0 {dom} {month} {dow}", start):
        if fire.date() > END:
            break
        days.add(fire.date())
    return days


def _unix_times(unix: str) -> set[tuple[int, int]]:
    minute, hour, *_ = unix.split()
    start = datetime(2024, 1, 1, tzinfo=UTC) - timedelta(seconds=1)
    times = set()
    for fire in CronSim(f"{minute} {hour} * * *", start):
        if fire.date() > date(2024, 1, 1):
            break
        times.add((fire.hour, fire.minute))
    return times


def _field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    value = number.map(str) | (st.sampled_from(names) if names else number.map(str))
    item = st.one_of(
        value,
        st.tuples(number, number).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.tuples(number, number, st.integers(1, 12)).map(
            lambda abn: f"{min(abn[:2])}-{max(abn[:2])}/{abn[2]}"
        ),
        st.integers(1, 12).map(lambda n: f"*/{n}"),
        st.tuples(number, st.integers(1, 12)).map(lambda an: f"{an[0]}/{an[1]}"),
    )
    return st.one_of(st.just("*"), item, st.lists(item, min_size=2, max_size=3).map(",".join))


_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DOM = _field(1, 31) | st.sampled_from(["L", "LW"])
_DOW = (
    _field(0, 7, _DAYS)
    | st.tuples(st.integers(0, 7)).map(lambda d: f"{d[0]}L")
    | st.tuples(st.sampled_from(_DAYS), st.integers(1, 5)).map(lambda dn: f"{dn[0]}#{dn[1]}")
)


@settings(max_examples=150, deadline=None)
@given(
    minute=_field(0, 59),
    hour=_field(0, 23),
    dom=_DOM,
    month=_field(1, 12, _MONTHS),
    dow=_DOW,
)
def test_eventbridge_fires_exactly_when_unix_cron_does(
    minute: str, hour: str, dom: str, month: str, dow: str
) -> None:
    unix = f"{minute} {hour} {dom} {month} {dow}"
    try:
        expressions = to_eventbridge(unix)
    except InvalidInput:
        assume(False)  # invalid Unix cron, or refused (tested in the table above)
        raise
    assert _eventbridge_times(expressions) == _unix_times(unix), expressions
    assert _eventbridge_days(expressions) == _unix_days(unix.upper()), expressions
    assert all(len(e) <= 256 for e in expressions)
