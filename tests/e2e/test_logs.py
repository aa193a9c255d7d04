"""Logs end to end: real containers under ``imagedeploy serve``, their output collected from
the engine and read back through ``GET /v1/logs`` and ``GET /v1/logs/subscribe`` (SSE)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import Platform, running_platform, wait_for

pytestmark = pytest.mark.e2e

SECRET = "hunter2-e2e-" + uuid.uuid4().hex[:8]
WEB = (
    '/bin/sh -c \'echo "started $RENDER_INSTANCE_ID"; echo "password is $DB_PASSWORD"; '
    "exec /bin/busybox httpd -f -vv -p $PORT -h /www'"
)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("serve")) as started:
        yield started


@pytest.fixture(scope="module")
def web(platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages) -> str:
    created = platform.create_service(
        "web_service",
        "logged-web",
        test_images.demo.web_v1.ref_on(anon_registry.host),
        envSpecificDetails={"dockerCommand": WEB},
    )
    service_id: str = created["service"]["id"]
    http = platform.http
    http.put(f"/v1/services/{service_id}/env-vars/DB_PASSWORD", json={"value": SECRET})
    deploy = http.post(f"/v1/services/{service_id}/deploys", json={})
    assert deploy.status_code in (201, 202), deploy.text
    assert platform.wait_deploy(service_id, created["deployId"]) in ("live", "deactivated")
    newest = http.get(f"/v1/services/{service_id}/deploys", params={"limit": 1}).json()
    assert platform.wait_deploy(service_id, newest[0]["deploy"]["id"]) == "live"
    return service_id


def logs(platform: Platform, service_id: str, **params: Any) -> dict[str, Any]:
    reply = platform.http.get(
        "/v1/logs", params={"ownerId": platform.owner_id, "resource": service_id, **params}
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def found(platform: Platform, service_id: str, text: str, **params: Any) -> list[dict[str, Any]]:
    def lines() -> list[dict[str, Any]]:
        return list(logs(platform, service_id, text=text, limit=100, **params)["logs"])

    result: list[dict[str, Any]] = wait_for(lines, 60, f"a line with {text!r}")
    return result


def label(entry: dict[str, Any], name: str) -> str:
    return str(next(x["value"] for x in entry["labels"] if x["name"] == name))


def test_a_request_line_is_found_by_text_with_its_instance(platform: Platform, web: str) -> None:
    marker = f"marker-{uuid.uuid4().hex[:10]}"
    assert httpx.get(f"{platform.url_of(web)}/{marker}", timeout=10).status_code == 404
    [entry] = found(platform, web, marker, type="app")
    assert marker in entry["message"]
    started = found(platform, web, "started ")[0]  # the line names the instance it came from
    instance = started["message"].removeprefix("started ")
    assert label(entry, "instance") == instance == label(started, "instance")
    assert label(entry, "resource") == web and label(entry, "type") == "app"
    values = platform.http.get(
        "/v1/logs/values",
        params={"ownerId": platform.owner_id, "resource": web, "label": "instance"},
    )
    assert instance in values.json()


def test_the_router_writes_request_lines_and_http_metrics(platform: Platform, web: str) -> None:
    marker = f"req-{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=platform.url_of(web), timeout=10) as client:
        assert client.get(f"/{marker}", params={"token": SECRET}).status_code == 404
        assert client.head(f"/{marker}/head").status_code == 404

    def request_lines() -> list[dict[str, Any]] | None:
        lines: list[dict[str, Any]] = logs(platform, web, text=marker, type="request")["logs"]
        return lines if len(lines) == 2 else None

    entries: list[dict[str, Any]] = wait_for(request_lines, 60, "two request lines")
    seen = {(label(e, "method"), label(e, "path"), label(e, "statusCode")) for e in entries}
    assert seen == {("GET", f"/{marker}", "404"), ("HEAD", f"/{marker}/head", "404")}
    assert all(label(e, "type") == "request" and label(e, "host") for e in entries)
    started = found(platform, web, "started ")[0]  # the instance's own line names it
    instance = started["message"].removeprefix("started ")
    assert {label(e, "instance") for e in entries} == {instance}  # the one that answered
    assert SECRET not in json.dumps(entries)  # the query string is not kept
    query = {"resource": web, "resolutionSeconds": "30"}

    def series(metric: str) -> list[dict[str, Any]] | None:
        reply = platform.http.get(f"/v1/metrics/{metric}", params=query)
        assert reply.status_code == 200, reply.text
        answer: list[dict[str, Any]] = reply.json()
        return answer if answer and answer[0]["values"] else None

    (requests,) = wait_for(lambda: series("http-requests"), 30, "http-requests")
    assert requests["unit"] == "requests"
    assert sum(v["value"] for v in requests["values"]) >= 2
    (latency,) = wait_for(lambda: series("http-latency"), 30, "http-latency")
    assert latency["unit"] == "ms" and latency["values"][-1]["value"] >= 0


def test_a_secret_env_value_printed_is_masked(platform: Platform, web: str) -> None:
    [entry, *_] = found(platform, web, "password is")
    assert entry["message"] == "password is ********"
    everything = json.dumps(logs(platform, web, limit=100))
    assert SECRET not in everything
    stored = (platform.serve.data_dir / "logs.sqlite").read_bytes()
    assert SECRET.encode() not in stored  # masked before it was stored


def test_subscribe_streams_a_new_line(platform: Platform, web: str) -> None:
    marker = f"live-{uuid.uuid4().hex[:10]}"
    received: list[str] = []
    opened = threading.Event()

    def listen() -> None:
        params = {"ownerId": platform.owner_id, "resource": web, "text": marker}
        with platform.http.stream("GET", "/v1/logs/subscribe", params=params, timeout=60) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                opened.set()
                if line.startswith("data: "):
                    received.append(json.loads(line.removeprefix("data: "))["message"])
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(30), "the subscription did not open"
    httpx.get(f"{platform.url_of(web)}/{marker}", timeout=10)
    listener.join(60)
    assert received and marker in received[0], received


def test_a_cron_runs_output_carries_its_run_id(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    marker = f"cron-{uuid.uuid4().hex[:10]}"
    service_id = platform.live_service(
        "cron_job",
        "logged-cron",
        test_images.demo.web_v1.ref_on(anon_registry.host),
        schedule="0 3 1 1 *",
        envSpecificDetails={"dockerCommand": f"/bin/sh -c 'sleep 1; echo {marker}; sleep 1'"},
    )
    run = platform.http.post(f"/v1/cron-jobs/{service_id}/runs")
    assert run.status_code == 200, run.text
    [entry] = found(platform, service_id, marker)
    assert label(entry, "instance") == run.json()["id"]


def test_a_one_off_jobs_output_carries_its_job_id(platform: Platform, web: str) -> None:
    marker = f"job-{uuid.uuid4().hex[:10]}"
    started = platform.http.post(
        f"/v1/services/{web}/jobs", json={"startCommand": f"/bin/sh -c 'sleep 1; echo {marker}'"}
    )
    assert started.status_code in (200, 201, 202), started.text
    [entry] = found(platform, web, marker)
    assert label(entry, "instance") == started.json()["id"]


def test_serve_stops_cleanly_with_a_subscription_open(
    tmp_path: Path, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    """SIGINT with a stream open: the stream ends (the client sees its end, not a reset) and
    serve exits 0 with no traceback (the HTTP server closed while a stream still wrote)."""
    with running_platform(tmp_path / "serve") as platform:
        worker = platform.live_service(
            "background_worker", "quiet", test_images.demo.web_v1.ref_on(anon_registry.host)
        )
        params = {"ownerId": platform.owner_id, "resource": worker}
        ended: list[str] = []
        with platform.http.stream("GET", "/v1/logs/subscribe", params=params) as stream:
            lines = stream.iter_lines()
            assert next(lines) == ": subscribed"
            platform.serve.stop()
            ended.extend(lines)  # a clean end of the stream; a reset would raise here
        assert platform.serve.process.returncode == 0
        log = platform.serve.logs()
        assert "Traceback" not in log and "Exception" not in log, log[-3000:]
