"""The router in front of real containers: a switch from container A to container B under
continuous traffic loses no request, old connections drain before A stops, 503 without
backends, round-robin over two containers."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from devkit.serve import wait_for
from imagedeploy.adapters.local.router import Router

if TYPE_CHECKING:
    from devkit.containers import Containers
    from devkit.images import StandardImages
    from devkit.registry import RunningRegistry

pytestmark = pytest.mark.e2e


def fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as response:
        return str(response.read().decode()).strip()


@pytest.fixture
def router() -> Iterator[Router]:
    with Router() as started:
        yield started


@pytest.fixture
def two_webs(
    containers: Containers, test_images: StandardImages, anon_registry: RunningRegistry
) -> tuple[tuple[str, int, str], tuple[str, int, str]]:
    """(container id, host port, text) of web_v1 (A) and web_v2 (B)."""
    a, b = test_images.demo.web_v1, test_images.demo.web_v2
    a_id, a_port = containers.web(a.pinned_on(anon_registry.host))
    b_id, b_port = containers.web(b.pinned_on(anon_registry.host))
    return (a_id, a_port, a.text), (b_id, b_port, b.text)


def test_switch_under_traffic_loses_no_request(
    router: Router,
    containers: Containers,
    two_webs: tuple[tuple[str, int, str], tuple[str, int, str]],
) -> None:
    (a_id, a_port, a_text), (_, b_port, b_text) = two_webs
    port = router.add_route("srv-e2e")
    router.set_backends("srv-e2e", [("127.0.0.1", a_port)])

    # (did the request start after the switch?, answer): an answer to a request that started
    # before the switch may be recorded after it, so order of recording proves nothing
    results: list[tuple[bool, str | Exception]] = []
    lock = threading.Lock()
    stop = threading.Event()
    switched = threading.Event()

    def client() -> None:
        while not stop.is_set():
            after = switched.is_set()
            try:
                answer: str | Exception = fetch(port)
            except Exception as exc:  # every failure counts
                answer = exc
            with lock:
                results.append((after, answer))

    clients = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        wait_for(lambda: len(results) >= 40, 30, "40 answers from A", interval=0.01)
        router.set_backends("srv-e2e", [("127.0.0.1", b_port)])
        switched.set()
        assert router.drain("srv-e2e", [("127.0.0.1", a_port)], timeout=30)
        containers.engine.stop(a_id, 1)  # A is gone from here on
        wait_for(
            lambda: sum(after for after, _ in results) >= 40,
            30,
            "40 answers after the switch",
            interval=0.01,
        )
    finally:
        stop.set()
        for thread in clients:
            thread.join(30)

    failures = [r for _, r in results if isinstance(r, Exception)]
    assert failures == []
    before = [r for after, r in results if not after]
    assert set(before) <= {a_text, b_text}
    assert a_text in before
    assert {r for after, r in results if after} == {b_text}


def test_no_backend_answers_503(router: Router) -> None:
    port = router.add_route("srv-empty")
    with pytest.raises(urllib.error.HTTPError) as caught:
        fetch(port)
    assert caught.value.code == 503
    assert b"no running instance" in caught.value.read()


def test_round_robin_over_two_containers(
    router: Router, two_webs: tuple[tuple[str, int, str], tuple[str, int, str]]
) -> None:
    (_, a_port, a_text), (_, b_port, b_text) = two_webs
    port = router.add_route("srv-rr")
    router.set_backends("srv-rr", [("127.0.0.1", a_port), ("127.0.0.1", b_port)])
    answers = [fetch(port) for _ in range(6)]
    assert answers in ([a_text, b_text] * 3, [b_text, a_text] * 3)
