"""``InProcessScheduler``: the ``Scheduler`` port in one process (docs/architecture.md §9.2,
§2.1).

It keeps ``service_id -> schedule`` and the next time each schedule fires (``next_fire``, UTC).
One background thread sleeps until the earliest of those times, calls ``on_fire(service_id)``
for every schedule that is due (the composition root makes that enqueue a cron tick, so
``on_fire`` must return quickly), plans each one's next time and sleeps again. ``set_schedule``
and ``remove_schedule`` wake it to plan again.

Clock rules:

- A minute fires at most once per schedule: the next time is always planned strictly after both
  the current time and the last minute fired, so a clock that steps back does not fire a minute
  again (it waits until the clock passes the last fire, as Vixie cron does for small steps).
- After a long sleep or a clock jump forward, a schedule whose time has passed fires **once**,
  and its next time is planned from the current time: missed minutes are not replayed.
- Sleeps are capped (``max_sleep``), so a wall-clock jump during a sleep is noticed within that
  long, whatever the timer measured.

The clock and the sleeping (``Waiter``) are injectable so tests drive the thread with a fake
clock and no real waiting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from imagedeploy.domain.errors import ImagedeployError
from imagedeploy.domain.schedules import plan_schedule
from imagedeploy.domain.services import Service, ServiceType
from imagedeploy.ports import Clock

logger = logging.getLogger(__name__)

DEFAULT_MAX_SLEEP_SECONDS = 60.0


class Waiter(Protocol):
    """How the scheduler thread sleeps: ``wait`` returns when ``timeout`` seconds have passed
    or ``wake`` was called (a ``wake`` before the ``wait`` makes the next ``wait`` return at
    once: no wake-up is lost)."""

    def wait(self, timeout: float) -> None: ...
    def wake(self) -> None: ...


class EventWaiter:
    """The real ``Waiter``: a ``threading.Event``."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)
        self._event.clear()  # a wake after this point makes the next wait return at once

    def wake(self) -> None:
        self._event.set()


