"""What the router sees of HTTP/1.x on one proxied connection (docs/architecture.md §19).

The router forwards bytes unchanged; it also hands a *copy* of each chunk, per direction, to an
``HttpObserver``. The observer parses message heads only: bodies are skipped by counting
(``Content-Length``) or by reading chunk-size lines (``Transfer-Encoding: chunked``), never
buffered, so keep-alive connections report every request. It gives up — and the connection is
passed through unobserved from then on — on anything that is not HTTP/1.x (TLS, the HTTP/2
preface, garbage), after a protocol switch (``101``, ``CONNECT``), on a response delimited by
connection close, and on a head larger than ``MAX_HEAD``.

For each request it reports method, path, Host, the response status and the time from the
request head seen to the response status line seen. The path is kept WITHOUT the query string
(query strings often carry tokens), and cut to ``MAX_PATH`` characters.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto

MAX_HEAD = 16 * 1024
MAX_PATH = 1024
_METHOD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-_")


@dataclass(frozen=True, slots=True)
class ObservedRequest:
    """One request and its answer as seen on the wire."""

    method: str
    path: str
    host: str
    status: int
    at: float  # wall-clock seconds when the request head was seen
    duration_ms: float  # request head seen -> response status line seen
    instance: str = ""  # the instance that answered (set by the router, which knows it)


class _State(Enum):
    HEAD = auto()
    BODY = auto()
    CHUNK_SIZE = auto()
    CHUNK_DATA = auto()
    TRAILER = auto()
    OFF = auto()


# What a head says about the body after it: a length, chunked, or stop observing.
CHUNKED = -1
STOP = -2


class _Framer:
    """Finds the heads in one direction's byte stream and skips the bodies between them."""

    def __init__(self, on_head: Callable[[bytes], int]) -> None:
        self._on_head = on_head
        self._buf = bytearray()
        self._remaining = 0
        self.state = _State.HEAD

    def stop(self) -> None:
        self.state = _State.OFF
        self._buf.clear()

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self.state is not _State.OFF:
            match self.state:
                case _State.BODY | _State.CHUNK_DATA:
                    n = min(self._remaining, len(view))
                    self._remaining -= n
                    view = view[n:]
                    if not self._remaining:
                        self.state = _State.HEAD if self.state is _State.BODY else _State.CHUNK_SIZE
                case _State.HEAD:
                    view = self._head(view)
                case _:
                    view = self._line(view)

    def _head(self, view: memoryview) -> memoryview:
        if not self._buf:
            while bytes(view[:2]) == b"\r\n":  # tolerated empty lines between messages
                view = view[2:]
            if not view:
                return view
            if view[0] not in _METHOD_BYTES:
                self.stop()  # TLS, binary: not HTTP/1.x
                return view[:0]
        taken = self._take(view, b"\r\n\r\n")
        if taken is None:
            return view[:0]
        head, rest = taken
        framing = self._on_head(head)
        if framing == STOP:
            self.stop()
        elif framing == CHUNKED:
            self.state = _State.CHUNK_SIZE
        elif framing > 0:
            self.state, self._remaining = _State.BODY, framing
        return rest

    def _line(self, view: memoryview) -> memoryview:
        taken = self._take(view, b"\r\n")
        if taken is None:
            return view[:0]
        line, rest = taken
        if self.state is _State.TRAILER:
            if not line:
                self.state = _State.HEAD
            return rest
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            self.stop()
            return rest[:0]
        if size == 0:
            self.state = _State.TRAILER
        else:
            self.state, self._remaining = _State.CHUNK_DATA, size + 2  # data and its CRLF
        return rest

    def _take(self, view: memoryview, end_mark: bytes) -> tuple[bytes, memoryview] | None:
        """What the buffer and ``view`` hold before ``end_mark``, and what follows it; None
        while the mark has not come (all of ``view`` buffered; beyond ``MAX_HEAD``, stop)."""
        start = max(len(self._buf) - len(end_mark) + 1, 0)
        self._buf += view
        end = self._buf.find(end_mark, start)
        if end < 0:
            if len(self._buf) > MAX_HEAD:
                self.stop()
            return None
        taken = bytes(self._buf[:end])
        rest = memoryview(bytes(self._buf[end + len(end_mark) :]))
        self._buf.clear()
        return taken, rest


def _headers(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return lines[0], fields


def _body_length(fields: dict[str, str]) -> int:
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return CHUNKED
    length = fields.get("content-length")
    if length is None:
        return 0
    return int(length) if length.isdigit() else STOP


def path_of(target: str) -> str:
    """The request target's path: no query string or fragment, no scheme and authority."""
    if "://" in target:
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    path = target.split("?", 1)[0].split("#", 1)[0]
    return path[:MAX_PATH]


@dataclass(slots=True)
class _Pending:
    method: str
    path: str
    host: str
    at: float
    started: float


class HttpObserver:
    """Feed it both directions of one connection; it calls ``report`` per answered request.
    Any error inside the observer turns it off; it never affects the bytes forwarded."""

    def __init__(
        self,
        report: Callable[[ObservedRequest], None],
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._report = report
        self._wall = wall
        self._monotonic = monotonic
        self._pending: deque[_Pending] = deque()
        self._requests = _Framer(self._on_request)
        self._responses = _Framer(self._on_response)

    @property
    def active(self) -> bool:
        return self._responses.state is not _State.OFF

    def _off(self) -> None:
        self._requests.stop()
        self._responses.stop()

    def client_data(self, data: bytes) -> None:
        self._feed(self._requests, data)

    def backend_data(self, data: bytes) -> None:
        self._feed(self._responses, data)

    def _feed(self, framer: _Framer, data: bytes) -> None:
        if framer.state is _State.OFF:
            return
        try:
            framer.feed(data)
        except Exception:  # a parser bug must never reach the proxy
            self._off()

    def _on_request(self, head: bytes) -> int:
        line, fields = _headers(head)
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._off()  # HTTP/2 preface, garbage
            return STOP
        method, target, _ = parts
        self._pending.append(
            _Pending(
                method, path_of(target), fields.get("host", ""), self._wall(), self._monotonic()
            )
        )
        if method == "CONNECT" or "upgrade" in fields:
            return STOP  # what follows may not be HTTP; the answer is still observed
        return _body_length(fields)

    def _on_response(self, head: bytes) -> int:
        line, fields = _headers(head)
        version, _, rest = line.partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit() or not self._pending:
            self._off()
            return STOP
        status = int(code)
        if 100 <= status < 200 and status != 101:
            return 0  # interim (100 Continue): the final answer follows
        request = self._pending.popleft()
        self._report(
            ObservedRequest(
                request.method,
                request.path,
                request.host,
                status,
                request.at,
                (self._monotonic() - request.started) * 1000.0,
            )
        )
        if status == 101 or (request.method == "CONNECT" and 200 <= status < 300):
            self._off()
            return STOP
        if request.method == "HEAD" or status in (204, 304):
            return 0
        if "transfer-encoding" not in fields and "content-length" not in fields:
            self._off()  # delimited by close: nothing more to see on this connection
            return STOP
        return _body_length(fields)
