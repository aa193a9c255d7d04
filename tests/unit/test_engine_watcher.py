"""``EngineWatcher``: one event stream, reconnected with backoff when it drops (asking for the
events since the drop, calling ``on_disconnect`` and resyncing at once), and a periodic resync."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from imagedeploy.adapters.local.engine import EngineError, EngineEvent
from imagedeploy.adapters.local.watcher import EngineWatcher, reconnect_backoff

pytestmark = pytest.mark.unit


def event(n: int) -> EngineEvent:
    return EngineEvent("die", f"c{n}", {}, n)


def wait_until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_reconnect_backoff_doubles_up_to_a_cap() -> None:
    assert [reconnect_backoff(n) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 2.0]
    assert reconnect_backoff(30) == 10.0


def test_a_dropped_stream_reconnects_from_the_drop_and_resyncs() -> None:
    sinces: list[float | None] = []
    seen: list[EngineEvent] = []
    resyncs: list[float] = []
    disconnects: list[float] = []
    forever = threading.Event()

    def events(since: float | None) -> Iterator[EngineEvent]:
        sinces.append(since)
        if len(sinces) == 1:
            yield event(1)
            raise EngineError("the engine went away")
        if len(sinces) == 2:
            yield event(2)
            return  # the engine closed the stream
        yield event(3)
        forever.wait()

    watcher = EngineWatcher(
        events,
        seen.append,
        lambda: resyncs.append(time.monotonic()),
        resync_seconds=3600,
        on_disconnect=lambda: disconnects.append(time.monotonic()),
        backoff=lambda failures: 0.01 * failures,
        clock=lambda: 1000.0,
    )
    watcher.start()
    try:
        wait_until(lambda: len(seen) == 3 and len(resyncs) >= 2)
        assert [e.container_id for e in seen] == ["c1", "c2", "c3"]
        assert sinces == [None, 999.0, 999.0]
        assert len(disconnects) == 2
    finally:
        watcher.stop()
        forever.set()


def test_a_failing_handler_does_not_stop_the_stream() -> None:
    seen: list[str] = []

    def handle(e: EngineEvent) -> None:
        if e.container_id == "c1":
            raise RuntimeError("bug")
        seen.append(e.container_id)

    def events(since: float | None) -> Iterator[EngineEvent]:
        yield event(1)
        yield event(2)
        threading.Event().wait(5)

    watcher = EngineWatcher(events, handle, lambda: None, resync_seconds=3600)
    watcher.start()
    try:
        wait_until(lambda: seen == ["c2"])
    finally:
        watcher.stop()


def test_the_resync_runs_periodically_and_survives_a_failure() -> None:
    calls: list[int] = []

    def resync() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise EngineError("engine busy")

    def events(since: float | None) -> Iterator[EngineEvent]:
        threading.Event().wait(5)
        yield from ()

    watcher = EngineWatcher(events, lambda e: None, resync, resync_seconds=0.05)
    watcher.start()
    try:
        wait_until(lambda: len(calls) >= 3)
    finally:
        watcher.stop()
