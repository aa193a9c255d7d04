"""Issue 9 (local): faults of the real engine, injected between ``serve`` and podman's API socket
(``devkit.engine_fault``), and a ``serve`` killed before its command reached the engine.

- the engine failing ``create`` once: the command is retried and the deploy goes live;
- the engine failing ``create`` for good: the deploy fails once the retry budget
  (``effect_retry_seconds``, 4 s here) is spent, with the engine's error text in its event;
- ``serve`` SIGKILLed after a rollout was committed and before its ``create`` reached the
  engine: after the restart the command runs, exactly once;
- a cron run's cancel, or its job's delete, arriving before or during its container's start
  (the proxy holds ``create`` or ``start`` meanwhile) ends with no container of the run.
  (After the start: ``test_serve.py``.)
- a web deploy's cancel, or its service's delete, arriving before (``create`` held), during
  (``start`` held) or after its instance's start (waiting to be healthy) ends with no container
  of the service, within 20 s (a delete stops the rollout in progress; it used to wait for the
  reconcile pass).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.effect_hold import hold_effect_env
from devkit.engine_fault import EngineFault, EngineFaultProxy
from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import Platform, containers_of, running_platform, wait_for

pytestmark = pytest.mark.e2e

RETRY_SECONDS = 4  # effect_retry_seconds of these serves: backoff 1 + 2, then the deploy fails
CREATE = r"/containers/create\?"
START = r"/containers/[0-9a-f]{12,}/start"
ENGINE_ERROR = "container create failed: layer not known (injected)"


@pytest.fixture(scope="module")
def proxy(engine_socket: str) -> Iterator[EngineFaultProxy]:
    with EngineFaultProxy(engine_socket) as started:
        yield started


@pytest.fixture(scope="module")
def faulty(proxy: EngineFaultProxy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One serve for the module, driving podman through the fault proxy."""
    with running_platform(
        tmp_path_factory.mktemp("faults"),
        extra_env={"IMAGEDEPLOY_EFFECT_RETRY_SECONDS": str(RETRY_SECONDS)},
        engine_socket=proxy.socket,
    ) as started:
        try:
            yield started
        finally:
            proxy.clear()  # nothing held: serve stops without waiting on the engine


@pytest.fixture(scope="module")
def web_v1(anon_registry: RunningRegistry, test_images: StandardImages) -> str:
    """The image every service here runs (the fault is in the engine, not the image)."""
    return test_images.demo.web_v1.ref_on(anon_registry.host)


@pytest.fixture
def engine(proxy: EngineFaultProxy) -> Iterator[EngineFaultProxy]:
    """The module's proxy, with no fault or request left over from another test."""
    proxy.clear()
    yield proxy
    proxy.clear()


def _worker(platform: Platform, image: str) -> tuple[str, str]:
    created = platform.create_service(
        "background_worker",
        "faulty-worker",
        image,
        envSpecificDetails={"dockerCommand": "/bin/sh -c 'sleep 600'"},
    )
    return str(created["service"]["id"]), str(created["deployId"])


def test_engine_failing_create_once_is_retried_and_the_deploy_goes_live(
    faulty: Platform,
    engine: EngineFaultProxy,
    web_v1: str,
) -> None:
    engine.add(EngineFault.fail("POST", CREATE, message=ENGINE_ERROR))
    service_id, deploy_id = _worker(faulty, web_v1)
    assert faulty.wait_deploy(service_id, deploy_id) == "live"
    assert engine.count("POST", CREATE) == 2  # the failed one, then the retry
    assert engine.count("POST", CREATE, forwarded=True) == 1
    assert len(containers_of(service_id)) == 1
    events = faulty.events(service_id)
    assert [e["type"] for e in events if e["type"].startswith("deploy_")] == [
        "deploy_started",
        "deploy_ended",
    ]
    assert "failure" not in json.dumps(events)
    # what happened is in serve's log: the engine's error, and that it was retried
    retried = [line for line in faulty.serve.logs().splitlines() if ENGINE_ERROR in line]
    assert retried and "retrying" in retried[0]


