"""``InProcessScheduler`` with a fake clock and a fake waiter: the right minutes, re-planning on
set/remove, one fire after a clock jump, never a minute twice. A real thread, driven step by
step: the test moves the clock, wakes the thread and waits until it sleeps again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from imagedeploy.adapters.local.scheduler import EventWaiter, InProcessScheduler
from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.services import Plan, Region, Service, ServiceType

pytestmark = pytest.mark.unit

WAIT = 10.0
START = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def set(self, hour: int, minute: int, second: int = 0, *, day: int = 27) -> None:
        self.current = datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


class FakeWaiter:
    """``wait`` blocks until ``wake`` (no time passes by itself); a wake before the wait is
    kept, like ``threading.Event``. ``settle`` returns once the thread sleeps with no wake
    pending, i.e. it has handled everything the test did."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending = False
        self._blocked = False
        self.timeouts: list[float] = []

    def wait(self, timeout: float) -> None:
        with self._cond:
            self.timeouts.append(timeout)
            self._blocked = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._pending)
            self._pending = False
            self._blocked = False

    def wake(self) -> None:
        with self._cond:
            self._pending = True
            self._cond.notify_all()

    def settle(self) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self._blocked and not self._pending, WAIT)


class Harness:
    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.waiter = FakeWaiter()
        self.fired: list[tuple[str, datetime]] = []
        self.scheduler = InProcessScheduler(
            self._on_fire, clock=self.clock, waiter=self.waiter, max_sleep=60.0
        )

    def _on_fire(self, service_id: str) -> None:
        self.fired.append((service_id, self.clock.now()))

    def start(self) -> None:
        self.scheduler.start()
        self.waiter.settle()

    def at(self, hour: int, minute: int, second: int = 0, *, day: int = 27) -> None:
        """Move the clock and let the thread notice (as its sleep ending would)."""
        self.clock.set(hour, minute, second, day=day)
        self.waiter.wake()
        self.waiter.settle()

    def fired_ids(self) -> list[str]:
        return [service_id for service_id, _ in self.fired]

    def fired_minutes(self) -> list[str]:
        return [f"{at:%H:%M}" for _, at in self.fired]


@pytest.fixture
def harness() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    assert harness.scheduler.stop(WAIT)


def test_fires_at_the_minutes_the_schedule_names(harness: Harness) -> None:
    harness.scheduler.set_schedule("crn-a", "*/5 * * * *")
    harness.start()
    assert harness.waiter.timeouts[-1] == 60.0  # 12:05 is 270 s away: sleeps are capped
    for hour, minute, second in ((12, 1, 30), (12, 4, 59)):
        harness.at(hour, minute, second)
    assert harness.fired == []
    assert harness.waiter.timeouts[-1] == 1.0  # exactly until 12:05:00

    for minute in (5, 6, 9, 10, 11, 15):
        harness.at(12, minute)
    assert harness.fired_minutes() == ["12:05", "12:10", "12:15"]
    assert harness.scheduler.schedules() == {
        "crn-a": ("*/5 * * * *", datetime(2026, 11, 27, 12, 20, tzinfo=UTC))
    }


def test_never_fires_a_minute_twice(harness: Harness) -> None:
    harness.scheduler.set_schedule("crn-a", "* * * * *")
    harness.start()
    harness.at(12, 1)
    harness.at(12, 1, 0)  # woken again within the same minute
    harness.at(12, 1, 59)
    assert harness.fired_minutes() == ["12:01"]
    harness.at(12, 0, 30)  # the clock steps back: 12:01 must not fire again
    harness.at(12, 1, 30)
    assert harness.fired_minutes() == ["12:01"]
    harness.at(12, 2)
    assert harness.fired_minutes() == ["12:01", "12:02"]


