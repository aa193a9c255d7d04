"""``EngineWatcher``: the local runtime's eyes on its containers.

One connection to the engine's event stream for every container of this installation (die, oom,
stop, health_status), handed to the runtime as they come, and a full resync (one list request)
every ``resync_seconds`` as the safety net: correctness never depends on one event arriving.

When the stream drops (the engine service restarted, the connection cut) the watcher calls
``on_disconnect`` (``serve`` restarts the podman service it started, if it died), waits with
exponential backoff, reconnects asking for the events since the drop (podman and docker replay
them; a duplicate is harmless, every handler is idempotent) and resyncs at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from imagedeploy.adapters.local.engine import EngineEvent

logger = logging.getLogger(__name__)

#: A connection that lasted this long was healthy: the next drop starts the backoff again.
HEALTHY_CONNECTION_SECONDS = 30.0


def reconnect_backoff(failures: int, *, base: float = 0.25, cap: float = 10.0) -> float:
    """Seconds to wait before reconnecting after ``failures`` drops in a row."""
    return float(min(cap, base * 2 ** max(failures - 1, 0)))


class EngineWatcher:
    def __init__(
        self,
        events: Callable[[float | None], Iterator[EngineEvent]],
        on_event: Callable[[EngineEvent], None],
        resync: Callable[[], None],
        *,
        resync_seconds: float,
        on_disconnect: Callable[[], object] | None = None,
        backoff: Callable[[int], float] = reconnect_backoff,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._events = events
        self._on_event = on_event
        self._resync = resync
        self._resync_seconds = resync_seconds
        self._on_disconnect = on_disconnect
        self._backoff = backoff
        self._clock = clock
        self._stopping = threading.Event()
        self._resync_now = threading.Event()
        self._threads: list[threading.Thread] = []
        self.connections = 0  # how many times the stream was opened (tests, diagnostics)

    def start(self) -> None:
        for target, name in ((self._stream, "engine-events"), (self._resync_loop, "resync")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop both threads (a stream blocked in a read ends with the engine's client)."""
        self._stopping.set()
        self._resync_now.set()
        for thread in self._threads[1:]:  # the stream's thread may sit in a read: not joined
            thread.join(timeout)

    def resync_soon(self) -> None:
        self._resync_now.set()

    def _stream(self) -> None:
        since: float | None = None
        failures = 0
        while not self._stopping.is_set():
            opened = time.monotonic()
            self.connections += 1
            try:
                for event in self._events(since):
                    if self._stopping.is_set():
                        return
                    self._handle(event)
                why = "the engine closed the event stream"
            except Exception as exc:  # any failure: reconnect, never die
                why = f"the event stream failed ({type(exc).__name__})"
            if self._stopping.is_set():
                return
            since = self._clock() - 1.0
            healthy = time.monotonic() - opened >= HEALTHY_CONNECTION_SECONDS
            failures = 1 if healthy else failures + 1
            delay = self._backoff(failures)
            logger.warning("reconnecting to the engine", extra={"why": why, "retry_in_s": delay})
            if self._on_disconnect is not None:
                try:
                    self._on_disconnect()
                except Exception:
                    logger.exception("recovering the engine after a dropped event stream failed")
            if self._stopping.wait(delay):
                return
            self._resync_now.set()  # what happened while disconnected

    def _handle(self, event: EngineEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            logger.exception("handling an engine event failed", extra={"action": event.action})

    def _resync_loop(self) -> None:
        while True:
            self._resync_now.wait(self._resync_seconds)
            self._resync_now.clear()
            if self._stopping.is_set():
                return
            try:
                self._resync()
            except Exception:
                logger.warning("engine resync failed; retrying at the next one", exc_info=True)
