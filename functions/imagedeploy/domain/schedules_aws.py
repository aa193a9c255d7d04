"""5-field Unix cron → EventBridge Scheduler ``cron(...)`` expressions (docs/architecture.md
§9.2). Pure.

EventBridge (Quartz-like) cron has six fields, ``minutes hours day-of-month month day-of-week
year``, and differs from Unix cron in ways that change meaning if copied naively:

- **day-of-week** is 1-7 with 1 = Sunday (Unix: 0-7, 0 and 7 = Sunday) and takes no ``/``
  steps; ``*/2`` becomes an explicit list.
- exactly one of day-of-month and day-of-week must be ``?``: EventBridge cannot restrict both.
  Unix cron's "either" rule (both restricted, neither starting with ``*``: a day matches when
  *either* field does) becomes **two** expressions, one per field; their union is the Unix
  schedule. When one restricted field starts with ``*`` (``*/2``), Unix cron means "both must
  match", which EventBridge cannot say at all: refused.
- ``L`` / ``LW`` (day-of-month) and ``5L`` / ``MON#2`` (day-of-week) exist, but only alone in
  their field, never in a list.

How: every field is parsed by cronsim (the evaluator ``domain.schedules`` uses, so both agree on
what a field means) into its set of values, which is then written back in EventBridge syntax:
``*`` for the whole range, ``first/step`` for a progression that runs to the end of the range
(``*/10`` → ``0/10``, ``*/2`` day-of-month → ``1/2``), otherwise ranges and lists
(``1-30/5`` → ``1,6,11,16,21,26``). The result names the same minutes as the input, in UTC.
"""

from __future__ import annotations

import itertools

from cronsim import CronSim, CronSimError
from cronsim.cronsim import DAYS_IN_MONTH, Field

from imagedeploy.domain.digest import quote
from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.schedules import validate_schedule

__all__ = ["MAX_EXPRESSION_LENGTH", "to_eventbridge"]

#: EventBridge Scheduler's limit on ``ScheduleExpression``.
MAX_EXPRESSION_LENGTH = 256

_RANGES = {
    Field.MINUTE: (0, 59),
    Field.HOUR: (0, 23),
    Field.DAY: (1, 31),
    Field.MONTH: (1, 12),
}
_ALL_DAYS = frozenset(range(7))


def to_eventbridge(cron5: str) -> list[str]:
    """The EventBridge Scheduler expressions (``cron(...)``, UTC) that together fire exactly when
    the 5-field Unix cron expression ``cron5`` does: one, or two (day-of-month first, then
    day-of-week) for Unix cron's "either" rule.

    Raises ``InvalidInput`` for an invalid expression (``domain.schedules.validate_schedule``'s
    reasons) or one EventBridge cannot express, saying why.
    """
    normalized = validate_schedule(cron5)
    minute, hour, dom, month, dow = normalized.split()
    try:
        minutes = _ints(Field.MINUTE, minute)
        hours = _ints(Field.HOUR, hour)
        months = _ints(Field.MONTH, month)
        days = Field.DAY.parse(dom)
        weekdays = Field.DOW.parse(dow)
    except CronSimError as exc:  # pragma: no cover - validate_schedule parsed them already
        raise _refuse(cron5, str(exc)) from None

    head = f"{_render(Field.MINUTE, minutes)} {_render(Field.HOUR, hours)}"
    month_text = _render(Field.MONTH, months)
    dom_text = _day_of_month(cron5, days)  # None: every day
    dow_text = _day_of_week(cron5, weekdays)  # None: every day of the week
    either = not dom.startswith("*") and not dow.startswith("*")

    every_day = (head, "*", month_text, "?")
    exprs: list[tuple[str, str, str, str]]
    if either and (dom_text is None or dow_text is None):
        exprs = [every_day]  # "either", and one of them matches every day: every day
    elif dom_text is None and dow_text is None:
        exprs = [every_day]
    elif dom_text is not None and dow_text is None:
        exprs = [(head, dom_text, month_text, "?")]
    elif dom_text is None and dow_text is not None:
        exprs = [(head, "?", month_text, dow_text)]
    elif dom_text is not None and dow_text is not None and either:
        exprs = []
        if _can_fire(days, months):
            exprs.append((head, dom_text, month_text, "?"))
        exprs.append((head, "?", month_text, dow_text))
    else:
        raise _refuse(
            cron5,
            f"with {quote(dom if dom.startswith('*') else dow)} starting with '*', Unix cron "
            "fires only on days matching both day-of-month and day-of-week, and an EventBridge "
            "schedule can restrict only one of the two; restrict one field only (e.g. "
            f"'{minute} {hour} {dom} {month} *')",
        )
    result = [f"cron({h} {d} {m} {w} *)" for h, d, m, w in exprs]
    for expr in result:
        if len(expr) > MAX_EXPRESSION_LENGTH:
            raise _refuse(
                cron5,
                f"written for EventBridge it is {len(expr)} characters long, over its limit of "
                f"{MAX_EXPRESSION_LENGTH}; use ranges or steps instead of long lists",
            )
    return result


