"""A fault-injecting proxy for the container engine's API socket (issue 9's local fault tests).

``EngineFaultProxy(upstream_socket).start()`` listens on a unix socket of its own
(``proxy.socket``, in a new private temporary directory unless one is given) and forwards every request to the engine's API socket (a ``podman system
service``); ``imagedeploy serve --engine-socket proxy.socket`` then drives the real engine through
it. Tests queue :class:`EngineFault` objects; each request consumes the first queued fault that
matches it (method, path regex), else it passes through untouched.

Faults:

- ``EngineFault.fail(method, path)``: answer 500 with a podman-like error body
  (``{"cause", "message", "response"}``) without contacting the engine;
- ``EngineFault.drop(method, path)``: read the request, close the connection, answer nothing;
- ``EngineFault.hold(method, path)``: keep the request until the test decides:
  ``wait_arrived()`` blocks until a request is held, then ``release()`` forwards it or
  ``drop_held()`` closes its connection without forwarding (the engine never sees it).

Every request is recorded (``requests``: method, path, status, fault) so tests count what reached
the engine. Responses stream back byte for byte (``/events``, ``wait``, ``logs?follow`` stay
open as long as the engine keeps them open); only request heads are parsed, so keep-alive
connections work (the client sends its next request once it has read the answer).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

EngineFaultKind = Literal["fail", "drop", "hold"]

#: What podman's compatible API answers on an internal error, with an injected cause.
INJECTED_CAUSE = "injected engine fault"


@dataclass
class EngineFault:
    """One programmed misbehaviour for the next ``times`` matching requests."""

    kind: EngineFaultKind
    method: str
    path: str  #: regex searched in the request target (path and query)
    times: int = 1
    status: int = 500
    message: str = ""
    _arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    _decided: threading.Event = field(default_factory=threading.Event)
    _forward: bool = True

    @classmethod
    def fail(
        cls, method: str, path: str, *, message: str = "", status: int = 500, times: int = 1
    ) -> EngineFault:
        text = message or f"{INJECTED_CAUSE}: {method} {path} failed"
        return cls("fail", method.upper(), path, times, status, text)

    @classmethod
    def drop(cls, method: str, path: str, *, times: int = 1) -> EngineFault:
        return cls("drop", method.upper(), path, times)

    @classmethod
    def hold(cls, method: str, path: str, *, times: int = 1) -> EngineFault:
        return cls("hold", method.upper(), path, times)

    def matches(self, method: str, target: str) -> bool:
        return self.method == method and re.search(self.path, target) is not None

    def body(self) -> bytes:
        doc = {"cause": INJECTED_CAUSE, "message": self.message, "response": self.status}
        return json.dumps(doc).encode()

    # -- hold ---------------------------------------------------------------------------------

    def wait_arrived(self, timeout: float = 60) -> None:
        """Block until a request matching this hold is being held (one per call)."""
        if not self._arrived.acquire(timeout=timeout):
            raise AssertionError(f"no {self.method} {self.path} arrived within {timeout} s")

    def release(self) -> None:
        """Forward the held request(s), and any later ones this hold matches."""
        self._forward = True
        self._decided.set()

    def drop_held(self) -> None:
        """Close the held request's connection without forwarding it."""
        self._forward = False
        self._decided.set()


@dataclass(frozen=True)
class EngineRequest:
    method: str
    target: str
    fault: EngineFaultKind | None
    forwarded: bool = False  #: sent on to the engine (not failed, dropped or still held)


