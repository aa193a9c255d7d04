"""Cron job schedules: standard 5-field Unix cron, evaluated in UTC (docs/architecture.md §9.1).

The fields are ``minute hour day-of-month month day-of-week``. Evaluation is cronsim's (the
library Healthchecks.io uses), which follows Debian/Vixie cron, including its extensions ``L``
(last day of the month, ``5L`` last Friday), ``LW`` (last weekday of the month) and ``#``
(``MON#2``, second Monday). The macros ``@hourly``, ``@daily``/``@midnight``, ``@weekly``,
``@monthly`` and ``@yearly``/``@annually`` are expanded to their 5-field form; ``@reboot``,
6-field (seconds) and 7-field (years) forms are refused.

The "either" rule: when *both* day-of-month and day-of-week are restricted (neither field starts
with ``*``), a day matches when **either** field matches, not both. ``0 0 13 * FRI`` fires on
every 13th *and* on every Friday, not only on Friday the 13th. As soon as one of the two starts
with ``*`` (``*``, ``*/2``), the fields combine with "and" as usual: ``0 0 */2 * MON`` fires on
Mondays that fall on an odd day of the month. ``uses_either_rule`` says when the rule is in
effect; one EventBridge cron expression cannot say "either", so the AWS scheduler creates two
schedules for such expressions.

Pure: no I/O and no clock; callers pass the time to start from.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

from imagedeploy.domain.digest import quote
from imagedeploy.domain.errors import InvalidInput

__all__ = [
    "EXAMPLE",
    "MACROS",
    "MAX_SCHEDULE_LENGTH",
    "next_fire",
    "plan_schedule",
    "uses_either_rule",
    "validate_schedule",
]

EXAMPLE = "*/10 * * * *"
MAX_SCHEDULE_LENGTH = 255

#: Vixie cron's macros, as the 5-field expressions they stand for.
MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31, L (last day) or LW (last weekday)"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT (0 and 7 are Sunday), 5L (last Friday), MON#2 (2nd Monday)"),
)
_HOW = (
    "a schedule is 5 fields in UTC: minute hour day-of-month month day-of-week, "
    f"e.g. {EXAMPLE!r} (every 10 minutes) or '0 3 * * MON-FRI' (03:00 UTC on weekdays)"
)
# Where "does it ever fire?" is checked from; cronsim looks 50 years ahead, which covers every
# calendar pattern cron can express (February 29th on a given weekday repeats within 28 years).
_REFERENCE_TIME = datetime(2000, 1, 1, tzinfo=UTC)


def validate_schedule(expr: str) -> str:
    """The normalized 5-field form of ``expr`` (single spaces, uppercase names, macros expanded).

    Raises ``InvalidInput`` with the reason (cronsim's, and which field) and an example.
    """
    return _evaluate(expr, _REFERENCE_TIME)[0]


def next_fire(expr: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` at which ``expr`` fires, in UTC (tz-aware).

    ``after`` must be timezone-aware (any zone; it is converted to UTC). Seconds are always 0.
    """
    return plan_schedule(expr, after)[1]


def plan_schedule(expr: str, after: datetime) -> tuple[str, datetime]:
    """``expr`` normalized and its first fire strictly after ``after`` (UTC), evaluating the
    expression once (a scheduler loading thousands of schedules at start-up)."""
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("next_fire needs a timezone-aware datetime (e.g. datetime.now(UTC))")
    normalized, due = _evaluate(expr, after.astimezone(UTC))
    if due is None:
        raise _invalid(expr, f"it never fires after {after.isoformat()}")
    return normalized, due


def _evaluate(expr: str, after: datetime) -> tuple[str, datetime | None]:
    """Normalize and check ``expr``; its first fire after ``after`` (None: never)."""
    text = expr.strip()
    if not text:
        raise _invalid(expr, "it is empty")
    if len(text) > MAX_SCHEDULE_LENGTH:
        raise _invalid(expr, f"it is longer than {MAX_SCHEDULE_LENGTH} characters")
    if text.startswith("@"):
        text = _expand_macro(expr, text)
    fields = text.split()
    if len(fields) != len(_FIELDS):
        raise _invalid(expr, _field_count_problem(len(fields)))
    normalized = " ".join(fields).upper()
    if "?" in normalized:
        raise _invalid(
            expr, "'?' is EventBridge/Quartz syntax that Unix cron does not have: use '*' instead"
        )
    try:
        return normalized, next(CronSim(normalized, after))
    except CronSimError as error:
        raise _invalid(expr, _field_problem(fields, error)) from None
    except StopIteration:
        if after == _REFERENCE_TIME:
            raise _invalid(expr, "no date ever matches it") from None
        return normalized, None


def uses_either_rule(expr: str) -> bool:
    """True when day-of-month and day-of-week are both restricted, so either one matching is
    enough (see the module docstring). ``expr`` must be valid."""
    fields = validate_schedule(expr).split()
    return not fields[2].startswith("*") and not fields[4].startswith("*")


def _expand_macro(expr: str, text: str) -> str:
    macro = text.lower()
    if macro == "@reboot":
        raise _invalid(
            expr,
            "@reboot is not a schedule: cron jobs here run on a time schedule (or on demand "
            "with POST /v1/cron-jobs/{id}/runs), never at boot",
        )
    expansion = MACROS.get(macro)
    if expansion is None:
        known = ", ".join(MACROS)
        raise _invalid(expr, f"{quote(text)} is not a known macro; the macros are {known}")
    return expansion


def _field_count_problem(count: int) -> str:
    if count == 6:
        return (
            "it has 6 fields; a seconds field (or, in EventBridge/Quartz syntax, a year field) "
            "is not supported: remove it"
        )
    if count == 7:
        return "it has 7 fields; seconds and year fields are not supported: remove them"
    return f"it has {count} field{'' if count == 1 else 's'}, not 5"


def _field_problem(fields: list[str], error: CronSimError) -> str:
    """Which field cronsim refused, what it allows, and cronsim's own reason."""
    reason = f"cronsim: {error}"
    for index, (name, allowed) in enumerate(_FIELDS):
        alone = ["*"] * len(_FIELDS)
        alone[index] = fields[index]
        try:
            next(CronSim(" ".join(alone).upper(), _REFERENCE_TIME))
        except CronSimError:
            return (
                f"the {name} field {quote(fields[index])} is invalid ({reason}); it takes {allowed}"
            )
        except StopIteration:  # pragma: no cover - a single restricted field always fires
            pass
    # Every field is valid alone: the day of the month does not exist in any month given.
    return (
        f"day-of-month {quote(fields[2])} never occurs in month {quote(fields[3])} ({reason}); "
        "pick a day that exists in that month (or 'L' for its last day)"
    )


def _invalid(expr: str, problem: str) -> InvalidInput:
    return InvalidInput(f"schedule {quote(expr)} is not a valid cron expression: {problem}; {_HOW}")
