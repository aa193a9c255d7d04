"""``imagedeploy logs SERVICE``: a service's lines through ``GET /v1/logs``, in either home.

Without ``--since`` the newest ``--limit`` lines; with it, every line from then on (page after
page, forward). ``--tail`` then keeps asking for lines newer than the last one shown every
``POLL_SECONDS`` (plain polling works against both homes; ``serve``'s SSE subscribe is for
clients that want a stream). Text output: ``time  instance  message``; ``-o json|yaml``: Render's
log entries (with ``--tail``, one JSON document per line)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from imagedeploy.client import output
from imagedeploy.client.api import ApiClient, ClientError

POLL_SECONDS = 2.0
MAX_LINES = 10_000  # a --since read stops after this many
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str, now: datetime) -> datetime:
    """``90s``/``10m``/``2h``/``1d`` before ``now``, or an RFC 3339 time."""
    if match := _DURATION.fullmatch(value.strip()):
        amount, unit = match.groups()
        return now - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ClientError(f"--since {value!r}: give 90s, 10m, 2h, 1d or an RFC 3339 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _label(entry: dict[str, Any], name: str) -> str:
    return next((str(x["value"]) for x in entry.get("labels", []) if x["name"] == name), "")


def _line(entry: dict[str, Any]) -> str:
    return f"{entry['timestamp']}  {_label(entry, 'instance')}  {entry['message']}"


def logs(
    client: ApiClient,
    args: Any,
    out: TextIO,
    *,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    if not 1 <= args.limit <= 100:
        raise ClientError("--limit takes 1 to 100")
    base = {"ownerId": client.default_owner(), "resource": args.service, "text": args.text}
    if args.since:
        entries = _forward(client, base, parse_since(args.since, now()), now())
    else:
        page = client.get("/v1/logs", **base, limit=args.limit, endTime=_stamp(now()))
        entries = list(reversed(page["logs"]))
    if args.tail:
        return _tail(client, args, out, base, entries, sleep, now)
    if args.output == "text":
        out.write("".join(_line(e) + "\n" for e in entries))
    else:
        output.emit(out, args.output, entries)
    return 0


def _forward(
    client: ApiClient, base: dict[str, Any], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    query = {**base, "direction": "forward", "limit": 100}
    query |= {"startTime": _stamp(start), "endTime": _stamp(end)}
    while len(entries) < MAX_LINES:
        page = client.get("/v1/logs", **query)
        entries += page["logs"]
        if not page["hasMore"]:
            break
        query |= {"startTime": page["nextStartTime"], "endTime": page["nextEndTime"]}
    return entries


def _tail(
    client: ApiClient,
    args: Any,
    out: TextIO,
    base: dict[str, Any],
    shown: list[dict[str, Any]],
    sleep: Callable[[float], None],
    now: Callable[[], datetime],
) -> int:
    seen = {e["id"] for e in shown}
    since = datetime.fromisoformat(shown[-1]["timestamp"]) if shown else now()
    try:
        while True:
            for entry in shown:
                out.write(_line(entry) if args.output == "text" else json.dumps(entry))
                out.write("\n")
            out.flush()
            sleep(POLL_SECONDS)
            fresh = [e for e in _forward(client, base, since, now()) if e["id"] not in seen]
            seen.update(e["id"] for e in fresh)
            if fresh:
                since = datetime.fromisoformat(fresh[-1]["timestamp"])
            shown = fresh
    except KeyboardInterrupt:
        return 0
