"""Issue 9 (local): ``serve`` exits within 10 s of SIGINT with a cron run in progress, and the next
``serve`` adopts the run (its container keeps running and its end is recorded)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import containers_of, running_platform, wait_for

pytestmark = pytest.mark.e2e


def test_sigint_with_a_cron_run_in_progress_then_the_run_is_adopted(
    tmp_path: Path, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    with running_platform(tmp_path / "serve") as platform:
        service_id = platform.live_service(
            "cron_job",
            "slow",
            test_images.demo.web_v1.ref_on(anon_registry.host),
            schedule="0 3 1 1 *",
            envSpecificDetails={"dockerCommand": "/bin/sh -c 'sleep 12; exit 4'"},
        )
        run = platform.http.post(f"/v1/cron-jobs/{service_id}/runs").json()
        wait_for(lambda: containers_of(service_id, "cron"), 30, "the run's container")

        serve = platform.serve.process
        serve.send_signal(signal.SIGINT)
        serve.wait(10)  # exits within 10 s of SIGINT, else TimeoutExpired
        assert containers_of(service_id, "cron"), "the run's container keeps running"

        platform.restart()

        def ended() -> str | None:
            items = platform.http.get(f"/v1/cron-jobs/{service_id}/runs").json()
            status = {i["cronJobRun"]["id"]: i["cronJobRun"]["status"] for i in items}
            found = status.get(run["id"])
            return found if found not in (None, "pending", "running") else None

        assert wait_for(ended, 60, "the adopted run to end") == "unsuccessful"
