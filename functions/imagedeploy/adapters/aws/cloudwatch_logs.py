"""``CloudWatchLogReader``: the ``LogReader`` port on AWS, over the log groups ECS already
writes (awslogs: group ``<log prefix>/<service id>``, stream ``app/<container>/<task id>``).

``FilterLogEvents`` narrows by time only: Render's filters (case-insensitive text, wildcards,
regular expressions) are not CloudWatch filter patterns, so the lines of the range are read and
matched here with ``domain.logs`` — the same rules ``serve`` applies. A line's instance is its
ECS task id (the stream's last part); every line is ``app`` (pre-deploy tasks write to the same
group and are not told apart yet); request lines (ALB access logs) are not read.

A page reads time windows, going back from ``endTime`` (backward) or on from ``startTime``
(forward), 5 minutes first, then four times longer each time, until it has ``limit`` + 1
matches or reached the other end; each window is read whole (CloudWatch does not promise an
order across streams), so a window holding more than ``scan_limit`` events is halved first
(down to a second: beyond that, the window's first ``scan_limit`` events are used).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.clients import error_code
from imagedeploy.domain.log_masking import NO_MASK, Masker
from imagedeploy.domain.logs import (
    LogDirection,
    LogLine,
    LogPage,
    LogQuery,
    LogType,
    cut_page,
    detect_level,
    label_value,
)

_FIRST_WINDOW: Final = timedelta(minutes=5)
_SMALLEST_WINDOW: Final = timedelta(seconds=1)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class CloudWatchLogReader:
    def __init__(
        self, logs: Callable[[], Any], log_group_prefix: str, *, scan_limit: int = 10_000
    ) -> None:
        self._logs = logs
        self._prefix = log_group_prefix
        self._scan_limit = scan_limit

    def log_group(self, service_id: str) -> str:
        return f"{self._prefix}/{service_id}"

    # -- the port --------------------------------------------------------------------------------
    def query(self, query: LogQuery, maskers: Mapping[str, Masker]) -> LogPage:
        if query.direction is LogDirection.BACKWARD:
            return self._backward(query, maskers)
        return self._forward(query, maskers)

    def values(self, query: LogQuery, label: str) -> list[str]:
        lines, _ = self._read(query, query.start, query.end, {})
        found = {label_value(line, label) for line in lines if query.matches(line)}
        return sorted(v for v in found if v is not None)

    # -- paging ----------------------------------------------------------------------------------
    def _backward(self, query: LogQuery, maskers: Mapping[str, Masker]) -> LogPage:
        collected: list[LogLine] = []  # oldest first
        high, window = query.end, _FIRST_WINDOW
        while True:
            low = max(query.start, high - window)
            lines, complete = self._read(query, low, high, maskers)
            if not complete and window > _SMALLEST_WINDOW:
                window /= 2  # too many lines in this window: read a shorter one
                continue
            collected = lines + collected
            if low <= query.start or sum(map(query.matches, collected)) > query.limit:
                break
            high, window = low, window * 4
        return cut_page(query, reversed(collected))

    def _forward(self, query: LogQuery, maskers: Mapping[str, Masker]) -> LogPage:
        collected: list[LogLine] = []  # oldest first
        low, window = query.start, _FIRST_WINDOW
        while True:
            high = min(query.end, low + window)
            lines, complete = self._read(query, low, high, maskers)
            if not complete and window > _SMALLEST_WINDOW:
                window /= 2
                continue
            collected += lines
            if high >= query.end or sum(map(query.matches, collected)) > query.limit:
                break
            low, window = high, window * 4
        return cut_page(query, collected)

    # -- reading ---------------------------------------------------------------------------------
    def _read(
        self, query: LogQuery, start: datetime, end: datetime, maskers: Mapping[str, Masker]
    ) -> tuple[list[LogLine], bool]:
        """The lines of the query's resources in [start, end), oldest first, masked; and
        whether that is all of them (False: ``scan_limit`` was reached)."""
        streams = [self._events(r, start, end, maskers.get(r, NO_MASK)) for r in query.resources]
        lines: list[LogLine] = []
        for line in heapq.merge(*streams, key=lambda x: (x.timestamp, x.id)):
            if len(lines) >= self._scan_limit:
                return lines, False
            lines.append(line)
        return lines, True

    def _events(
        self, resource: str, start: datetime, end: datetime, masker: Masker
    ) -> Iterator[LogLine]:
        # CloudWatch's endTime is inclusive, in milliseconds: ask one more and cut here
        request: dict[str, Any] = {
            "logGroupName": self.log_group(resource),
            "startTime": _ms(start),
            "endTime": _ms(end),
            "limit": min(self._scan_limit, 10_000),
        }
        lines: list[LogLine] = []
        while len(lines) <= self._scan_limit:
            try:
                answer = self._logs().filter_log_events(**request)
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return  # no group yet: the service never ran
                raise
            for event in answer.get("events", []):
                line = _line(resource, event, masker)
                if start <= line.timestamp < end:
                    lines.append(line)
            token = answer.get("nextToken")
            if not token:
                break
            request["nextToken"] = token
        lines.sort(key=lambda x: (x.timestamp, x.id))
        yield from lines


def _line(resource: str, event: Mapping[str, Any], masker: Masker) -> LogLine:
    message = str(event.get("message", "")).rstrip("\n")
    stream = str(event.get("logStreamName", ""))
    return LogLine(
        id=str(event.get("eventId", "")),
        timestamp=datetime.fromtimestamp(int(event["timestamp"]) / 1000, UTC),
        resource=resource,
        instance=stream.rsplit("/", 1)[-1],
        type=LogType.APP,
        level=detect_level(message),
        message=masker.mask(message),
    )
