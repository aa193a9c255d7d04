"""A ThreadingHTTPServer on 127.0.0.1 that stops cleanly, shared by the token server and proxy.

The stock server leaves handler threads blocked on idle keep-alive connections after
``shutdown()``. This one remembers open client sockets, shuts them down on :meth:`stop` and
then joins every handler thread, so no thread outlives the fixture that started it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins handler threads

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], address: tuple[str, int] = ("127.0.0.1", 0)
    ) -> None:
        """``address``: another loopback address or a fixed port (port 0: any free one)."""
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """``"127.0.0.1:PORT"``."""
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def start(self, name: str) -> None:
        # A short poll interval: shutdown() waits up to one interval (0.5 s by default).
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name=name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, hang up on open connections, join all threads."""
        self.shutdown()
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (and our own dropped connections) are expected in these tests.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class WebhookReceiver(LoopbackHTTPServer):
    """A loopback webhook receiver: every POST answered 204 and kept in ``received`` as
    ``{"headers": ..., "body": <the JSON body>}``, in the order they came."""

    def __init__(self) -> None:
        super().__init__(_RecordingHandler)
        self.received: list[dict[str, Any]] = []


class _RecordingHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        delivery = {"headers": dict(self.headers), "body": json.loads(self.rfile.read(length))}
        cast(WebhookReceiver, self.server).received.append(delivery)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass
