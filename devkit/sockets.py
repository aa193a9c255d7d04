"""Raw loopback sockets for tests that HTTP clients cannot express.

- ``Tarpit``: a port that accepts connections and never answers (a registry that hangs).
- ``head_only``: send a request head that announces a body, send none of it, and read the
  answer — a server that checks before reading answers; one that buffers first never does.
- ``stream_until_answered``: stream a chunked body until the server answers, counting the
  bytes sent by then.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

# An image on the discard port: a registry that refuses at once, so the service never deploys.
UNREACHABLE_IMAGE = "127.0.0.1:9/nothing/here:1"


class Tarpit:
    """``with Tarpit() as tarpit``: ``tarpit.host`` (``127.0.0.1:port``) accepts connections,
    reads what is sent and never answers; ``wait_for_connections(n)`` waits until ``n`` arrived."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.host = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._connections: list[socket.socket] = []
        self._arrived = threading.Condition()
        self._closed = False

    def __enter__(self) -> Tarpit:
        threading.Thread(target=self._accept, name="tarpit", daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed = True
        self._listener.close()
        with self._arrived:
            for connection in self._connections:
                connection.close()

    @property
    def connections(self) -> int:
        with self._arrived:
            return len(self._connections)

    def wait_for_connections(self, count: int, timeout: float = 60) -> None:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._connections) >= count, timeout):
                raise AssertionError(f"the tarpit got {len(self._connections)} of {count} calls")

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._arrived:
                self._connections.append(connection)
                self._arrived.notify_all()


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]  # lowercased names
    body: bytes
    body_bytes_sent: int = 0  # of the request, before the answer came
    notes: list[str] = field(default_factory=list)


def _connect(base_url: str, timeout: float) -> socket.socket:
    parts = urlsplit(base_url)
    return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout)


def _head(method: str, path: str, headers: Mapping[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: imagedeploy.test", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read_reply(sock: socket.socket) -> RawReply:
    """Read until the server closes the connection (every request here says ``close``)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"no answer from the server; got {data[:200]!r}") from None
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/"):
        raise AssertionError(f"not an HTTP answer: {data[:200]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawReply(int(lines[0].split()[1]), headers, body)


def head_only(
    base_url: str, method: str, path: str, headers: Mapping[str, str], timeout: float = 30
) -> RawReply:
    """Send only the head (whatever body it announces) and read the answer; a server that
    waits for the body leaves this to time out (an ``AssertionError``)."""
    with _connect(base_url, timeout) as sock:
        sock.sendall(_head(method, path, headers))
        return _read_reply(sock)


def stream_until_answered(
    base_url: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    *,
    total: int,
    chunk_size: int = 64 * 1024,
    timeout: float = 60,
) -> RawReply:
    """Stream up to ``total`` bytes as a chunked body, stopping as soon as the server answers
    or closes; the reply says how many body bytes were sent by then."""
    chunk = b"x" * chunk_size
    frame = f"{chunk_size:x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with _connect(base_url, timeout) as sock:
        sock.sendall(_head(method, path, {**headers, "Transfer-Encoding": "chunked"}))
        notes: list[str] = []
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                notes.append("answered while streaming")
                break
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                notes.append("closed while streaming")
                break
            sent += chunk_size
        else:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b"0\r\n\r\n")
        reply = _read_reply(sock)
    reply.body_bytes_sent = sent
    reply.notes = notes
    return reply