def test_engine_failing_create_for_good_fails_the_deploy_with_its_error(
    faulty: Platform,
    engine: EngineFaultProxy,
    web_v1: str,
) -> None:
    engine.add(EngineFault.fail("POST", CREATE, message=ENGINE_ERROR, times=1000))
    service_id, deploy_id = _worker(faulty, web_v1)
    assert faulty.wait_deploy(service_id, deploy_id, RETRY_SECONDS + 60) == "update_failed"
    assert engine.count("POST", CREATE) >= 2  # retried before giving up
    assert engine.count("POST", CREATE, forwarded=True) == 0
    ended = [e for e in faulty.events(service_id) if e["type"] == "deploy_ended"]
    assert len(ended) == 1 and ENGINE_ERROR in json.dumps(ended[0]["details"])
    assert containers_of(service_id, stopped=True) == []


def test_serve_killed_before_its_command_reached_the_engine_runs_it_once_after_restart(
    engine_socket: str,
    tmp_path: Path,
    web_v1: str,
) -> None:
    with EngineFaultProxy(engine_socket) as engine:
        held = EngineFault.hold("POST", CREATE)
        engine.add(held)
        with running_platform(tmp_path / "data", engine_socket=engine.socket) as platform:
            service_id, deploy_id = _worker(platform, web_v1)
            held.wait_arrived()  # the rollout is committed; its create is here, not in podman
            platform.serve.kill()
            held.drop_held()  # the engine never sees it
            platform.restart(engine_socket=engine.socket)
            assert platform.wait_deploy(service_id, deploy_id) == "live"
            assert engine.count("POST", CREATE, forwarded=True) == 1
            assert len(containers_of(service_id, stopped=True)) == 1


# -- a cron run's cancel or delete, before or during its container's start ------------------


def _cron_job(platform: Platform, image: str) -> str:
    return platform.live_service(
        "cron_job",
        "held-run",
        image,
        schedule="0 3 1 1 *",
        envSpecificDetails={"dockerCommand": "/bin/sh -c 'sleep 600'"},
    )


def _stop_while_held(
    platform: Platform, engine: EngineFaultProxy, service_id: str, path: str, stop: str
) -> None:
    """Start a run, hold its ``path`` request, ``stop`` it (cancel or delete) meanwhile, let the
    request through, and wait for the run's container to be gone."""
    held = EngineFault.hold("POST", path)
    engine.add(held)
    assert platform.http.post(f"/v1/cron-jobs/{service_id}/runs").status_code == 200
    held.wait_arrived()
    if stop == "cancel":
        answer = platform.http.delete(f"/v1/cron-jobs/{service_id}/runs")
    else:
        answer = platform.http.delete(f"/v1/services/{service_id}")
    assert answer.status_code == 204, answer.text
    held.release()
    # The held request reached the engine: the container exists (created, or started) until
    # serve stops and removes it. Gone = stopped and removed, never left running.
    wait_for(lambda: engine.count("POST", path, forwarded=True) == 1, 30, "the held request")
    wait_for(
        lambda: not containers_of(service_id, "cron", stopped=True), 60, "the run's container gone"
    )


def _name_of(service_id: str) -> str:
    return rf"{CREATE}name={re.escape(service_id)}-cron-"


@pytest.mark.parametrize("stop", ["cancel", "delete"])
def test_a_cron_run_stopped_before_its_container_is_created_never_runs(
    stop: str,
    faulty: Platform,
    engine: EngineFaultProxy,
    web_v1: str,
) -> None:
    service_id = _cron_job(faulty, web_v1)
    _stop_while_held(faulty, engine, service_id, _name_of(service_id), stop)


@pytest.mark.parametrize("stop", ["cancel", "delete"])
def test_a_cron_run_stopped_while_its_container_starts_is_stopped(
    stop: str,
    faulty: Platform,
    engine: EngineFaultProxy,
    web_v1: str,
) -> None:
    service_id = _cron_job(faulty, web_v1)
    _stop_while_held(faulty, engine, service_id, START, stop)


# -- a deploy's cancel, or its service's delete, before, during or after an instance's start ------


