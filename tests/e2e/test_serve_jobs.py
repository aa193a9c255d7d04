"""Issue 11 (local): a web service's instances are listed and changed by a restart; one-off jobs
run in the service's live image with its env vars as they are now, end ``succeeded`` or
``failed`` with their exit code, and a canceled job's container is stopped and removed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import Platform, containers_of, running_platform, wait_for

pytestmark = pytest.mark.e2e

ENDED = {"succeeded", "failed", "canceled"}


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with running_platform(tmp_path / "serve") as started:
        yield started


def _job(platform: Platform, service_id: str, command: str) -> dict[str, Any]:
    reply = platform.http.post(f"/v1/services/{service_id}/jobs", json={"startCommand": command})
    assert reply.status_code == 201, reply.text
    job: dict[str, Any] = reply.json()
    return job


def _ended(platform: Platform, service_id: str, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = platform.http.get(f"/v1/services/{service_id}/jobs/{job_id}").json()
        return body if body["status"] in ENDED else None

    found: dict[str, Any] = wait_for(done, 90, f"job {job_id} to end")
    return found


def test_instances_jobs_and_cancel(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    http = platform.http
    image = test_images.demo.web_v1.ref_on(anon_registry.host)
    service_id = platform.live_service("web_service", "jobs", image)

    # instances: one, named like its RENDER_INSTANCE_ID; a restart replaces it
    (first,) = http.get(f"/v1/services/{service_id}/instances").json()
    assert first["id"].startswith(f"{service_id}-") and first["createdAt"].endswith("Z")
    assert http.post(f"/v1/services/{service_id}/restart").status_code == 200

    def replaced() -> list[dict[str, Any]] | None:
        now: list[dict[str, Any]] = http.get(f"/v1/services/{service_id}/instances").json()
        return now if len(now) == 1 and now[0]["id"] != first["id"] else None

    (second,) = wait_for(replaced, 90, "the restart to replace the instance")
    assert second["createdAt"] >= first["createdAt"]

    # a job sees the env vars as they are now (set after the deploy)
    put = http.put(f"/v1/services/{service_id}/env-vars/GREETING", json={"value": "hello"})
    assert put.status_code == 200, put.text
    good = _job(platform, service_id, "/bin/sh -c 'test \"$GREETING\" = hello'")
    bad = _job(platform, service_id, "/bin/sh -c 'exit 3'")
    ended = _ended(platform, service_id, good["id"])
    assert (ended["status"], ended["exitCode"]) == ("succeeded", 0), ended
    assert ended["startedAt"] <= ended["finishedAt"]
    failed = _ended(platform, service_id, bad["id"])
    assert (failed["status"], failed["exitCode"]) == ("failed", 3), failed

    # cancel: the job's container is stopped and removed
    slow = _job(platform, service_id, "/bin/sh -c 'sleep 600'")
    wait_for(lambda: containers_of(service_id, "job"), 60, "the job's container")
    reply = http.post(f"/v1/services/{service_id}/jobs/{slow['id']}/cancel")
    assert reply.status_code == 200 and reply.json()["status"] == "canceled", reply.text
    wait_for(
        lambda: not containers_of(service_id, "job", stopped=True), 60, "the job's container to go"
    )
    assert _ended(platform, service_id, slow["id"])["status"] == "canceled"
    listed = http.get(f"/v1/services/{service_id}/jobs", params={"status": "failed"}).json()
    assert [item["job"]["id"] for item in listed] == [bad["id"]]
    # the web service kept serving throughout
    assert len(http.get(f"/v1/services/{service_id}/instances").json()) == 1


def test_a_job_running_when_serve_stops_is_adopted_by_the_next_serve(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    service_id = platform.live_service(
        "background_worker",
        "adopt",
        test_images.demo.web_v1.ref_on(anon_registry.host),
        envSpecificDetails={"dockerCommand": "/bin/sh -c 'sleep 600'"},
    )
    job = _job(platform, service_id, "/bin/sh -c 'sleep 10; exit 5'")
    wait_for(lambda: containers_of(service_id, "job"), 60, "the job's container")
    platform.serve.stop()
    assert containers_of(service_id, "job"), "the job's container keeps running"

    platform.restart()
    ended = _ended(platform, service_id, job["id"])
    assert (ended["status"], ended["exitCode"]) == ("failed", 5), ended