class EngineFaultProxy:
    """A unix-socket proxy in front of ``upstream`` (the engine's API socket)."""

    def __init__(self, upstream: str, directory: Path | None = None) -> None:
        self.upstream = upstream
        # A short path of its own by default: a unix socket path has at most 107 bytes.
        self._directory = None if directory else Path(tempfile.mkdtemp(prefix="engine-fault-"))
        self.socket = str((directory or self._directory or Path()) / "engine.sock")
        self._lock = threading.Lock()
        self._faults: list[EngineFault] = []
        self._requests: list[EngineRequest] = []
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()

    # -- programming ------------------------------------------------------------------------

    def add(self, *faults: EngineFault) -> EngineFaultProxy:
        with self._lock:
            self._faults.extend(faults)
        return self

    def clear(self) -> None:
        """Forget queued faults and recorded requests; requests held now are released."""
        with self._lock:
            faults, self._faults = self._faults, []
            self._requests.clear()
        for fault in faults:
            if fault.kind == "hold":
                fault.release()

    def _take(self, method: str, target: str) -> EngineFault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method, target):
                    fault.times -= 1
                    if fault.times <= 0:
                        del self._faults[index]
                    return fault
        return None

    # -- inspection ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[EngineRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, method: str, path: str, *, forwarded: bool = False) -> int:
        """Requests seen with ``method`` and a target matching ``path``; with ``forwarded``
        only those sent on to the engine (not failed, dropped or still held here)."""
        return sum(
            1
            for r in self.requests
            if r.method == method.upper()
            and re.search(path, r.target)
            and (r.forwarded or not forwarded)
        )

    def _record(self, request: EngineRequest) -> int:
        with self._lock:
            self._requests.append(request)
            return len(self._requests) - 1

    def _forwarded(self, index: int) -> None:
        with self._lock:
            old = self._requests[index]
            self._requests[index] = EngineRequest(old.method, old.target, old.fault, True)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> EngineFaultProxy:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.socket)
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, name="engine-fault", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            faults = list(self._faults)
            connections = list(self._connections)
        for fault in faults:
            if fault.kind == "hold":
                fault.drop_held()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> EngineFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- forwarding -------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, connection: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _serve(self, client: socket.socket) -> None:
        """One client connection: parse each request head, apply a fault or forward it over
        this connection's own engine connection; answers are pumped back by another thread."""
        upstream: socket.socket | None = None
        reader = client.makefile("rb")
        self._track(client, True)
        try:
            while not self._stopping.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                method, target, raw = request
                fault = self._take(method, target)
                index = self._record(EngineRequest(method, target, fault.kind if fault else None))
                if fault is not None and fault.kind == "hold":
                    fault._arrived.release()
                    fault._decided.wait()
                    if not fault._forward or self._stopping.is_set():
                        return
                if fault is not None and fault.kind == "drop":
                    return
                if fault is not None and fault.kind == "fail":
                    client.sendall(_response(fault.status, fault.body()))
                    continue
                if upstream is None:
                    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    upstream.connect(self.upstream)
                    self._track(upstream, True)
                    threading.Thread(
                        target=self._pump, args=(upstream, client), daemon=True
                    ).start()
                self._forwarded(index)
                upstream.sendall(raw)
        except OSError:
            return
        finally:
            for end in (client, upstream):
                if end is not None:
                    self._track(end, False)
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)
                    end.close()

    def _pump(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while chunk := upstream.recv(65536):
                client.sendall(chunk)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)


def _read_request(reader: io.BufferedReader) -> tuple[str, str, bytes] | None:
    """The next request (method, target, its raw bytes with the body), None at EOF."""
    head = b""
    while True:
        line = reader.readline(65537)
        if not line:
            return None
        head += line
        if line in (b"\r\n", b"\n"):
            break
    request_line, _, header_block = head.partition(b"\r\n")
    method, target, _ = request_line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    for header in header_block.decode("latin-1").split("\r\n"):
        name, sep, value = header.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    body = b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = reader.readline()
            body += size_line
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (trailer := reader.readline()) not in (b"\r\n", b"\n", b""):
                    body += trailer
                body += b"\r\n"
                break
            body += reader.read(size) + reader.readline()
    elif length := int(headers.get("content-length") or 0):
        body = reader.read(length)
    return method.upper(), target, head + body


def _response(status: int, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
