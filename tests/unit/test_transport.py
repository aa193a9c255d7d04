"""Retry, budget, redirect and SSRF rules of RegistryHttp, driven by an in-memory HTTP fake and a
fake clock (the fault-proxy integration tests prove the same against a real registry)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import httpx
import pytest

from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.registry.transport import RegistryHttp, _retry_after
from imagedeploy.settings import LOOPBACK_NETWORKS

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def public_resolver(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]


def make_http(
    responses: Iterator[httpx.Response | Exception] | Callable[[httpx.Request], httpx.Response],
    clock: FakeClock,
    *,
    attempts: int = 5,
    resolver: Callable[..., list[tuple[object, ...]]] = public_resolver,
    seen: list[httpx.Request] | None = None,
) -> RegistryHttp:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if callable(responses):
            return responses(request)
        item = next(responses)
        if isinstance(item, Exception):
            raise item
        return item

    client = httpx.Client(transport=httpx.MockTransport(handler), timeout=5)
    return RegistryHttp(
        client,
        allowed_networks=(),
        max_attempts=attempts,
        resolver=resolver,
        sleep=clock.sleep,
        clock=clock,
        jitter=lambda: 1.0,  # deterministic: always the full backoff
    )


URL = "https://registry.example.com/v2/app/manifests/1"


def test_retries_5xx_with_exponential_backoff_then_succeeds() -> None:
    clock = FakeClock()
    http = make_http(
        iter([httpx.Response(503), httpx.Response(502), httpx.Response(200, content=b"ok")]),
        clock,
    )
    reply = http.send("GET", URL, budget=http.budget(30))
    assert reply.status == 200 and reply.body == b"ok"
    assert clock.sleeps == [0.25, 0.5]


def test_honours_retry_after() -> None:
    clock = FakeClock()
    http = make_http(
        iter([httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200)]), clock
    )
    assert http.send("GET", URL, budget=http.budget(30)).status == 200
    assert clock.sleeps == [3.0]


def test_retry_after_beyond_budget_fails_rate_limited_at_once() -> None:
    clock = FakeClock()
    http = make_http(iter([httpx.Response(429, headers={"Retry-After": "120"})]), clock)
    with pytest.raises(ImagePullError) as exc:
        http.send("GET", URL, budget=http.budget(30))
    assert exc.value.reason is PullFailureReason.RATE_LIMITED
    assert "retry after 120 s" in exc.value.message
    assert clock.sleeps == []


def test_connection_errors_exhaust_attempts_as_unavailable() -> None:
    clock = FakeClock()
    http = make_http(lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")), clock)
    with pytest.raises(ImagePullError) as exc:
        http.send("GET", URL, budget=http.budget(60), headers={"Authorization": "Bearer s3cr3t"})
    assert exc.value.reason is PullFailureReason.REGISTRY_UNAVAILABLE
    assert "5 attempt(s)" in exc.value.message
    assert "s3cr3t" not in exc.value.message
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0]


def test_budget_bounds_total_time() -> None:
    clock = FakeClock()
    http = make_http(lambda r: httpx.Response(503), clock, attempts=100)
    with pytest.raises(ImagePullError) as exc:
        http.send("GET", URL, budget=http.budget(5))
    assert exc.value.reason is PullFailureReason.REGISTRY_UNAVAILABLE
    assert sum(clock.sleeps) <= 5


def test_4xx_is_not_retried() -> None:
    clock = FakeClock()
    seen: list[httpx.Request] = []
    http = make_http(lambda r: httpx.Response(404), clock, seen=seen)
    assert http.send("GET", URL, budget=http.budget(30)).status == 404
    assert len(seen) == 1


def test_redirect_to_another_host_drops_authorization() -> None:
    seen: list[httpx.Request] = []

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "registry.example.com":
            return httpx.Response(307, headers={"Location": "https://blobs.example.net/b?sig=1"})
        return httpx.Response(200, content=b"blob")

    http = make_http(route, FakeClock(), seen=seen)
    reply = http.send("GET", URL, budget=http.budget(30), headers={"Authorization": "Bearer t"})
    assert reply.body == b"blob"
    assert seen[0].headers.get("authorization") == "Bearer t"
    assert "authorization" not in seen[1].headers


def test_redirect_loop_is_bounded() -> None:
    http = make_http(lambda r: httpx.Response(302, headers={"Location": "/again"}), FakeClock())
    with pytest.raises(ImagePullError) as exc:
        http.send("GET", URL, budget=http.budget(30))
    assert "redirected more than" in exc.value.message


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "::ffff:169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
    ],
)
def test_ssrf_guard_refuses_non_public_addresses(address: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def resolver(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    seen: list[httpx.Request] = []
    http = make_http(lambda r: httpx.Response(200), FakeClock(), resolver=resolver, seen=seen)
    with pytest.raises(ImagePullError) as exc:
        http.send("GET", URL, budget=http.budget(30))
    assert exc.value.reason is PullFailureReason.BLOCKED_HOST
    assert seen == []  # refused before any connection


def test_ssrf_guard_checks_ip_literals_and_redirect_targets() -> None:
    seen: list[httpx.Request] = []
    http = make_http(
        lambda r: httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/"}),
        FakeClock(),
        seen=seen,
    )
    with pytest.raises(ImagePullError) as exc:
        http.send("GET", URL, budget=http.budget(30))
    assert exc.value.reason is PullFailureReason.BLOCKED_HOST
    assert len(seen) == 1


def test_allowed_networks_open_loopback_only() -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    http = RegistryHttp(client, allowed_networks=LOOPBACK_NETWORKS, max_attempts=1)
    http.check_host("http://127.0.0.1:5000/v2/")
    with pytest.raises(ImagePullError):
        http.check_host("http://169.254.169.254/")


def test_unresolvable_host_is_unavailable() -> None:
    def resolver(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        raise socket.gaierror("no such host")

    http = make_http(lambda r: httpx.Response(200), FakeClock(), resolver=resolver)
    with pytest.raises(ImagePullError) as exc:
        http.send("GET", URL, budget=http.budget(30))
    assert exc.value.reason is PullFailureReason.REGISTRY_UNAVAILABLE
    assert "cannot resolve" in exc.value.message


def test_body_cap() -> None:
    http = make_http(lambda r: httpx.Response(200, content=b"x" * 2000), FakeClock())
    with pytest.raises(ImagePullError) as exc:
        http.send("GET", URL, budget=http.budget(30), max_body=1000, what="manifest")
    assert exc.value.reason is PullFailureReason.UNSUPPORTED_MANIFEST
    assert "larger than 1,000 bytes" in exc.value.message


def test_retry_after_forms() -> None:
    assert _retry_after("7") == 7.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert _retry_after("soon") is None
    assert _retry_after("٣") is None  # a non-ASCII digit is not a number of seconds
