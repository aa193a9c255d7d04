"""The local runtime watches containers through the engine's event stream (issue 13): a cron
run's end, a crashed instance and a failed rollout come from events, the resync catches a lost
one, a dropped stream reconnects, and no thread waits for a running container, so a thousand
running cron runs do not delay a deploy. Driven by ``devkit.fake_engine.FakeEngine``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devkit.fake_engine import FakeEngine
from imagedeploy.adapters.local.router import Router
from imagedeploy.adapters.local.runtime import ROLE, RUN, SERVICE, LocalRuntime
from imagedeploy.domain.cron import RunStatus
from imagedeploy.domain.deploy_machine import (
    InstanceFailed,
    PreDeployExited,
    RolloutHealthy,
    Signal,
)
from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.outbox import Effect, StartRollout
from imagedeploy.domain.outcomes import EarlyExit, NonZeroExit, ServerFailure
from imagedeploy.domain.services import Resources
from imagedeploy.ports import RunSpec

pytestmark = pytest.mark.unit

IMAGE = "127.0.0.1:5000/team/job@sha256:" + "ab" * 32


@dataclass
class Reports:
    """Records what the runtime reports; ``wait_for`` waits for a matching record."""

    records: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def _add(self, kind: str, *args: Any) -> None:
        with self.changed:
            self.records.append((kind, args))
            self.changed.notify_all()

    def deploy_signal(self, deploy_id: str, signal: Signal) -> None:
        self._add("deploy_signal", deploy_id, signal)

    def run_ended(self, run_id: str, status: RunStatus, exit_code: int | None, reason: str) -> None:
        self._add("run_ended", run_id, status, exit_code, reason)

    def instance_failed(self, service_id: str, instance_id: str, failure: ServerFailure) -> None:
        self._add("instance_failed", service_id, instance_id, failure)

    def instance_available(self, service_id: str) -> None:
        self._add("instance_available", service_id)

    def instance_pull_failed(
        self, service_id: str, image: str, reason: PullFailureReason, message: str
    ) -> None:
        self._add("instance_pull_failed", service_id, reason)

    def effect_failed(self, effect: Effect, attempts: int, error: str) -> None:
        self._add("effect_failed", effect, attempts, error)

    def wait_for(
        self, kind: str, match: Callable[[tuple[Any, ...]], bool], timeout: float = 10.0
    ) -> tuple[Any, ...]:
        found: list[tuple[Any, ...]] = []

        def seen() -> bool:
            found[:] = [args for k, args in self.records if k == kind and match(args)]
            return bool(found)

        with self.changed:
            assert self.changed.wait_for(seen, timeout), (kind, self.records[-5:])
        return found[0]


def spec(service_id: str = "srv-1", deploy_id: str = "dep-1") -> RunSpec:
    return RunSpec(
        service_id=service_id,
        deploy_id=deploy_id,
        image=IMAGE,
        command=("/bin/job",),
        env={},
        resources=Resources(0.5, 512),
        port=None,  # a worker: healthy when it still runs after the grace period
        health_check_path="",
        num_instances=1,
        stop_timeout_seconds=1,
        credential=None,
    )


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def reports() -> Reports:
    return Reports()


@pytest.fixture
def make_runtime(
    engine: FakeEngine, reports: Reports, tmp_path: Path
) -> Iterator[Callable[..., LocalRuntime]]:
    made: list[LocalRuntime] = []

    def make(**options: Any) -> LocalRuntime:
        options.setdefault("worker_grace_seconds", 0.2)
        runtime = LocalRuntime(engine, Router(), reports, tmp_path / "logs", **options)
        made.append(runtime.start())
        return runtime

    yield make
    for runtime in made:
        runtime.stop()
    engine.drop_stream()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_cron_run_ends_from_its_die_event_and_no_thread_waits_for_it(
    make_runtime: Callable[..., LocalRuntime], engine: FakeEngine, reports: Reports
) -> None:
    runtime = make_runtime(run_workers=2)
    for n in range(20):  # ten times more runs than run workers
        runtime.start_cron_run(spec(), f"run-{n}")
    wait_until(lambda: len(engine.running(**{ROLE: "cron"})) == 20)
    assert engine.calls["wait"] == 0

    failing = engine.running(**{RUN: "run-3"})[0]
    engine.exit(failing, 3)
    reports.wait_for("run_ended", lambda a: a[:3] == ("run-3", RunStatus.UNSUCCESSFUL, 3))
    engine.exit(engine.running(**{RUN: "run-4"})[0], 0)
    reports.wait_for("run_ended", lambda a: a[:3] == ("run-4", RunStatus.SUCCESSFUL, 0))
    assert failing not in engine.containers, "an ended run's container is removed"


def test_a_deploy_is_not_delayed_by_a_thousand_running_cron_runs(
    make_runtime: Callable[..., LocalRuntime], engine: FakeEngine, reports: Reports
) -> None:
    runtime = make_runtime()
    for n in range(1000):
        runtime.start_cron_run(spec("cron-1", "dep-cron"), f"run-{n}")
    wait_until(lambda: len(engine.running(**{ROLE: "cron"})) == 1000, timeout=30)

    runtime.start_rollout(spec("web-1", "dep-web"))
    reports.wait_for(
        "deploy_signal", lambda a: a[0] == "dep-web" and isinstance(a[1], RolloutHealthy)
    )


def test_a_pre_deploy_command_ends_from_its_event(
    make_runtime: Callable[..., LocalRuntime], engine: FakeEngine, reports: Reports
) -> None:
    runtime = make_runtime()
    runtime.start_pre_deploy(spec(), "exec-1")
    wait_until(lambda: bool(engine.running(**{ROLE: "pre_deploy"})))
    engine.exit(engine.running(**{ROLE: "pre_deploy"})[0], 0)
    reports.wait_for("deploy_signal", lambda a: a == ("dep-1", PreDeployExited(0)))


def test_a_crashed_instance_is_reported_and_replaced_from_its_event(
    make_runtime: Callable[..., LocalRuntime], engine: FakeEngine, reports: Reports
) -> None:
    runtime = make_runtime()
    runtime.start_rollout(spec())
    reports.wait_for("deploy_signal", lambda a: isinstance(a[1], RolloutHealthy))
    (first,) = engine.running(**{SERVICE: "srv-1"})
    engine.exit(first, 2)
    reports.wait_for("instance_failed", lambda a: a[2] == NonZeroExit(2))
    reports.wait_for("instance_available", lambda a: a == ("srv-1",))
    (second,) = engine.running(**{SERVICE: "srv-1"})
    assert second != first


def test_an_instance_exiting_during_its_rollout_fails_it_without_polling_the_engine(
    make_runtime: Callable[..., LocalRuntime], engine: FakeEngine, reports: Reports
) -> None:
    runtime = make_runtime(worker_grace_seconds=30)
    runtime.start_rollout(spec())
    wait_until(lambda: bool(engine.running(**{SERVICE: "srv-1"})))
    time.sleep(0.5)  # half a second of health waiting
    engine.exit(engine.running(**{SERVICE: "srv-1"})[0], 1)
    reports.wait_for(
        "deploy_signal",
        lambda a: isinstance(a[1], InstanceFailed) and a[1].failure == NonZeroExit(1),
    )
    assert engine.calls["inspect"] <= 1, "waiting asked the engine nothing; one look at the end"


def test_the_resync_notices_an_instance_whose_exit_event_was_lost(
    make_runtime: Callable[..., LocalRuntime], engine: FakeEngine, reports: Reports
) -> None:
    runtime = make_runtime(resync_seconds=0.2)
    runtime.start_rollout(spec())
    reports.wait_for("deploy_signal", lambda a: isinstance(a[1], RolloutHealthy))
    (first,) = engine.running(**{SERVICE: "srv-1"})
    engine.vanish(first)
    reports.wait_for("instance_failed", lambda a: a[2] == EarlyExit())
    reports.wait_for("instance_available", lambda a: a == ("srv-1",))


def test_events_still_arrive_after_the_stream_drops(
    make_runtime: Callable[..., LocalRuntime], engine: FakeEngine, reports: Reports
) -> None:
    runtime = make_runtime()
    runtime.start_cron_run(spec(), "run-1")
    wait_until(lambda: bool(engine.running(**{RUN: "run-1"})))
    engine.drop_stream()
    wait_until(lambda: engine.streams_opened >= 2)
    engine.exit(engine.running(**{RUN: "run-1"})[0], 0)
    reports.wait_for("run_ended", lambda a: a[:2] == ("run-1", RunStatus.SUCCESSFUL))


def test_idle_watching_makes_no_engine_request(
    make_runtime: Callable[..., LocalRuntime], engine: FakeEngine, reports: Reports
) -> None:
    runtime = make_runtime()
    for n in range(5):
        runtime.start_rollout(spec(f"srv-{n}", f"dep-{n}"))
    for n in range(5):
        reports.wait_for("deploy_signal", lambda a, n=n: a[0] == f"dep-{n}")
    before = sum(engine.calls.values())
    time.sleep(2.5)  # longer than the old monitor's 2 s polling interval
    assert sum(engine.calls.values()) == before


def test_a_restarted_runtime_adopts_a_running_run_instead_of_starting_it_again(
    make_runtime: Callable[..., LocalRuntime], engine: FakeEngine, reports: Reports
) -> None:
    first = make_runtime()
    first.start_cron_run(spec(), "run-1")
    wait_until(lambda: bool(engine.running(**{RUN: "run-1"})))
    first.stop()
    engine.drop_stream()

    again = make_runtime()
    again.start_cron_run(spec(), "run-1")  # what resume does
    time.sleep(0.3)
    (container,) = engine.running(**{RUN: "run-1"})
    assert engine.calls["list"] >= 1, "looked up only because the create said the name is taken"
    engine.exit(container, 0)
    reports.wait_for("run_ended", lambda a: a[:2] == ("run-1", RunStatus.SUCCESSFUL))


def test_a_failed_create_is_handed_back_as_a_failed_effect_and_the_rollout_runs_again(
    make_runtime: Callable[..., LocalRuntime], engine: FakeEngine, reports: Reports
) -> None:
    """No thread backs off holding the service's lock: the failure goes to the outbox (which
    retries the effect), counted per effect until a create succeeds."""
    runtime = make_runtime(rollout_workers=1)
    engine.failing_runs = 2
    for attempt in (1, 2):
        runtime.start_rollout(spec())
        effect, _, error = reports.wait_for("effect_failed", lambda args, n=attempt: args[1] == n)
        assert effect == StartRollout("dep-1")
        assert "injected engine fault" in error
    assert engine.running() == []
    runtime.start_rollout(spec())  # the outbox's retry
    reports.wait_for("deploy_signal", lambda args: isinstance(args[1], RolloutHealthy))
    assert len(engine.running(**{SERVICE: "srv-1"})) == 1


def test_a_rollout_asked_for_twice_runs_once(
    make_runtime: Callable[..., LocalRuntime], engine: FakeEngine, reports: Reports
) -> None:
    """After a restart of serve, the outbox record being dispatched and reconcile's resume
    both ask for the deploy's rollout."""
    runtime = make_runtime(rollout_workers=1)
    runtime.start_rollout(spec())
    runtime.start_rollout(spec())
    reports.wait_for("deploy_signal", lambda args: isinstance(args[1], RolloutHealthy))
    assert engine.calls["run"] == 1