def _held_web_service(platform: Platform, image: str) -> tuple[str, str]:
    """A web service whose instances never answer their health check: its first deploy stays
    in its rollout (its instance started, waiting to be healthy) until it is stopped."""
    created = platform.create_service(
        "web_service",
        "never-healthy",
        image,
        healthCheckPath="/no-such-page",
    )
    return str(created["service"]["id"]), str(created["deployId"])


def _stop_instance(platform: Platform, service_id: str, deploy_id: str, stop: str) -> None:
    if stop == "cancel":
        answer = platform.http.post(f"/v1/services/{service_id}/deploys/{deploy_id}/cancel")
        assert answer.status_code == 200, answer.text
    else:
        answer = platform.http.delete(f"/v1/services/{service_id}")
        assert answer.status_code == 204, answer.text


def _no_instance_left(platform: Platform, service_id: str, deploy_id: str, stop: str) -> None:
    # Within 20 s: sooner than the reconcile pass (every 30 s) that cancels an orphaned deploy
    # would end a rollout the delete itself did not stop.
    wait_for(lambda: not containers_of(service_id, stopped=True), 20, "the instance container gone")
    if stop == "cancel":
        assert platform.wait_deploy(service_id, deploy_id) == "canceled"


@pytest.mark.parametrize("stop", ["cancel", "delete"])
@pytest.mark.parametrize("held", ["create", "start"])
def test_an_instance_stopped_before_or_while_its_container_starts_is_gone(
    held: str,
    stop: str,
    faulty: Platform,
    engine: EngineFaultProxy,
    web_v1: str,
) -> None:
    """``create``: the cancel/delete arrives before the engine has the container; ``start``: it
    exists, and its start is under way."""
    path = START
    if held == "create":
        path = r"/containers/create\?name=srv-[a-z0-9]+-instance-"
    hold = EngineFault.hold("POST", path)
    engine.add(hold)
    service_id, deploy_id = _held_web_service(faulty, web_v1)
    hold.wait_arrived()
    _stop_instance(faulty, service_id, deploy_id, stop)
    hold.release()
    wait_for(lambda: engine.count("POST", path, forwarded=True) >= 1, 30, "the held request")
    _no_instance_left(faulty, service_id, deploy_id, stop)


@pytest.mark.parametrize("stop", ["cancel", "delete"])
def test_an_instance_stopped_after_its_container_started_is_gone(
    stop: str,
    faulty: Platform,
    engine: EngineFaultProxy,
    web_v1: str,
) -> None:
    service_id, deploy_id = _held_web_service(faulty, web_v1)
    wait_for(lambda: containers_of(service_id), 60, "the instance running")
    _stop_instance(faulty, service_id, deploy_id, stop)
    _no_instance_left(faulty, service_id, deploy_id, stop)


def test_serve_killed_between_commit_and_dispatch_runs_the_command_once_after_restart(
    engine_socket: str,
    tmp_path: Path,
    web_v1: str,
) -> None:
    """The rollout is committed with its outbox record; the dispatcher is held before it
    executes ``StartRollout`` (``devkit.effect_hold``), and serve is SIGKILLed there. After the
    restart both the record and reconcile's resume ask for the rollout: one create."""
    marker = tmp_path / "held"
    with (
        EngineFaultProxy(engine_socket) as engine,
        running_platform(
            tmp_path / "data",
            extra_env=hold_effect_env("StartRollout", marker),
            engine_socket=engine.socket,
        ) as platform,
    ):
        service_id, deploy_id = _worker(platform, web_v1)
        wait_for(marker.exists, 60, "the dispatcher to hold StartRollout")
        platform.serve.kill()
        assert engine.count("POST", CREATE) == 0  # nothing reached the engine
        platform.restart(engine_socket=engine.socket)
        assert platform.wait_deploy(service_id, deploy_id) == "live"
        time.sleep(2)  # a second rollout, if one were asked for, would create by now
        assert engine.count("POST", CREATE) == 1
        assert len(containers_of(service_id, stopped=True)) == 1
        assert [e["type"] for e in platform.events(service_id)].count("deploy_ended") == 1
