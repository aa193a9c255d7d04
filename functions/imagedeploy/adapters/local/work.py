"""``WorkQueue``: a fixed number of worker threads over a bounded queue.

The local runtime keeps two: one for rollouts and service operations, one for cron runs and
pre-deploy commands, so a flood of runs cannot delay a deploy. Nothing queued here waits for a
container to exit (ends come from the engine's event stream), so a worker is busy only for the
engine requests an operation makes. A full queue refuses work (``RuntimeBusy``) instead of
growing without bound: the caller's job is retried with backoff, and the periodic resync repairs
what an event handler could not queue.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from imagedeploy.adapters.local.engine import EngineError

logger = logging.getLogger(__name__)

_Item = tuple[Callable[..., None], tuple[Any, ...]]


class RuntimeBusy(EngineError):
    """The runtime's queue for this kind of work is full; try again later."""

    code = "runtime_busy"


class WorkQueue:
    def __init__(self, name: str, *, workers: int, capacity: int) -> None:
        self.name = name
        self._queue: queue.Queue[_Item | None] = queue.Queue(capacity)
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(workers)
        ]
        self._stopping = threading.Event()
        for thread in self._threads:
            thread.start()

    def submit(self, operation: Callable[..., None], *args: Any) -> None:
        """Queue ``operation(*args)``; ``RuntimeBusy`` when the queue is full or stopping."""
        if self._stopping.is_set():
            raise RuntimeBusy(f"the runtime's {self.name} queue is stopping")
        try:
            self._queue.put_nowait((operation, args))
        except queue.Full:
            raise RuntimeBusy(
                f"the runtime's {self.name} queue is full ({self._queue.maxsize} waiting); "
                "retry later"
            ) from None

    def pending(self) -> int:
        return self._queue.qsize()

    def stop(self) -> None:
        """Drop what waits; running operations finish; workers end."""
        self._stopping.set()
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:  # a submit raced in; that worker will see the flag next
                break

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._stopping.is_set():
                return
            operation, args = item
            try:
                operation(*args)
            except Exception:  # a worker must never die silently
                extra = {"operation": getattr(operation, "__name__", "?"), "queue": self.name}
                if self._stopping.is_set():
                    # ``stop`` does not wait for it (a drain may last minutes) and the engine's
                    # client is closed next: not a failure; the next start's resume repairs it.
                    logger.info("runtime operation cut short by the stop", extra=extra)
                else:
                    logger.exception("runtime operation failed", extra=extra)
