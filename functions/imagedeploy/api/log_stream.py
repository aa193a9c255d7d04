"""``GET /v1/logs/subscribe`` as Server-Sent Events, for ``serve``'s HTTP layer (``api.wsgi``).

The resolver's route checks the request first (API key, parameters, access); when it answers
200 the HTTP layer streams instead of sending its body: every ``poll_seconds`` the new lines of
the log store (``ports.FollowsLogs``) that match the query, one ``log`` event each (``data``:
Render's log entry JSON, ``id``: the store's position), and a comment every
``keepalive_seconds`` so a closed connection is noticed. Each stream holds one HTTP thread, so
their number is bounded (``logs_max_subscribers``): one more is a 429.

Render's subscribe is a WebSocket; ``serve`` has no WebSocket server (waitress speaks WSGI
only), so only the SSE form is offered.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from imagedeploy.api.app import api_key_owner
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.routes.logs import query_from_string
from imagedeploy.domain.errors import RateLimited
from imagedeploy.domain.log_masking import Masker
from imagedeploy.domain.logs import LogQuery, to_wire
from imagedeploy.ports import FollowsLogs
from imagedeploy.usecases.logs import check_access

SUBSCRIBE_PATH = "/v1/logs/subscribe"


class LogStreamer:
    def __init__(
        self,
        deps: ApiDeps,
        store: FollowsLogs,
        *,
        max_subscribers: int,
        poll_seconds: float = 0.2,
        keepalive_seconds: float = 15.0,
    ) -> None:
        self._deps = deps
        self._store = store
        self._slots = threading.BoundedSemaphore(max_subscribers) if max_subscribers else None
        self._poll = poll_seconds
        self._keepalive = keepalive_seconds
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def open(self, headers: Mapping[str, str], raw_query: str) -> Iterable[bytes]:
        """The event stream of one request the resolver accepted; ``ImagedeployError`` when no
        stream can be opened (too many already)."""
        ports = self._deps.ports
        owner = api_key_owner(ports, headers)
        query = query_from_string(self._deps, raw_query, None)
        maskers = check_access(ports, owner, query)
        if self._slots is None or not self._slots.acquire(blocking=False):
            raise RateLimited(
                "too many log subscriptions are open; close one, or poll GET /v1/logs",
                limit=0,
                remaining=0,
                reset_seconds=5,
            )
        slots = self._slots
        try:
            _, position = self._store.follow(query, None, maskers)  # lines from now on
        except BaseException:
            slots.release()
            raise
        return _Subscription(self._events(query, maskers, position), slots.release)

    def _events(
        self, query: LogQuery, maskers: Mapping[str, Masker], position: int
    ) -> Iterator[bytes]:
        yield b": subscribed\n\n"
        quiet_since = time.monotonic()
        while not self._stopping.wait(self._poll):
            lines, position = self._store.follow(query, position, maskers)
            if lines:
                quiet_since = time.monotonic()
                yield b"".join(
                    f"id: {line.id}\nevent: log\ndata: {json.dumps(to_wire(line))}\n\n".encode()
                    for line in lines
                )
            elif time.monotonic() - quiet_since >= self._keepalive:
                quiet_since = time.monotonic()
                yield b": keepalive\n\n"


class _Subscription:
    """The WSGI body of one stream: its slot is given back once, when the server closes it
    (also when the client left before the first event: a generator never started would not
    run a ``finally``)."""

    def __init__(self, events: Iterator[bytes], release: Callable[[], None]) -> None:
        self._events = events
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            close()
        release, self._release = self._release, None
        if release is not None:
            release()
