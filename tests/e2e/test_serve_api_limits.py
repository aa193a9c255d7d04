"""``imagedeploy serve`` under the two cheap attacks of issue 8 (findings 2 and 3), against the
real process over loopback:

- a registry that accepts connections and never answers (a tarpit) stalls only the requests
  that wait on it, each for at most ``request_registry_budget_seconds``, then a 503: other
  calls and deploy hooks are answered while those requests are still waiting;
- request bodies are limited before they are read: a large body without valid credentials is
  refused from its head (nothing of it is read), and one over the API's limit is a 413.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devkit.serve import Platform, running_platform
from devkit.sockets import UNREACHABLE_IMAGE, Tarpit, head_only, stream_until_answered
from imagedeploy.api.app import SMALL_BODY
from imagedeploy.api.wsgi import MAX_BODY

pytestmark = pytest.mark.e2e

BUDGET_SECONDS = 15  # long enough that "answered while the verify waits" cannot be luck
HUNDREDS_OF_MB = 300 * 1024 * 1024


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(
        tmp_path_factory.mktemp("serve"),
        extra_env={"IMAGEDEPLOY_REQUEST_REGISTRY_BUDGET_SECONDS": str(BUDGET_SECONDS)},
    ) as started:
        yield started


class InFlight:
    """A request sent from its own thread; ``done`` tells whether its answer has come."""

    def __init__(self, client: httpx.Client, method: str, path: str, body: Any) -> None:
        self.reply: httpx.Response | None = None
        self.done = threading.Event()

        def send() -> None:
            try:
                self.reply = client.request(method, path, json=body, timeout=120)
            finally:
                self.done.set()

        threading.Thread(target=send, daemon=True).start()

    def result(self) -> httpx.Response:
        assert self.done.wait(120), "no answer within two minutes"
        assert self.reply is not None
        return self.reply


def test_a_tarpit_registry_stalls_no_other_request(platform: Platform) -> None:
    created = platform.create_service("web_service", "tarpit-victim", UNREACHABLE_IMAGE)
    service_id, hook_url = created["service"]["id"], created["deployHookUrl"]
    with Tarpit() as tarpit:
        image = f"{tarpit.host}/stuck/image:1"
        verify = InFlight(platform.http, "POST", "/v1/images/verify", {"imageUrl": image})
        patch = InFlight(
            platform.http,
            "PATCH",
            f"/v1/services/{service_id}",
            {"image": {"ownerId": platform.owner_id, "imagePath": image}},
        )
        tarpit.wait_for_connections(2)  # both requests are now waiting on the registry

        owners = platform.http.get("/v1/owners")
        hook = httpx.post(hook_url, timeout=60)
        listed = platform.http.get("/v1/services", params={"limit": 5})
        assert not verify.done.is_set() and not patch.done.is_set(), (
            "the other calls were answered only after the registry calls gave up"
        )
        assert owners.status_code == 200 and owners.json()[0]["owner"]["id"] == platform.owner_id
        assert hook.status_code == 200, hook.text
        assert hook.json()["deploy"]["id"].startswith("dep-")
        assert listed.status_code == 200

        for reply in (verify.result(), patch.result()):
            assert reply.status_code == 503, reply.text
            assert reply.json()["id"] == "image_pull_failed"
            assert "registry_unavailable" in reply.json()["message"]
            assert int(reply.headers["retry-after"]) > 0
    service = platform.http.get(f"/v1/services/{service_id}").json()
    assert service["imagePath"] == UNREACHABLE_IMAGE  # the refused change changed nothing


def test_an_unauthenticated_huge_body_is_refused_before_it_is_read(platform: Platform) -> None:
    announced = head_only(
        platform.serve.url,
        "POST",
        "/v1/services",
        {"Content-Type": "application/json", "Content-Length": str(HUNDREDS_OF_MB)},
    )
    assert announced.status == 401, announced
    assert b'"unauthorized"' in announced.body and announced.headers["www-authenticate"]

    streamed = stream_until_answered(
        platform.serve.url,
        "POST",
        "/v1/services",
        {"Content-Type": "application/json", "Authorization": "Bearer rnd_not_a_key"},
        total=HUNDREDS_OF_MB,
    )
    assert streamed.status == 401, streamed
    # what the socket buffers held when the answer came, not 300 MB
    assert streamed.body_bytes_sent < 32 * 1024 * 1024, streamed.body_bytes_sent

    hook = head_only(
        platform.serve.url,
        "POST",
        "/deploy/srv-aaaaaaaaaaaaaaaaaaaa?key=wrong",
        {"Content-Type": "application/json", "Content-Length": str(HUNDREDS_OF_MB)},
    )
    assert hook.status == 404 and b"no deploy hook matches" in hook.body


def test_an_authenticated_body_over_the_limit_is_413_with_a_clear_message(
    platform: Platform,
) -> None:
    auth = {"Authorization": f"Bearer {platform.serve.api_key}", "Content-Type": "application/json"}
    announced = head_only(
        platform.serve.url,
        "POST",
        "/v1/services",
        {**auth, "Content-Length": str(MAX_BODY + 1)},
    )
    assert announced.status == 413, announced
    assert b'"payload_too_large"' in announced.body
    assert f"{MAX_BODY:,} bytes".encode() in announced.body

    streamed = stream_until_answered(
        platform.serve.url, "POST", "/v1/services", auth, total=HUNDREDS_OF_MB
    )
    assert streamed.status == 413, streamed
    assert streamed.body_bytes_sent < MAX_BODY + 32 * 1024 * 1024


def test_large_bodies_with_credentials_are_read(platform: Platform) -> None:
    padding = "x" * (SMALL_BODY * 4)
    body = {"type": "web_service", "name": "big", "ownerId": platform.owner_id, "pad": padding}
    reply = platform.http.post("/v1/services", json=body)
    assert reply.status_code == 400 and reply.json()["id"] == "invalid_input"  # read, validated
    small = httpx.post(f"{platform.serve.url}/v1/services", json={"name": "x"}, timeout=30)
    assert small.status_code == 401  # a small body is read, then refused as before