def test_a_long_clock_jump_fires_once_not_once_per_missed_minute(harness: Harness) -> None:
    harness.scheduler.set_schedule("crn-a", "*/5 * * * *")
    harness.start()
    harness.at(15, 2, day=28)  # a day and 3 hours later: hundreds of missed times
    assert harness.fired_ids() == ["crn-a"]
    (_, next_fire), *_ = harness.scheduler.schedules().values()
    assert next_fire == datetime(2026, 11, 28, 15, 5, tzinfo=UTC)  # planned from now
    harness.at(15, 5, day=28)
    assert len(harness.fired) == 2


def test_set_schedule_replans_and_wakes_the_thread(harness: Harness) -> None:
    harness.start()
    assert harness.waiter.timeouts[-1] == 60.0  # nothing to do: sleeps the cap
    harness.scheduler.set_schedule("crn-a", "0 * * * *")
    harness.waiter.settle()  # woken: it planned 13:00
    assert harness.scheduler.schedules()["crn-a"][1] == datetime(2026, 11, 27, 13, tzinfo=UTC)
    harness.scheduler.set_schedule("crn-a", "*/2 * * * *")  # changed: re-planned
    harness.waiter.settle()
    assert harness.scheduler.schedules()["crn-a"] == (
        "*/2 * * * *",
        datetime(2026, 11, 27, 12, 2, tzinfo=UTC),
    )
    harness.at(12, 2)
    assert harness.fired_minutes() == ["12:02"]


def test_setting_the_same_schedule_again_keeps_a_due_fire(harness: Harness) -> None:
    harness.scheduler.set_schedule("crn-a", "*/5 * * * *")
    harness.start()
    harness.clock.set(12, 5)  # due, the thread has not woken yet
    harness.scheduler.set_schedule("crn-a", "*/5  *  * * *")  # the same, spelled differently
    harness.waiter.wake()  # its sleep ends
    harness.waiter.settle()
    assert harness.fired_minutes() == ["12:05"]


def test_remove_schedule_stops_the_fires(harness: Harness) -> None:
    harness.scheduler.set_schedule("crn-a", "*/5 * * * *")
    harness.scheduler.set_schedule("crn-b", "*/5 * * * *")
    harness.start()
    harness.at(12, 5)
    assert sorted(harness.fired_ids()) == ["crn-a", "crn-b"]
    harness.scheduler.remove_schedule("crn-a")
    harness.waiter.settle()
    harness.at(12, 10)
    assert sorted(harness.fired_ids()) == ["crn-a", "crn-b", "crn-b"]
    harness.scheduler.remove_schedule("crn-missing")  # no error


def test_a_schedule_removed_and_set_again_in_its_minute_does_not_fire_it_twice(
    harness: Harness,
) -> None:
    harness.scheduler.set_schedule("crn-a", "* * * * *")
    harness.start()
    harness.at(12, 1, 10)
    harness.scheduler.remove_schedule("crn-a")  # suspend ...
    harness.clock.set(12, 0, 50)  # ... while the clock steps back
    harness.scheduler.set_schedule("crn-a", "* * * * *")  # ... and resume
    harness.waiter.settle()
    harness.at(12, 1, 20)
    assert harness.fired_minutes() == ["12:01"]
    harness.at(12, 2)
    assert harness.fired_minutes() == ["12:01", "12:02"]


def test_a_failing_fire_does_not_kill_the_thread() -> None:
    clock, waiter = ManualClock(START), FakeWaiter()
    fired: list[str] = []

    def on_fire(service_id: str) -> None:
        fired.append(service_id)
        if service_id == "crn-bad":
            raise RuntimeError("queue full")

    scheduler = InProcessScheduler(on_fire, clock=clock, waiter=waiter)
    scheduler.set_schedule("crn-bad", "* * * * *")
    scheduler.start()
    try:
        waiter.settle()
        clock.set(12, 1)
        waiter.wake()
        waiter.settle()
        scheduler.set_schedule("crn-good", "* * * * *")
        waiter.settle()
        clock.set(12, 2)
        waiter.wake()
        waiter.settle()
        assert sorted(fired) == ["crn-bad", "crn-bad", "crn-good"]
    finally:
        assert scheduler.stop(WAIT)


