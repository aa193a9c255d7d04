"""A counting, fault-injecting HTTP reverse proxy for loopback tests and benchmarks.

``FaultProxy(upstream).start()`` listens on a free 127.0.0.1 port and forwards every request to
``upstream`` (e.g. a registry's base URL). Tests queue :class:`Fault` objects; each incoming
request consumes the first queued fault that matches it (method, path regex), else it passes
through. Every request is recorded as a :class:`ProxiedRequest` (method, path, status, fault,
times) so tests and the benchmark can count HTTP requests.

Faults: ``Fault.respond(429, retry_after="1")`` / ``respond(503)`` / ``respond(500)`` /
``respond(408)`` answer without contacting upstream; ``Fault.drop()`` closes the socket
without any response; ``Fault.delay(seconds)`` waits, then forwards (a slow response);
``Fault.passthrough()`` forwards (useful as "let the first N through").

Nothing is rewritten. The ``Host`` header is forwarded unchanged, so the registry builds its
absolute ``Location`` URLs (blob uploads) with the proxy's host:port and clients keep talking
through the proxy. ``WWW-Authenticate`` is passed as is: a Basic realm is only a name, and a
Bearer realm points at the token server, which clients reach directly. Bodies are buffered
(manifests and test blobs are small). Hop-by-hop headers are not forwarded.

``CountingProxy`` is the same class; with no faults queued it only counts.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import urlsplit

from devkit.httpserver import LoopbackHTTPServer

FaultKind = Literal["respond", "drop", "delay", "pass"]

#: RFC 7230 hop-by-hop headers (plus those we recompute): never forwarded either way.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",  # BaseHTTPRequestHandler already answered any "100-continue" itself
}

_DEFAULT_BODIES = {
    429: b'{"errors":[{"code":"TOOMANYREQUESTS","message":"injected: too many requests"}]}',
    401: b'{"errors":[{"code":"UNAUTHORIZED","message":"injected: unauthorized"}]}',
}


@dataclass
class Fault:
    """One programmed misbehaviour, consumed by the next ``times`` matching requests."""

    kind: FaultKind
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    method: str | None = None  #: match only this method (e.g. "GET"); None = any
    path: str | None = None  #: regex searched in the request path (with query); None = any
    times: int = 1

    @classmethod
    def respond(
        cls,
        status: int,
        *,
        retry_after: str | int | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
    ) -> Fault:
        """Answer ``status`` without contacting upstream (429 gets a registry-style body)."""
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["Retry-After"] = str(retry_after)
        if body is None:
            body = _DEFAULT_BODIES.get(status, f"injected {status}\n".encode())
        ctype = "application/json" if body.startswith(b"{") else "text/plain; charset=utf-8"
        all_headers.setdefault("Content-Type", ctype)
        return cls("respond", status, all_headers, body, method=method, path=path, times=times)

    @classmethod
    def drop(cls, *, method: str | None = None, path: str | None = None, times: int = 1) -> Fault:
        """Read the request, then close the connection without a response."""
        return cls("drop", method=method, path=path, times=times)

    @classmethod
    def delay(
        cls, seconds: float, *, method: str | None = None, path: str | None = None, times: int = 1
    ) -> Fault:
        """Wait ``seconds``, then forward as usual."""
        return cls("delay", seconds=seconds, method=method, path=path, times=times)

    @classmethod
    def passthrough(
        cls, *, method: str | None = None, path: str | None = None, times: int = 1
    ) -> Fault:
        return cls("pass", method=method, path=path, times=times)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or re.search(self.path, path) is not None

    def label(self) -> str:
        if self.kind == "respond":
            return f"respond {self.status}"
        if self.kind == "delay":
            return f"delay {self.seconds}s"
        return self.kind


@dataclass(frozen=True)
class ProxiedRequest:
    """One request as the proxy saw it. No header values are kept (they may hold secrets)."""

    method: str
    path: str  #: path with query, as received
    status: int | None  #: status sent to the client; None when the connection was dropped
    fault: str | None  #: label of the fault applied ("respond 429", "drop", ...), None if none
    auth_scheme: str | None  #: "Basic" / "Bearer" if an Authorization header was sent
    started: float  #: time.monotonic() at arrival
    #: seconds from arrival until the answer was ready (recorded BEFORE it is sent, so a client
    #: that got its response always finds the request in ``FaultProxy.requests``)
    duration: float


class FaultProxy:
    """Threaded reverse proxy on 127.0.0.1 in front of ``upstream`` (``http://host:port``)."""

    def __init__(self, upstream: str, *, upstream_timeout: float = 30.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self._upstream_addr = (parts.hostname, parts.port)
        self._upstream_timeout = upstream_timeout
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: list[ProxiedRequest] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None

    # programming ---------------------------------------------------------------------------

    def add(self, *faults: Fault) -> FaultProxy:
        """Queue faults; a request consumes the first matching one. Returns self."""
        with self._lock:
            self._faults.extend(faults)
        return self

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        del self._faults[i]
                    return fault
        return None

    # inspection ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[ProxiedRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests seen, optionally only those with ``method`` and a path matching regex."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path is None or re.search(path, r.path))
        )

    def reset(self) -> None:
        """Forget recorded requests and queued faults."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    def _record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    # addresses -----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``"127.0.0.1:PORT"``: use it in image references instead of the registry's host."""
        assert self._server is not None, "not started"
        return self._server.host

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    # lifecycle -----------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        server = _Server(_Handler)
        server.owner = self
        self._server = server
        server.start(f"fault-proxy-{server.host}")
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay fault
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # forwarding (handler threads) ----------------------------------------------------------

    def _forward(
        self, method: str, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self._upstream_addr, timeout=self._upstream_timeout)
        try:
            # putheader one by one: repeated headers (skopeo sends one Accept per media type)
            # must survive. Host comes from the client, unchanged.
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if body or method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = b"" if method == "HEAD" else response.read()
            return response.status, response.reason, response.getheaders(), data
        finally:
            conn.close()


CountingProxy = FaultProxy


class _Server(LoopbackHTTPServer):
    owner: FaultProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms
    # to every keep-alive response and distort the benchmark's timings.
    disable_nagle_algorithm = True
    server: _Server

    def handle(self) -> None:
        # skopeo --tls-verify=false tries TLS first. Hang up on a TLS ClientHello (first byte
        # 0x16) like a plain-HTTP port would fail it, instead of parsing it as a request line.
        try:
            first = self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if first in (b"", b"\x16"):
            return
        super().handle()

    def _proxy(self) -> None:
        owner = self.server.owner
        started = time.monotonic()
        body = self._read_body()
        fault = owner._take_fault(self.command, self.path)
        auth = self.headers.get("Authorization")
        auth_scheme = auth.split(" ", 1)[0] if auth else None

        def record(status: int | None) -> None:
            owner._record(
                ProxiedRequest(
                    method=self.command,
                    path=self.path,
                    status=status,
                    fault=fault.label() if fault and fault.kind != "pass" else None,
                    auth_scheme=auth_scheme,
                    started=started,
                    duration=time.monotonic() - started,
                )
            )

        if fault is not None and fault.kind == "drop":
            record(None)
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client may already be gone
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind == "respond":
            record(fault.status)
            self._reply(fault.status, None, list(fault.headers.items()), fault.body)
            return
        # A delay that ends because the proxy is stopping gives up quietly.
        if fault is not None and fault.kind == "delay" and owner._stopping.wait(fault.seconds):
            record(None)
            self.close_connection = True
            return
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
        try:
            status, reason, resp_headers, data = owner._forward(
                self.command, self.path, headers, body
            )
        except OSError as exc:
            message = f"fault proxy: upstream error: {exc}\n".encode()
            record(502)
            self._reply(502, None, [("Content-Type", "text/plain")], message)
            return
        upstream_length = next((v for k, v in resp_headers if k.lower() == "content-length"), None)
        kept = [(k, v) for k, v in resp_headers if k.lower() not in _HOP_BY_HOP]
        record(status)
        self._reply(status, reason, kept, data, head_length=upstream_length)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(
        self,
        status: int,
        reason: str | None,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        head_length: str | None = None,
    ) -> None:
        self.send_response_only(status, reason)
        self.send_header("Date", self.date_time_string())
        for name, value in headers:
            if name.lower() != "date":
                self.send_header(name, value)
        if self.command == "HEAD":
            # HEAD: no body, but keep the Content-Length upstream announced.
            self.send_header("Content-Length", head_length or str(len(body)))
            self.end_headers()
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _proxy  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded in FaultProxy.requests instead of printed
