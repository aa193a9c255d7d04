"""Health checks of web service instances (docs/architecture.md §6.2): the local runtime's
equivalent of the ALB target group health check.

- With a ``healthCheckPath``: an HTTP/1.1 ``GET`` whose status line arrives within the timeout
  with a 2xx or 3xx status is healthy. Redirects are not followed (a 3xx *is* healthy), the body
  is not read.
- Without a path: a TCP connect. A peer that accepts and then closes at once is *not* healthy:
  that is what a userland port proxy (docker-proxy) does when nothing listens behind it, and a
  bare connect would call such an instance healthy.

The timeout bounds the whole probe (connect, send, status line), not each socket operation, so
a server trickling bytes cannot stretch it. Plain sockets, no HTTP library: all we need is the
status line.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable
from urllib.parse import quote

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
_STATUS_LINE = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})(?: |\r?$)")
_MAX_STATUS_LINE = 8192
_EOF_GRACE = 0.2  # how long a TCP probe waits to see whether the peer hangs up at once


def probe(host: str, port: int, path: str | None, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """One health check of ``host:port`` (HTTP when ``path`` is set, else TCP: ``None`` and
    ``""`` both mean "no health check path"); never raises for network failures."""
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if not path:
                return _stays_open(sock, deadline)
            return _http_status_ok(sock, host, port, path, deadline)
    except OSError:
        return False


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _stays_open(sock: socket.socket, deadline: float) -> bool:
    sock.settimeout(min(_EOF_GRACE, _remaining(deadline)))
    try:
        return sock.recv(1) != b""  # data (a banner): alive; b"": the peer hung up
    except TimeoutError:
        return True  # connected, and the peer waits for us to speak: a listening server


def _request(host: str, port: int, path: str) -> bytes:
    target = quote(path if path.startswith("/") else f"/{path}", safe="/?&=%:@!$'()*+,;~-._")
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return (
        f"GET {target} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: imagedeploy-health/1\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


def _http_status_ok(sock: socket.socket, host: str, port: int, path: str, deadline: float) -> bool:
    sock.settimeout(_remaining(deadline))
    sock.sendall(_request(host, port, path))
    received = b""
    while b"\n" not in received:
        sock.settimeout(_remaining(deadline))
        chunk = sock.recv(1024)
        if not chunk or len(received) > _MAX_STATUS_LINE:
            return False
        received += chunk
    match = _STATUS_LINE.match(received.split(b"\n", 1)[0])
    return match is not None and 200 <= int(match.group(1)) < 400


def wait_healthy(
    host: str,
    port: int,
    path: str | None,
    deadline_seconds: float,
    interval: float = 0.5,
    *,
    probe_timeout: float = DEFAULT_TIMEOUT,
    give_up: Callable[[], bool] | None = None,
    probe_fn: Callable[[str, int, str | None, float], bool] = probe,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Probe every ``interval`` seconds until healthy (``True``) or ``deadline_seconds`` have
    passed (``False``). ``give_up`` is asked before each probe: the caller returns ``True`` when
    waiting is pointless (the container exited), so a failing rollout fails fast.
    """
    deadline = clock() + deadline_seconds
    attempts = 0
    while not (give_up is not None and give_up()):
        left = deadline - clock()
        if attempts and left <= 0:
            break
        attempts += 1
        if probe_fn(host, port, path, max(0.001, min(probe_timeout, left))):
            logger.debug("healthy", extra={"port": port, "attempts": attempts})
            return True
        left = deadline - clock()
        if left <= 0:
            break
        sleep(min(interval, left))
    logger.info(
        "not healthy",
        extra={"port": port, "attempts": attempts, "deadline_seconds": deadline_seconds},
    )
    return False
