"""The router's HTTP/1.x head observer: keep-alive, Content-Length and chunked bodies skipped,
bytes split anywhere, interim answers, and passthrough (nothing reported) for TLS, HTTP/2,
garbage and after a protocol switch."""

from __future__ import annotations

import itertools

import pytest

from imagedeploy.adapters.local.http_observer import HttpObserver, ObservedRequest, path_of

pytestmark = pytest.mark.unit


class Wire:
    def __init__(self) -> None:
        self.seen: list[ObservedRequest] = []
        ticks = itertools.count()
        self.observer = HttpObserver(
            self.seen.append, wall=lambda: 1000.0, monotonic=lambda: float(next(ticks))
        )

    def client(self, data: bytes, step: int = 0) -> None:
        for part in _split(data, step):
            self.observer.client_data(part)

    def backend(self, data: bytes, step: int = 0) -> None:
        for part in _split(data, step):
            self.observer.backend_data(part)

    def summary(self) -> list[tuple[str, str, str, int]]:
        return [(r.method, r.path, r.host, r.status) for r in self.seen]


def _split(data: bytes, step: int) -> list[bytes]:
    if not step:
        return [data]
    return [data[i : i + step] for i in range(0, len(data), step)]


POST = (
    b"POST /upload?token=s3cret HTTP/1.1\r\nHost: a.test\r\nContent-Length: 11\r\n\r\nhello world"
)
CHUNKED_POST = (
    b"POST /chunks HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
)
GET = b"GET /next HTTP/1.1\r\nHost: a.test\r\n\r\n"
OK_LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/"  # body looks like a head
CREATED_CHUNKED = (
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\na\r\nHTTP/1.1 5\r\n0\r\n\r\n"
)
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize("step", [0, 1, 3, 7])
def test_keep_alive_requests_are_each_reported_whatever_the_split(step: int) -> None:
    wire = Wire()
    wire.client(POST + CHUNKED_POST + GET, step)
    wire.backend(OK_LENGTH + CREATED_CHUNKED + NOT_FOUND, step)
    assert wire.summary() == [
        ("POST", "/upload", "a.test", 200),
        ("POST", "/chunks", "a.test", 201),
        ("GET", "/next", "a.test", 404),
    ]
    assert all(r.duration_ms > 0 and r.at == 1000.0 for r in wire.seen)


def test_interleaved_request_and_answer_and_interim_continue() -> None:
    wire = Wire()
    wire.client(b"PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    wire.backend(b"HTTP/1.1 100 Continue\r\n\r\n")
    wire.client(b"abc")
    wire.backend(b"HTTP/1.1 204 No Content\r\n\r\n")
    wire.client(b"HEAD /y HTTP/1.1\r\n\r\n")
    wire.backend(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")  # HEAD: no body follows
    wire.client(GET)
    wire.backend(NOT_FOUND)
    assert wire.summary() == [
        ("PUT", "/x", "h", 204),
        ("HEAD", "/y", "", 200),
        ("GET", "/next", "a.test", 404),
    ]


@pytest.mark.parametrize(
    "opening",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # TLS ClientHello
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # the HTTP/2 preface
        b"hello there\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 20000,  # a head too large
    ],
)
def test_not_http1_is_passed_through_unobserved(opening: bytes) -> None:
    wire = Wire()
    wire.client(opening)
    wire.backend(NOT_FOUND)
    wire.client(GET)
    wire.backend(NOT_FOUND)
    assert wire.seen == []
    assert not wire.observer.active


def test_after_an_upgrade_nothing_more_is_parsed() -> None:
    wire = Wire()
    wire.client(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    wire.backend(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
    wire.client(b"\x81\x05GET / HTTP/1.1\r\n\r\n")
    wire.backend(b"HTTP/1.1 200 OK\r\n\r\n")
    assert wire.summary() == [("GET", "/ws", "h", 101)]
    assert not wire.observer.active


def test_an_answer_delimited_by_close_ends_observation() -> None:
    wire = Wire()
    wire.client(GET + GET)
    wire.backend(b"HTTP/1.0 200 OK\r\n\r\nbody until close HTTP/1.1 500 x\r\n\r\n")
    assert wire.summary() == [("GET", "/next", "a.test", 200)]


def test_bad_chunk_size_stops_quietly() -> None:
    wire = Wire()
    wire.client(GET + GET)
    wire.backend(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    wire.backend(NOT_FOUND)
    assert wire.summary() == [("GET", "/next", "a.test", 200)]


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/a/b?token=secret", "/a/b"),
        ("/a#frag", "/a"),
        ("http://host.test/p?q=1", "/p"),
        ("*", "*"),
    ],
)
def test_the_path_is_kept_without_the_query_string(target: str, path: str) -> None:
    assert path_of(target) == path
