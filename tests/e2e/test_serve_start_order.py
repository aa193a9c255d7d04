"""Issue 13: ``serve`` answers its API before the resume of a restart, and what requests do
during the resume is queued, not lost nor undone by the resume; the doctor's engine checks run
after the API is up and their failures are still logged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import containers_of, remove_containers, running_serve, wait_for
from imagedeploy.adapters.local.sqlite_store import SqliteStore
from imagedeploy.domain.services import Service
from imagedeploy.embedded import Embedded, build
from imagedeploy.ports import Page
from imagedeploy.settings import Settings

pytestmark = pytest.mark.e2e


class HookedListing(SqliteStore):
    """The store the resume lists services from: calls ``hook`` once, after the first page
    (the resume has read the old state; the requests of ``hook`` change it)."""

    def __init__(self, path: Path, hook: Callable[[], None]) -> None:
        super().__init__(path)
        self._hook: Callable[[], None] | None = hook

    def list_services(self, *args: Any, **kwargs: Any) -> Page[Service]:
        page = super().list_services(*args, **kwargs)
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()
        return page


def _client(platform: Embedded, api_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=platform.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )


def _wait_live(http: httpx.Client, service_id: str, deploy_id: str) -> None:
    def status() -> str | None:
        found = http.get(f"/v1/services/{service_id}/deploys/{deploy_id}").json()["status"]
        return str(found) if found in ("live", "update_failed", "canceled") else None

    assert wait_for(status, 120, f"deploy {deploy_id}") == "live"


def test_requests_during_the_resume_are_answered_queued_and_not_undone(
    tmp_path: Path,
    engine_socket: str,
    anon_registry: RunningRegistry,
    test_images: StandardImages,
) -> None:
    settings = Settings(container_engine_socket=engine_socket)
    data = tmp_path / "serve"
    data.mkdir(mode=0o700)
    image = test_images.demo.web_v1.ref_on(anon_registry.host)
    first = build(settings, data, port=0).start()
    assert first.api_key is not None
    api_key = first.api_key
    created: set[str] = set()
    try:
        with _client(first, api_key) as http:
            owner_id = http.get("/v1/owners").json()[0]["owner"]["id"]

            def create(type_: str, name: str, **details: Any) -> tuple[str, str]:
                body = {
                    "type": type_,
                    "name": name,
                    "ownerId": owner_id,
                    "image": {"ownerId": owner_id, "imagePath": image},
                    "serviceDetails": {"runtime": "image", **details},
                }
                reply = http.post("/v1/services", json=body)
                assert reply.status_code == 201, reply.text
                created.add(reply.json()["service"]["id"])
                return reply.json()["service"]["id"], reply.json()["deployId"]

            web_id, web_deploy = create("web_service", "web")
            cron_id, cron_deploy = create(
                "cron_job",
                "cron",
                schedule="0 3 1 1 *",
                envSpecificDetails={"dockerCommand": "/bin/sh -c 'exit 0'"},
            )
            _wait_live(http, web_id, web_deploy)
            _wait_live(http, cron_id, cron_deploy)
        first.stop()

        second = build(settings, data, port=0).serve_api()
        during: dict[str, Any] = {}

        def requests_during_the_resume() -> None:
            with _client(second, api_key) as http:
                during["owners"] = http.get("/v1/owners").status_code
                during["patch"] = http.patch(
                    f"/v1/services/{cron_id}", json={"serviceDetails": {"schedule": "5 4 * * *"}}
                ).status_code
                during["run"] = http.post(f"/v1/cron-jobs/{cron_id}/runs").json()["id"]
                during["deploy"] = http.post(f"/v1/services/{web_id}/deploys", json={}).json()["id"]
            # Were the job queue running, the schedule's sync (and the new deploy's container)
            # would happen now, before the resume sets the schedules it listed (and removes
            # the containers it does not account for).
            second.jobs.join_idle(timeout=3)

        second.store = HookedListing(data / "state.db", requests_during_the_resume)
        try:
            second.resume()
            assert during["owners"] == 200
            assert during["patch"] == 200
            with _client(second, api_key) as http:
                _wait_live(http, web_id, during["deploy"])

                def run_status() -> str | None:
                    runs = http.get(f"/v1/cron-jobs/{cron_id}/runs").json()
                    found = {r["cronJobRun"]["id"]: r["cronJobRun"]["status"] for r in runs}
                    status = found.get(during["run"])
                    return status if status not in (None, "pending", "running") else None

                assert wait_for(run_status, 60, "the run triggered during the resume") == (
                    "successful"
                )
            # The edit made during the resume wins over the resume's older listing.
            assert second.scheduler.schedules()[cron_id][0] == "5 4 * * *"
            wait_for(lambda: len(containers_of(web_id)) == 1, 30, "the old instance retired")
        finally:
            second.stop()
            second.ports.store.close()  # type: ignore[attr-defined]
    finally:
        remove_containers(created)


def test_failed_engine_checks_are_logged_after_the_api_is_up(
    tmp_path: Path, engine_socket: str
) -> None:
    with running_serve(
        tmp_path / "serve",
        extra_env={"IMAGEDEPLOY_CONTAINER_ENGINE": "no-such-engine"},
        engine_socket=engine_socket,
    ) as serve:
        with serve.client() as http:
            assert http.get("/v1/owners").status_code == 200
        wait_for(lambda: "engine checks done" in serve.logs(), 60, "the doctor's checks")
        assert "imagedeploy doctor: FAIL  container engine: no-such-engine not found" in (
            serve.logs()
        )
