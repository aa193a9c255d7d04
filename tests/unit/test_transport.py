"""Retry, budget, redirect and credential rules of RegistryHttp, driven by an in-memory HTTP fake
and a fake clock (the fault-proxy integration tests prove the same against a real registry;
where it may connect is tested in tests/unit/test_egress.py and tests/integration/test_egress.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.net.egress import Home, registry_egress
from imagedeploy.net.retry_after import retry_after_seconds
from imagedeploy.registry.transport import RegistryHttp
from imagedeploy.settings import Settings

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


def make_http(
    responses: Iterator[httpx.Response | Exception] | Callable[[httpx.Request], httpx.Response],
    clock: FakeClock,
    *,
    attempts: int = 5,
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
        egress=registry_egress(Settings(), Home.AWS),
        max_attempts=attempts,
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
    assert exc.value.message.startswith("could not reach a registry at registry.example.com;")
    assert "ConnectError" not in exc.value.message  # which failure it was is a port oracle
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
    ("location", "keeps"),
    [
        ("https://registry.example.com/v2/app/blobs/b", True),
        ("https://registry.example.com:443/v2/app/blobs/b", True),  # the default port
        ("http://registry.example.com/v2/app/blobs/b", False),  # same host, plain http
        ("https://registry.example.com:8443/v2/app/blobs/b", False),  # another port
        ("https://blobs.example.net/b", False),
    ],
)
def test_authorization_follows_a_redirect_only_to_the_same_origin(
    location: str, keeps: bool
) -> None:
    seen: list[httpx.Request] = []

    def route(request: httpx.Request) -> httpx.Response:
        if len(seen) == 1:
            return httpx.Response(307, headers={"Location": location})
        return httpx.Response(200, content=b"blob")

    http = make_http(route, FakeClock(), seen=seen)
    reply = http.send("GET", URL, budget=http.budget(30), headers={"Authorization": "Bearer t"})
    assert reply.body == b"blob"
    assert ("authorization" in seen[1].headers) is keeps


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://auth.example.com/token", False),
        ("http://10.0.0.5:5001/token", False),
        ("http://127.0.0.1:5001/token", True),
        ("http://localhost:5001/token", True),
        ("https://auth.example.com/token", True),
    ],
)
def test_credentials_travel_over_https_or_to_loopback_only(url: str, allowed: bool) -> None:
    seen: list[httpx.Request] = []
    http = make_http(lambda r: httpx.Response(200), FakeClock(), seen=seen)
    send = lambda: http.send(  # noqa: E731
        "GET", url, budget=http.budget(30), headers={"Authorization": "Basic czNjcjN0"}
    )
    if allowed:
        assert send().status == 200
        return
    with pytest.raises(ImagePullError) as exc:
        send()
    assert exc.value.reason is PullFailureReason.BLOCKED_HOST
    assert "only over https://" in exc.value.message
    assert seen == []  # nothing sent
    # Without credentials the same URL may be read (an anonymous token realm).
    assert http.send("GET", url, budget=http.budget(30)).status == 200


def test_body_cap() -> None:
    http = make_http(lambda r: httpx.Response(200, content=b"x" * 2000), FakeClock())
    with pytest.raises(ImagePullError) as exc:
        http.send("GET", URL, budget=http.budget(30), max_body=1000, what="manifest")
    assert exc.value.reason is PullFailureReason.UNSUPPORTED_MANIFEST
    assert "larger than 1,000 bytes" in exc.value.message


def test_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now) == 0.0  # in the past
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds("٣", now) is None  # a non-ASCII digit is not a number of seconds
