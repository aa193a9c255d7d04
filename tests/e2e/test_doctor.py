"""``imagedeploy doctor`` and what ``serve`` says about the engine, against the real podman.

The failing cases break the machine the way a new one is broken, without uninstalling
anything: a PATH that holds podman but no iptables (``devkit.containers.engine_only_path``)
makes netavark fail exactly as it does where the iptables package is missing, and that real
error text goes through the real classification.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devkit.containers import ENGINE_ENV, conf_without_aardvark, engine_only_path
from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import IMAGEDEPLOY, running_platform, wait_for

pytestmark = pytest.mark.e2e

IPTABLES_FIX = "install iptables (apt-get install iptables)"


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IMAGEDEPLOY, "doctor", *args],
        env={**os.environ, **ENGINE_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_doctor_passes_on_this_machine(tmp_path: Path) -> None:
    done = doctor("--data-dir", str(tmp_path / "data"))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ok    container engine",
        "ok    test container",
        "ok    data directory",
    ]
    assert "answered HTTP on 127.0.0.1:" in lines[1]


def test_doctor_names_iptables_when_netavark_cannot_run_it(tmp_path: Path) -> None:
    path = engine_only_path(tmp_path / "bin")
    done = doctor("--data-dir", str(tmp_path / "data"), env={"PATH": path})
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1, done.stdout
    assert failed[0].startswith("FAIL  test container: podman cannot create the container network")
    assert IPTABLES_FIX in failed[0]


def test_doctor_names_aardvark_dns_when_containers_get_no_dns(tmp_path: Path) -> None:
    conf = conf_without_aardvark(tmp_path / "conf")
    done = doctor("--data-dir", str(tmp_path / "data"), env={"CONTAINERS_CONF": str(conf)})
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert failed == [
        "FAIL  test container: podman gives containers no DNS names (services would not find "
        "each other): install aardvark-dns (apt-get install aardvark-dns)"
    ]


def test_doctor_checks_the_registry_with_the_credential(
    tmp_path: Path, basic_registry: RunningRegistry, test_images: StandardImages
) -> None:
    assert basic_registry.credentials is not None
    image = test_images.demo.web_v1.ref_on(basic_registry.host)
    common = ["--data-dir", str(tmp_path), "--image", image, "--username"]
    token = {"DOCTOR_TOKEN": basic_registry.credentials.password}
    good = doctor(
        *common, basic_registry.credentials.username, "--token-env", "DOCTOR_TOKEN", env=token
    )
    assert good.returncode == 0, good.stdout
    assert f"ok    registry: {image} is {test_images.demo.web_v1.digest}" in good.stdout
    bad = doctor(*common, "nobody", "--token-env", "DOCTOR_TOKEN", env=token)
    assert bad.returncode == 1
    assert "FAIL  registry:" in bad.stdout and "(unauthorized)" in bad.stdout
    assert basic_registry.credentials.password not in bad.stdout + bad.stderr


def test_serve_warns_at_start_and_a_failed_deploy_says_what_to_install(
    tmp_path: Path, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    path = engine_only_path(tmp_path / "bin")
    with running_platform(tmp_path / "serve", extra_env={"PATH": path}) as platform:
        serve = platform.serve
        # serve runs the doctor's checks in the background once the API is up
        wait_for(lambda: "engine checks done" in serve.logs(), 60, "the doctor's checks")
        warnings = [
            line
            for line in serve.logs().splitlines()
            if "imagedeploy doctor" in line and '"level":"WARNING"' in line
        ]
        assert len(warnings) == 1, serve.logs()
        assert IPTABLES_FIX in warnings[0]

        image = test_images.demo.web_v1.ref_on(anon_registry.host)
        created = platform.create_service("web_service", "no-iptables", image)
        service_id = created["service"]["id"]
        assert platform.wait_deploy(service_id, created["deployId"]) == "update_failed"
        events = platform.events(service_id)
        failed = wait_for(
            lambda: [e for e in platform.events(service_id) if e["type"] == "server_failed"],
            30,
            "the server_failed event",
        )
        reason = str(failed[0]["details"])
        assert "netavark: No such file or directory" in reason, events
        assert IPTABLES_FIX in reason


def pytest_run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


E2E_TEST = "tests/e2e/test_engine.py::test_pull_run_and_serve_http"


def test_an_e2e_test_fails_naming_the_cause_when_the_engine_cannot_run_containers(
    tmp_path: Path,
) -> None:
    done = pytest_run(E2E_TEST, env={"PATH": engine_only_path(tmp_path / "bin")})
    assert done.returncode == 1, done.stdout
    assert "1 error" in done.stdout and "skipped" not in done.stdout
    assert "the container engine cannot run the e2e tests:" in done.stdout
    assert IPTABLES_FIX in done.stdout


def test_e2e_tests_skip_only_on_the_switch_and_never_in_ci() -> None:
    skipped = pytest_run(E2E_TEST, env={"IMAGEDEPLOY_E2E": "skip", "CI": ""})
    assert "1 skipped" in skipped.stdout, skipped.stdout
    refused = pytest_run(E2E_TEST, env={"IMAGEDEPLOY_E2E": "skip", "CI": "true"})
    assert refused.returncode == 4, refused.stdout + refused.stderr  # usage error
    assert "refused when CI is set" in refused.stderr
