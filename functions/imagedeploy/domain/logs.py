"""Logs: a line a service's container wrote, Render's log query, its matching and its paging.

Pure (no I/O, no clock: ``now`` is passed in). Both homes store or read lines their own way
(``ports.LogStore``) and answer with the same rules from here: which lines match a query
(``LogQuery.matches``), how a page is cut and what its ``nextStartTime``/``nextEndTime`` are
(``cut_page``), and the labels a line carries (``labels``).

Render's filter syntax (https://render.com/docs/logging#wildcards-and-regular-expressions): a
value wrapped in slashes (``/time.*out/``) is a regular expression; otherwise ``*`` is a wildcard
for any characters. ``text`` matches anywhere in the message, case-insensitively; the label
filters (``level``, ``method``, ``statusCode``, ``host``, ``path``, ``type``, ``instance``) match
the whole label value. Several values of one parameter: any of them; several parameters: all.

Times: ``startTime`` is inclusive, ``endTime`` exclusive, both to the microsecond. A page never
splits the lines of one microsecond, so the next page's bounds lose nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from imagedeploy.domain.errors import InvalidInput


class LogType(StrEnum):
    APP = "app"
    REQUEST = "request"
    BUILD = "build"  # a pre-deploy command's output (Render's build logs)


class LogDirection(StrEnum):
    FORWARD = "forward"
    BACKWARD = "backward"


# The labels ``/logs/values`` answers (Render's ``label`` enum).
VALUE_LABELS: Final = ("instance", "host", "statusCode", "method", "level", "type")
DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 100
DEFAULT_WINDOW: Final = timedelta(hours=1)
ONE_MICROSECOND: Final = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class RequestFields:
    """What a request line says about one HTTP request (web services)."""

    method: str
    path: str
    status_code: int
    host: str = ""
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line as kept: ``resource`` is the service id; ``instance`` the instance id of a
    long-running service, or the run / job / deploy id of a cron run, one-off job or pre-deploy."""

    id: str
    timestamp: datetime
    resource: str
    instance: str
    type: LogType
    level: str
    message: str
    stream: str = "stdout"  # "stdout" or "stderr"
    request: RequestFields | None = None


def request_line(
    resource: str, timestamp: datetime, request: RequestFields, *, instance: str = ""
) -> LogLine:
    """The ``type=request`` line of one observed request; ``request.path`` must already be
    without its query string (it may carry secrets)."""
    duration = "" if request.duration_ms is None else f" {request.duration_ms}ms"
    return LogLine(
        id="",
        timestamp=timestamp,
        resource=resource,
        instance=instance,
        type=LogType.REQUEST,
        level="error" if request.status_code >= 500 else "info",
        message=f"{request.method} {request.path} {request.status_code}{duration}",
        request=request,
    )


def labels(line: LogLine) -> list[dict[str, str]]:
    """Render's ``labels`` of a line (names from its label enum)."""
    out = [
        {"name": "resource", "value": line.resource},
        {"name": "instance", "value": line.instance},
        {"name": "type", "value": line.type.value},
        {"name": "level", "value": line.level},
    ]
    if line.request is not None:
        out += [
            {"name": "method", "value": line.request.method},
            {"name": "path", "value": line.request.path},
            {"name": "statusCode", "value": str(line.request.status_code)},
        ]
        if line.request.host:
            out.append({"name": "host", "value": line.request.host})
    return out


def label_value(line: LogLine, name: str) -> str | None:
    """The value of label ``name`` on ``line`` (None when the line has no such label)."""
    request = line.request
    match name:
        case "instance":
            return line.instance
        case "type":
            return line.type.value
        case "level":
            return line.level
        case "resource":
            return line.resource
        case "method":
            return request.method if request else None
        case "path":
            return request.path if request else None
        case "statusCode":
            return str(request.status_code) if request else None
        case "host":
            return (request.host or None) if request else None
    return None


_LEVEL_WORDS: Final = (
    (re.compile(r"\b(fatal|panic|critical|crit)\b", re.I), "fatal"),
    (re.compile(r"\b(error|err|exception|traceback)\b", re.I), "error"),
    (re.compile(r"\b(warn|warning)\b", re.I), "warning"),
    (re.compile(r"\b(debug|trace)\b", re.I), "debug"),
)
_LEVEL_HEAD: Final = 64  # the level word is looked for near the start of the line only


def detect_level(message: str) -> str:
    """A line's severity from the words it starts with (``ERROR``, ``level=warn``...); ``info``
    when none says otherwise."""
    head = message[:_LEVEL_HEAD]
    for pattern, level in _LEVEL_WORDS:
        if pattern.search(head):
            return level
    return "info"


# -- filters -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pattern:
    """One filter value: a regular expression (``/.../``), a wildcard (``*``) or a literal."""

    source: str
    regex: re.Pattern[str]
    literal: str | None  # the value when it has neither wildcard nor regex (an index can use it)

    def matches_label(self, value: str) -> bool:
        if self.literal is not None:
            return value == self.literal
        return self.regex.fullmatch(value) is not None

    def matches_text(self, message: str) -> bool:
        return self.regex.search(message) is not None