# -- fields --------------------------------------------------------------------------------------


def _ints(field: Field, text: str) -> set[int]:
    values = set()
    for item in field.parse(text):
        if not isinstance(item, int):  # pragma: no cover - only day-of-week yields tuples
            raise CronSimError(field.msg())
        values.add(item)
    return values


def _day_of_month(cron5: str, days: set[int | tuple[int, int]]) -> str | None:
    ints = {d for d in days if isinstance(d, int)}
    specials = {d for d in ints if d in (CronSim.LAST, CronSim.LAST_WEEKDAY)}
    if specials:
        if len(days) > 1:
            raise _refuse(
                cron5,
                "EventBridge takes 'L' (last day) or 'LW' (last weekday) only alone in "
                "day-of-month, not in a list with other days; split it into two cron jobs",
            )
        return "L" if CronSim.LAST in specials else "LW"
    if ints == set(range(1, 32)):
        return None
    return _render(Field.DAY, ints)


def _day_of_week(cron5: str, weekdays: set[int | tuple[int, int]]) -> str | None:
    specials = [w for w in weekdays if isinstance(w, tuple)]
    if specials:
        if len(weekdays) > 1:
            raise _refuse(
                cron5,
                "EventBridge takes one 'L' (5L: last Friday) or '#' (MON#2: second Monday) "
                "item alone in day-of-week, not in a list; split it into several cron jobs",
            )
        day, nth = specials[0]
        number = day % 7 + 1  # Unix 0-7 (0 and 7 Sunday) -> EventBridge 1-7 (1 Sunday)
        return f"{number}L" if nth == CronSim.LAST else f"{number}#{nth}"
    days = {w % 7 for w in weekdays if isinstance(w, int)}
    if days == _ALL_DAYS:
        return None
    return _runs(sorted(d + 1 for d in days))  # no '/' in EventBridge's day-of-week


def _can_fire(days: set[int | tuple[int, int]], months: set[int]) -> bool:
    """Whether a day-of-month schedule fires at all in the given months (``31 2`` never does:
    alone it is dropped, since the day-of-week schedule covers the "either")."""
    ints = [d for d in days if isinstance(d, int)]
    longest = max(DAYS_IN_MONTH[m] for m in months)
    return any(d < 0 or d <= longest for d in ints)


def _render(field: Field, values: set[int]) -> str:
    low, high = _RANGES[field]
    ordered = sorted(values)
    if ordered == list(range(low, high + 1)):
        return "*"
    if len(ordered) >= 3:
        step = ordered[1] - ordered[0]
        steady = all(b - a == step for a, b in itertools.pairwise(ordered))
        if steady and step > 1 and ordered[-1] + step > high:
            return f"{ordered[0]}/{step}"
    return _runs(ordered)


def _runs(ordered: list[int]) -> str:
    """``1,2,3,5,7,8,9`` → ``1-3,5,7-9``: runs of three or more as ranges."""
    parts: list[str] = []
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        if end - start >= 2:
            parts.append(f"{ordered[start]}-{ordered[end]}")
        else:
            parts.extend(str(v) for v in ordered[start : end + 1])
        start = end + 1
    return ",".join(parts)


def _refuse(cron5: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"schedule {quote(cron5)} cannot run on EventBridge Scheduler: {why}",
    )
