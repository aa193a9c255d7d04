"""Issue 13: no podman process per operation. ``serve`` runs podman at start (the doctor's
engine checks, then its API service); a deploy, a redeploy and a cron run are API requests only. A ``podman`` wrapper first on ``PATH``
logs every invocation."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import running_platform, wait_for

pytestmark = pytest.mark.e2e


def podman_wrapper(directory: Path, log: Path) -> Path:
    real = shutil.which("podman")
    assert real is not None
    wrapper = directory / "podman"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


def test_deploys_and_runs_spawn_no_podman_process(
    tmp_path: Path, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "podman-invocations.log"
    podman_wrapper(bin_dir, log)
    with running_platform(
        tmp_path / "serve", extra_env={"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    ) as platform:
        serve, http = platform.serve, platform.http
        # At start, serve starts the engine's API service and, once the API is up, runs the
        # doctor's engine checks (a few CLI commands, once); from then on, every operation is
        # an API request.
        wait_for(lambda: "engine checks done" in serve.logs(), 60, "the doctor's checks")
        at_start = log.read_text().splitlines()
        assert at_start[0].startswith("system service"), at_start
        web = platform.create_service(
            "web_service", "counted", test_images.demo.web_v1.ref_on(anon_registry.host)
        )
        service_id = web["service"]["id"]
        assert platform.wait_deploy(service_id, web["deployId"]) == "live"
        again = http.post(f"/v1/services/{service_id}/deploys", json={}).json()["id"]
        assert platform.wait_deploy(service_id, again) == "live"
        cron = platform.create_service(
            "cron_job",
            "counted-cron",
            test_images.demo.web_v1.ref_on(anon_registry.host),
            schedule="0 3 1 1 *",
            envSpecificDetails={"dockerCommand": "/bin/sh -c 'exit 0'"},
        )
        cron_id = cron["service"]["id"]
        assert platform.wait_deploy(cron_id, cron["deployId"]) == "live"
        run = http.post(f"/v1/cron-jobs/{cron_id}/runs").json()

        def ended() -> bool:
            items = http.get(f"/v1/cron-jobs/{cron_id}/runs").json()
            return any(
                i["cronJobRun"]["id"] == run["id"] and i["cronJobRun"]["status"] == "successful"
                for i in items
            )

        wait_for(ended, 60, "the cron run")
        invocations = log.read_text().splitlines()
        assert invocations == at_start, invocations[len(at_start) :]
