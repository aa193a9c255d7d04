"""The web router with plain Python TCP servers as backends: 503 without backends, round-robin,
atomic switches that leave open connections on the old backend, drain, refused backends,
streaming both ways, many concurrent connections, clean removal and stop."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from imagedeploy.adapters.local.http_observer import ObservedRequest
from imagedeploy.adapters.local.router import Backend, Router, RouterError

pytestmark = pytest.mark.integration


class FakeBackend:
    """A loopback TCP server. ``http`` mode reads a request head and answers ``200`` with its
    name as the body (after ``release`` is set: clear it to hold requests); ``echo`` mode sends
    back everything until the client half-closes."""

    def __init__(self, name: str, mode: str = "http") -> None:
        self.name = name
        self.mode = mode
        self.release = threading.Event()
        self.release.set()
        self.got_request = threading.Event()
        self.requests = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = int(self._listener.getsockname()[1])
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            if self.mode == "echo":
                while data := conn.recv(65536):
                    conn.sendall(data)
                return
            head = b""
            while b"\r\n\r\n" not in head and (chunk := conn.recv(4096)):
                head += chunk
            with self._lock:
                self.requests += 1
            self.got_request.set()
            self.release.wait(10)
            body = self.name.encode()
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (len(body), body)
            )

    def close(self) -> None:
        self.release.set()
        self._listener.close()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)


def http_get(port: int, timeout: float = 10) -> tuple[int, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, str]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


@pytest.fixture
def router() -> Iterator[Router]:
    with Router() as started:
        yield started


@pytest.fixture
def backends() -> Iterator[dict[str, FakeBackend]]:
    made: dict[str, FakeBackend] = {}
    yield made
    for backend in made.values():
        backend.close()


def add(backends: dict[str, FakeBackend], name: str, mode: str = "http") -> FakeBackend:
    backends[name] = FakeBackend(name, mode)
    return backends[name]


def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_without_backends_the_route_answers_503(router: Router) -> None:
    port = router.add_route("srv-a")
    status, body = http_get(port)
    assert status == 503
    assert "no running instance" in body


def test_a_route_forwards_to_its_backend(router: Router, backends: dict[str, FakeBackend]) -> None:
    a = add(backends, "A")
    port = router.add_route("srv-a")
    router.set_backends("srv-a", [a.address])
    assert http_get(port) == (200, "A")
    assert router.backends("srv-a") == (Backend("127.0.0.1", a.port),)


def test_round_robin_per_connection(router: Router, backends: dict[str, FakeBackend]) -> None:
    a, b = add(backends, "A"), add(backends, "B")
    port = router.add_route("srv-a")
    router.set_backends("srv-a", [a.address, b.address])
    answers = [http_get(port)[1] for _ in range(6)]
    assert answers in (["A", "B"] * 3, ["B", "A"] * 3)


def test_switch_sends_new_connections_to_new_backends_and_keeps_open_ones(
    router: Router, backends: dict[str, FakeBackend]
) -> None:
    a, b = add(backends, "A"), add(backends, "B")
    port = router.add_route("srv-a")
    router.set_backends("srv-a", [a.address])
    a.release.clear()  # A holds its answer until told

    with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
        held.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        assert a.got_request.wait(10)
        router.set_backends("srv-a", [b.address])

        assert http_get(port) == (200, "B")  # new connections: B at once
        # (B's count drops just after its client saw the end of the answer)
        only_a = {Backend("127.0.0.1", a.port): 1}
        assert wait_until(lambda: router.active_connections("srv-a") == only_a)
        assert not router.drain("srv-a", [a.address], timeout=0.1)  # A still serves one

        a.release.set()
        assert read_response(held) == (200, "A")  # the open one finished on A
    assert router.drain("srv-a", [a.address], timeout=10)
    assert router.active_connections("srv-a") == {}


def test_a_refusing_backend_is_skipped_and_all_refusing_is_502(
    router: Router, backends: dict[str, FakeBackend]
) -> None:
    a = add(backends, "A")
    port = router.add_route("srv-a")
    router.set_backends("srv-a", [("127.0.0.1", dead_port()), a.address])
    assert [http_get(port) for _ in range(4)] == [(200, "A")] * 4
    router.set_backends("srv-a", [("127.0.0.1", dead_port())])
    status, body = http_get(port)
    assert status == 502
    assert "no instance" in body


def test_streams_both_ways_and_passes_a_client_half_close(
    router: Router, backends: dict[str, FakeBackend]
) -> None:
    echo = add(backends, "E", mode="echo")
    port = router.add_route("srv-a")
    router.set_backends("srv-a", [echo.address])
    payload = bytes(range(256)) * 8192  # 2 MiB
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sender = threading.Thread(target=lambda: (sock.sendall(payload), sock.shutdown(1)))
        sender.start()
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        sender.join()
    assert received == payload


def test_many_concurrent_connections(router: Router, backends: dict[str, FakeBackend]) -> None:
    a, b = add(backends, "A"), add(backends, "B")
    port = router.add_route("srv-a")
    router.set_backends("srv-a", [a.address, b.address])
    a.release.clear()
    b.release.clear()
    with ThreadPoolExecutor(max_workers=200) as pool:
        futures = [pool.submit(http_get, port) for _ in range(200)]
        # all 200 are open at the same time before any is answered
        assert wait_until(lambda: a.requests + b.requests == 200)
        assert sum(router.active_connections("srv-a").values()) == 200
        a.release.set()
        b.release.set()
        results = [f.result() for f in futures]
    assert sorted(r[1] for r in results) == ["A"] * 100 + ["B"] * 100
    assert a.requests == b.requests == 100


def test_a_fixed_port_is_kept_and_routes_are_independent(
    router: Router, backends: dict[str, FakeBackend]
) -> None:
    a, b = add(backends, "A"), add(backends, "B")
    wanted = dead_port()
    assert router.add_route("srv-a", wanted) == wanted
    other = router.add_route("srv-b")
    router.set_backends("srv-a", [a.address])
    router.set_backends("srv-b", [b.address])
    assert (http_get(wanted), http_get(other)) == ((200, "A"), (200, "B"))
    assert router.port("srv-a") == wanted


def test_remove_route_closes_the_listener_and_its_connections(
    router: Router, backends: dict[str, FakeBackend]
) -> None:
    a = add(backends, "A")
    port = router.add_route("srv-a")
    router.set_backends("srv-a", [a.address])
    a.release.clear()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
        held.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        assert a.got_request.wait(10)
        router.remove_route("srv-a")
        assert held.recv(1024) == b""  # closed by the router
    with pytest.raises(ConnectionRefusedError):
        http_get(port)
    assert router.drain("srv-a", [a.address], timeout=0)  # no route: nothing left
    router.remove_route("srv-a")  # idempotent


def test_errors(router: Router) -> None:
    port = router.add_route("srv-a")
    with pytest.raises(RouterError, match="already has a route"):
        router.add_route("srv-a")
    with pytest.raises(RouterError, match="cannot listen"):
        router.add_route("srv-b", port)
    with pytest.raises(RouterError, match="has no route"):
        router.set_backends("srv-b", [])
    with pytest.raises(RouterError, match="not started"):
        Router().add_route("srv-c")


def test_stop_closes_everything(backends: dict[str, FakeBackend]) -> None:
    a = add(backends, "A")
    router = Router().start()
    port = router.add_route("srv-a")
    router.set_backends("srv-a", [a.address])
    a.release.clear()
    held = socket.create_connection(("127.0.0.1", port), timeout=10)
    held.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    assert a.got_request.wait(10)
    thread = router._thread
    router.stop()
    assert thread is not None and not thread.is_alive()
    assert held.recv(1024) == b""
    held.close()
    with pytest.raises(ConnectionRefusedError):
        http_get(port)
    router.stop()  # idempotent


def test_observed_requests_are_reported_and_other_bytes_pass_untouched(
    backends: dict[str, FakeBackend],
) -> None:
    seen: list[tuple[str, str, str, int]] = []
    instances: list[str] = []

    def record(sid: str, r: ObservedRequest) -> None:
        seen.append((sid, r.method, r.path, r.status))
        instances.append(r.instance)

    with Router(on_request=record) as router:
        port = router.add_route("srv-obs")
        web = add(backends, "web").address
        router.set_backends("srv-obs", [web], {web: "srv-obs-ab12c"})
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /p?token=x HTTP/1.1\r\nHost: test\r\n\r\n")
            assert read_response(sock) == (200, "web")
        assert wait_until(lambda: seen == [("srv-obs", "GET", "/p", 200)])
        assert instances == ["srv-obs-ab12c"]  # the instance behind the backend that answered
        router.set_backends("srv-obs", [add(backends, "echo", "echo").address])
        tls_hello = b"\x16\x03\x01\x00\x05hello"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(tls_hello)
            sock.shutdown(socket.SHUT_WR)
            assert sock.makefile("rb").read() == tls_hello
        assert seen == [("srv-obs", "GET", "/p", 200)]