class UtcClock:
    """The real ``Clock``: timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(slots=True)
class _Plan:
    schedule: str  # normalized
    due: datetime  # the next time it fires


class InProcessScheduler:
    """Fires ``on_fire(service_id)`` at every minute each schedule names (UTC)."""

    def __init__(
        self,
        on_fire: Callable[[str], None],
        *,
        clock: Clock | None = None,
        waiter: Waiter | None = None,
        max_sleep: float = DEFAULT_MAX_SLEEP_SECONDS,
        name: str = "imagedeploy-scheduler",
    ) -> None:
        self._on_fire = on_fire
        self._clock: Clock = clock or UtcClock()
        self._waiter: Waiter = waiter or EventWaiter()
        self._max_sleep = max_sleep
        self._name = name
        self._lock = threading.Lock()
        self._plans: dict[str, _Plan] = {}
        self._last_fired: dict[str, datetime] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- the port -------------------------------------------------------------------------------

    def set_schedule(self, service_id: str, schedule: str) -> None:
        """Fire ``service_id`` on ``schedule`` from now on (``InvalidInput`` if it is not a
        valid cron expression). Setting the same schedule again keeps the plan."""
        with self._lock:
            normalized = self._plan(service_id, schedule)
        if normalized is not None:
            logger.info(
                "cron schedule set", extra={"service_id": service_id, "schedule": normalized}
            )
            self._waiter.wake()

    def set_schedules(self, schedules: Iterable[tuple[str, str]]) -> int:
        """``set_schedule`` for many ``(service_id, schedule)`` at once (start-up): each
        expression evaluated once, one wake, no log line per schedule (the caller logs a
        summary). One that no longer validates is logged and skipped. The number set. An
        expression shared by many jobs is evaluated once: they are all planned from one "now"
        (unless a job's last fire is later)."""
        count = 0
        now = self._clock.now()
        planned: dict[str, tuple[str, datetime]] = {}
        for service_id, schedule in schedules:
            try:
                with self._lock:
                    self._plan(service_id, schedule, now=now, planned=planned)
            except ImagedeployError as exc:
                logger.warning(
                    "cron schedule not loaded",
                    extra={"service_id": service_id, "error": exc.message},
                )
                continue
            count += 1
        self._waiter.wake()
        return count

    def _plan(
        self,
        service_id: str,
        schedule: str,
        *,
        now: datetime | None = None,
        planned: dict[str, tuple[str, datetime]] | None = None,
    ) -> str | None:
        """Plan ``schedule`` (lock held); its normalized form, or None when it was already
        planned unchanged. ``planned``: plans from ``now`` by expression, reused and filled."""
        last = self._last_fired.get(service_id)
        if planned is None or now is None or (last is not None and last > now):
            normalized, due = self._next(service_id, schedule)
        else:
            if schedule not in planned:
                planned[schedule] = plan_schedule(schedule, now)
            normalized, due = planned[schedule]
        current = self._plans.get(service_id)
        if current is not None and current.schedule == normalized:
            return None
        self._plans[service_id] = _Plan(normalized, due)
        return normalized

    def remove_schedule(self, service_id: str) -> None:
        with self._lock:
            removed = self._plans.pop(service_id, None)
            # ``_last_fired`` stays: re-adding the schedule must not fire that minute again.
        if removed is not None:
            logger.info("cron schedule removed", extra={"service_id": service_id})
            self._waiter.wake()

    # -- startup --------------------------------------------------------------------------------

    def load(self, services: Iterable[Service]) -> int:
        """Register the schedule of every cron job that is not suspended (startup); the number
        registered. A schedule that no longer validates is logged and skipped."""
        return self.set_schedules(
            (service.id, service.schedule)
            for service in services
            if service.type is ServiceType.CRON_JOB and not service.suspended
        )

    def schedules(self) -> dict[str, tuple[str, datetime]]:
        """``service_id -> (schedule, next fire time)``."""
        with self._lock:
            return {sid: (plan.schedule, plan.due) for sid, plan in self._plans.items()}

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("InProcessScheduler.start called twice")
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the thread (a fire in progress completes); True once it has ended."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._waiter.wake()
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    # -- the thread -----------------------------------------------------------------------------

    def _next(self, service_id: str, schedule: str) -> tuple[str, datetime]:
        """``schedule`` normalized and its next fire strictly after now and after the last
        minute fired (lock held)."""
        after = self._clock.now()
        last = self._last_fired.get(service_id)
        if last is not None and last > after:
            after = last
        return plan_schedule(schedule, after)

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                due = self._take_due()
                timeout = self._sleep_seconds()
            for service_id in due:
                self._fire(service_id)
            if not due:
                self._waiter.wait(timeout)

    def _take_due(self) -> list[str]:
        """The schedules whose time has come, each re-planned from now (lock held)."""
        now = self._clock.now()
        due = [sid for sid, plan in self._plans.items() if plan.due <= now]
        for service_id in due:
            plan = self._plans[service_id]
            self._last_fired[service_id] = plan.due
            plan.due = self._next(service_id, plan.schedule)[1]
        return due

    def _sleep_seconds(self) -> float:
        """Until the earliest planned fire, at most ``max_sleep`` (lock held)."""
        if not self._plans:
            return self._max_sleep
        earliest = min(plan.due for plan in self._plans.values())
        seconds = (earliest - self._clock.now()).total_seconds()
        return min(max(seconds, 0.0), self._max_sleep)

    def _fire(self, service_id: str) -> None:
        try:
            self._on_fire(service_id)
        except Exception as exc:  # the thread must outlive one bad fire
            extra: dict[str, object] = {
                "service_id": service_id,
                "error_type": type(exc).__name__,
            }
            if isinstance(exc, ImagedeployError):
                extra["error"] = exc.message
            logger.warning("cron fire failed", extra=extra)
