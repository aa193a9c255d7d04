"""Log lines and log queries for the tests of the log rules and the log stores.

``log_line(resource, at, message)``: an ``info`` app line of the resource's instance
``<resource>-abcde``; ``log_query(now, resources=[...])``: the query a request with only those
parameters parses to at ``now`` (owner ``tea-1``, Render's defaults for the rest).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from imagedeploy.domain.logs import LogLine, LogQuery, LogType, parse_query


def log_line(resource: str, at: datetime, message: str = "hello", **more: Any) -> LogLine:
    """``more``: any other field of the line (``id``, ``instance``, ``type``, ``request``...)."""
    fields: dict[str, Any] = {
        "id": "",
        "timestamp": at,
        "resource": resource,
        "instance": f"{resource}-abcde",
        "type": LogType.APP,
        "level": "info",
        "message": message,
    }
    fields.update(more)
    return LogLine(**fields)


def log_query(now: datetime, **given: Any) -> LogQuery:
    """``given``: ``parse_query``'s other arguments (``resources``, ``limit``, ``filters``...)."""
    args: dict[str, Any] = {
        "owner_id": "tea-1",
        "resources": [],
        "start": None,
        "end": None,
        "direction": None,
        "limit": None,
        "now": now,
        "filters": {},
    }
    args.update(given)
    return parse_query(**args)
