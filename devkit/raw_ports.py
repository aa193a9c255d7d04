"""Loopback TCP ports that are open but do not speak HTTP: one answers a banner and hangs up
(an SSH or SMTP server), one accepts and never says anything. Port-scan oracle tests compare
them with a closed port."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class RawPort:
    """``RawPort(banner=b"SSH-2.0-OpenSSH_9.6\\r\\n")`` answers every connection with the banner
    and closes it; ``RawPort(banner=None)`` accepts and stays silent until stopped."""

    def __init__(self, banner: bytes | None) -> None:
        self._banner = banner
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="raw-port", daemon=True)
        self.connections = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.settimeout(2.0)
            if self._banner is None:
                self._held.append(conn)
                continue
            with contextlib.suppress(OSError):
                conn.sendall(self._banner)
                conn.recv(65536)  # let the client send its request, then hang up
            conn.close()

    def __enter__(self) -> RawPort:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        self._sock.close()