def parse_pattern(parameter: str, value: str, *, text: bool = False) -> Pattern:
    """``value`` of filter ``parameter`` as a pattern; a regular expression that does not
    compile is an ``InvalidInput`` naming the parameter."""
    flags = re.IGNORECASE if text else 0
    if len(value) >= 2 and value.startswith("/") and value.endswith("/"):
        try:
            return Pattern(value, re.compile(value[1:-1], flags), None)
        except re.error as exc:
            raise InvalidInput(
                f"{parameter}: {value!r} is not a valid regular expression ({exc}); "
                "write /regex/ or a plain value with * as a wildcard"
            ) from None
    if "*" in value:
        body = ".*".join(re.escape(part) for part in value.split("*"))
        return Pattern(value, re.compile(body, flags), None)
    return Pattern(value, re.compile(re.escape(value), flags), value)


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Render's log query, validated (``parse_query`` builds it from request parameters)."""

    owner_id: str
    resources: tuple[str, ...]
    start: datetime
    end: datetime
    direction: LogDirection = LogDirection.BACKWARD
    limit: int = DEFAULT_LIMIT
    texts: tuple[Pattern, ...] = ()
    label_filters: Mapping[str, tuple[Pattern, ...]] = field(default_factory=dict)

    def matches(self, line: LogLine) -> bool:
        """Whether ``line`` is one this query asks for (time bounds included)."""
        if line.resource not in self.resources or not self.start <= line.timestamp < self.end:
            return False
        if self.texts and not any(p.matches_text(line.message) for p in self.texts):
            return False
        for name, patterns in self.label_filters.items():
            value = label_value(line, name)
            if value is None or not any(p.matches_label(value) for p in patterns):
                return False
        return True


# The array parameters that filter by a label of the same name.
_LABEL_PARAMETERS: Final = ("instance", "level", "type", "method", "path", "statusCode", "host")


def parse_query(
    *,
    owner_id: str | None,
    resources: Sequence[str] | None,
    start: datetime | None,
    end: datetime | None,
    direction: str | None,
    limit: int | None,
    now: datetime,
    filters: Mapping[str, Sequence[str] | None],
) -> LogQuery:
    """A ``LogQuery`` from Render's parameters (``filters``: the array parameters by Render's
    name, ``text`` included); anything wrong is an ``InvalidInput`` saying how to fix it."""
    if not owner_id:
        raise InvalidInput("ownerId is required: the id of the workspace whose logs to read")
    resource_ids = tuple(dict.fromkeys(r for r in resources or () if r))
    if not resource_ids:
        raise InvalidInput("resource is required: one or more service ids (resource=srv-...)")
    end_at = end if end is not None else now
    start_at = start if start is not None else end_at - DEFAULT_WINDOW
    if start_at.tzinfo is None or end_at.tzinfo is None:
        raise InvalidInput("startTime and endTime need a time zone (e.g. 2021-06-17T08:15:30Z)")
    if start_at > end_at:
        raise InvalidInput("startTime must not be after endTime")
    try:
        way = LogDirection(direction or LogDirection.BACKWARD)
    except ValueError:
        raise InvalidInput("direction must be one of: forward, backward") from None
    size = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= size <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    texts = tuple(parse_pattern("text", v, text=True) for v in _present(filters.get("text")))
    label_filters: dict[str, tuple[Pattern, ...]] = {}
    for label in _LABEL_PARAMETERS:
        values = _present(filters.get(label))
        if values:
            label_filters[label] = tuple(parse_pattern(label, v) for v in values)
    return LogQuery(
        owner_id=owner_id,
        resources=resource_ids,
        start=start_at,
        end=end_at,
        direction=way,
        limit=size,
        texts=texts,
        label_filters=label_filters,
    )


def _present(values: Sequence[str] | None) -> list[str]:
    return [v for v in values or () if v]


def parse_label(label: str | None) -> str:
    """The ``label`` of ``/logs/values``, checked against Render's enum."""
    if label not in VALUE_LABELS:
        raise InvalidInput(f"label must be one of: {', '.join(VALUE_LABELS)}")
    return label


# -- paging --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogPage:
    """One page: the lines in the query's direction, and the bounds of the next page."""

    lines: list[LogLine]
    has_more: bool
    next_start: datetime
    next_end: datetime


def cut_page(query: LogQuery, candidates: Iterable[LogLine]) -> LogPage:
    """The page of ``query`` from ``candidates``: matching lines in the query's direction
    (newest first backward), at most ``limit`` of them unless one microsecond holds more;
    ``candidates`` must already be in that order and may hold lines the query does not match.

    A page never ends inside a microsecond: when the line after the page shares the last
    line's timestamp, that timestamp's lines are left to the next page (or, when the page is
    all one microsecond, all of them are kept), so ``nextStartTime``/``nextEndTime`` skip
    nothing and repeat nothing."""
    page: list[LogLine] = []
    extra: LogLine | None = None
    for line in candidates:
        if not query.matches(line):
            continue
        if len(page) < query.limit:
            page.append(line)
            continue
        if line.timestamp == page[-1].timestamp and page[0].timestamp == page[-1].timestamp:
            page.append(line)  # a page that is all one microsecond keeps all of it
            continue
        extra = line
        break
    if extra is not None and extra.timestamp == page[-1].timestamp:
        boundary = page[-1].timestamp
        page = [line for line in page if line.timestamp != boundary]
    has_more = extra is not None
    if query.direction is LogDirection.BACKWARD:
        next_end = page[-1].timestamp if has_more and page else query.end
        return LogPage(page, has_more, query.start, next_end if has_more else query.start)
    next_start = page[-1].timestamp + ONE_MICROSECOND if has_more and page else query.end
    return LogPage(page, has_more, next_start, query.end)


def to_wire(line: LogLine) -> dict[str, object]:
    """Render's log entry: ``{id, labels, message, timestamp}``."""
    return {
        "id": line.id,
        "labels": labels(line),
        "message": line.message,
        "timestamp": line.timestamp.isoformat().replace("+00:00", "Z"),
    }
