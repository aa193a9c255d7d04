"""The health probe against tiny loopback servers (HTTP status codes, redirects, slow answers,
TCP-only mode), and the polling loop with a fake clock."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from devkit.httpserver import LoopbackHTTPServer
from imagedeploy.adapters.local.health import probe, wait_healthy


class Handler(BaseHTTPRequestHandler):
    """``/status/NNN`` answers NNN; ``/slow`` answers 200 after 2 s; ``/trickle`` sends the
    status line one byte every 0.2 s."""

    protocol_version = "HTTP/1.1"
    paths: list[str] = []  # noqa: RUF012 - shared record, reset by the fixture

    def do_GET(self) -> None:
        Handler.paths.append(self.path)
        if self.path == "/slow":
            time.sleep(2)
        if self.path == "/trickle":
            for byte in b"HTTP/1.1 200 OK\r\n":
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
            return
        status = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/status/") else 200
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "/status/500")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    Handler.paths = []
    server = LoopbackHTTPServer(Handler)
    server.start("health-test-server")
    yield int(server.server_address[1])
    server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.integration
@pytest.mark.parametrize(
    ("status", "healthy"),
    [(200, True), (204, True), (301, True), (302, True), (307, True), (404, False), (500, False)],
)
def test_http_status_decides(http_port: int, status: int, healthy: bool) -> None:
    assert probe("127.0.0.1", http_port, f"/status/{status}", timeout=2) is healthy


@pytest.mark.integration
def test_redirects_are_not_followed(http_port: int) -> None:
    assert probe("127.0.0.1", http_port, "/status/302", timeout=2)
    assert Handler.paths == ["/status/302"]  # the Location (a 500) was never asked for


@pytest.mark.integration
def test_path_without_slash_and_odd_characters_are_sent_safely(http_port: int) -> None:
    assert probe("127.0.0.1", http_port, "healthz?x=a b\r\nX-Injected: 1", timeout=2)
    assert Handler.paths == ["/healthz?x=a%20b%0D%0AX-Injected:%201"]


@pytest.mark.integration
def test_an_answer_slower_than_the_timeout_is_unhealthy(http_port: int) -> None:
    started = time.monotonic()
    assert not probe("127.0.0.1", http_port, "/slow", timeout=0.5)
    assert time.monotonic() - started < 1.9  # the answer comes at 2 s


@pytest.mark.integration
def test_the_timeout_bounds_the_whole_probe_not_each_read(http_port: int) -> None:
    # 17 bytes at 0.2 s each: every read is quick, the status line is not
    started = time.monotonic()
    assert not probe("127.0.0.1", http_port, "/trickle", timeout=1.0)
    assert time.monotonic() - started < 3.0  # the status line would be complete at 3.4 s


@pytest.mark.integration
def test_nothing_listening_is_unhealthy_in_both_modes() -> None:
    port = free_port()
    assert not probe("127.0.0.1", port, "/", timeout=1)
    assert not probe("127.0.0.1", port, None, timeout=1)


@contextlib.contextmanager
def tcp_server(*, hang_up: bool) -> Iterator[int]:
    """A listener that keeps connections open (a real server) or closes them at once (what a
    userland port proxy does when nothing listens behind it)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            if hang_up:
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.integration
def test_tcp_mode_accepts_a_listener_that_waits_for_the_client() -> None:
    with tcp_server(hang_up=False) as port:
        assert probe("127.0.0.1", port, None, timeout=2)
        assert probe("127.0.0.1", port, "", timeout=2)  # an empty path means TCP too


@pytest.mark.integration
def test_tcp_mode_rejects_a_peer_that_hangs_up_at_once() -> None:
    with tcp_server(hang_up=True) as port:
        assert not probe("127.0.0.1", port, None, timeout=2)


@pytest.mark.integration
def test_http_mode_on_a_non_http_server_is_unhealthy() -> None:
    with tcp_server(hang_up=True) as port:
        assert not probe("127.0.0.1", port, "/", timeout=1)


# --- wait_healthy ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.unit
def test_wait_healthy_polls_until_healthy() -> None:
    clock = FakeClock()
    answers = iter([False, False, True])
    seen: list[tuple[str, int, str | None, float]] = []

    def fake_probe(host: str, port: int, path: str | None, timeout: float) -> bool:
        seen.append((host, port, path, timeout))
        return next(answers)

    assert wait_healthy("h", 1, "/hz", 30, 2, probe_fn=fake_probe, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [2, 2]
    assert seen == [("h", 1, "/hz", 5.0)] * 3


@pytest.mark.unit
def test_wait_healthy_gives_up_at_the_deadline() -> None:
    clock = FakeClock()
    timeouts: list[float] = []

    def never(host: str, port: int, path: str | None, timeout: float) -> bool:
        timeouts.append(timeout)
        clock.now += timeout  # each probe uses its whole timeout
        return False

    assert not wait_healthy("h", 1, None, 12, 3, probe_fn=never, clock=clock, sleep=clock.sleep)
    assert clock.now == 112  # never past the deadline
    assert timeouts == [5.0, 4.0]  # the last probe only gets what is left
    assert clock.sleeps == [3]


@pytest.mark.unit
def test_wait_healthy_stops_when_told_to_give_up() -> None:
    clock = FakeClock()
    checks = iter([False, True])
    probes: list[int] = []

    def fake_probe(host: str, port: int, path: str | None, timeout: float) -> bool:
        probes.append(port)
        return False

    assert not wait_healthy(
        "h",
        1,
        None,
        60,
        1,
        give_up=lambda: next(checks),
        probe_fn=fake_probe,
        clock=clock,
        sleep=clock.sleep,
    )
    assert probes == [1]