def test_invalid_schedules_are_refused(harness: Harness) -> None:
    with pytest.raises(InvalidInput):
        harness.scheduler.set_schedule("crn-a", "61 * * * *")
    assert harness.scheduler.schedules() == {}


def service(service_id: str, type_: ServiceType, schedule: str, **changes: object) -> Service:
    base = Service(
        id=service_id,
        owner_id="tea-0000000000000000000a",
        type=type_,
        name=service_id,
        slug=service_id,
        image_path="docker.io/library/alpine:latest",
        credential_id=None,
        plan=Plan.STARTER,
        region=Region.OREGON,
        num_instances=1,
        docker_command="",
        pre_deploy_command="",
        health_check_path="",
        port=10000,
        max_shutdown_delay_seconds=30,
        schedule=schedule,
        env_vars=(),
        suspended=False,
        hook_key_hash="",
        created_at=START,
        updated_at=START,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_load_registers_every_active_cron_job(harness: Harness) -> None:
    loaded = harness.scheduler.load(
        [
            service("crn-a", ServiceType.CRON_JOB, "*/5 * * * *"),
            service("crn-b", ServiceType.CRON_JOB, "@hourly"),
            service("crn-off", ServiceType.CRON_JOB, "* * * * *", suspended=True),
            service("crn-bad", ServiceType.CRON_JOB, "not a schedule"),
            service("srv-web", ServiceType.WEB_SERVICE, ""),
        ]
    )
    assert loaded == 2
    assert harness.scheduler.schedules() == {
        "crn-a": ("*/5 * * * *", datetime(2026, 11, 27, 12, 5, tzinfo=UTC)),
        "crn-b": ("0 * * * *", datetime(2026, 11, 27, 13, 0, tzinfo=UTC)),
    }


def test_many_jobs_sharing_an_expression_are_each_planned_and_refire_alone(
    harness: Harness,
) -> None:
    count = harness.scheduler.set_schedules(
        [
            ("crn-1", "*/5 * * * *"),
            ("crn-2", "*/5 * * * *"),
            ("crn-3", "@hourly"),
            ("crn-bad", "not a schedule"),
            ("crn-4", "*/5 * * * *"),
        ]
    )
    assert count == 4
    five = datetime(2026, 11, 27, 12, 5, tzinfo=UTC)
    assert harness.scheduler.schedules() == {
        "crn-1": ("*/5 * * * *", five),
        "crn-2": ("*/5 * * * *", five),
        "crn-3": ("0 * * * *", datetime(2026, 11, 27, 13, 0, tzinfo=UTC)),
        "crn-4": ("*/5 * * * *", five),
    }
    harness.start()
    harness.at(12, 5)
    assert sorted(harness.fired_ids()) == ["crn-1", "crn-2", "crn-4"]
    # each plan is its own: one job's next fire moves on without moving the others' plans
    assert harness.scheduler.schedules()["crn-1"][1] == datetime(2026, 11, 27, 12, 10, tzinfo=UTC)


def test_start_twice_is_refused_and_stop_before_start_is_fine() -> None:
    scheduler = InProcessScheduler(lambda service_id: None, waiter=FakeWaiter())
    assert scheduler.stop(0)
    scheduler = InProcessScheduler(lambda service_id: None, waiter=FakeWaiter())
    scheduler.start()
    try:
        with pytest.raises(RuntimeError):
            scheduler.start()
    finally:
        assert scheduler.stop(WAIT)


def test_the_event_waiter_keeps_a_wake_that_came_before_the_wait() -> None:
    waiter = EventWaiter()
    waiter.wake()
    done = threading.Event()

    def sleeper() -> None:
        waiter.wait(timedelta(hours=1).total_seconds())  # returns at once: woken before
        done.set()

    thread = threading.Thread(target=sleeper)
    thread.start()
    assert done.wait(WAIT)
    thread.join(WAIT)
