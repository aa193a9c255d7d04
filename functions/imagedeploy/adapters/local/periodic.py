"""``Periodic``: one daemon thread that calls an action every interval until stopped (the
metrics sampler, the log retention pass, ``serve``'s periodic reconcile)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Periodic:
    """``action()`` every ``interval_seconds`` (the first one interval after ``start``) until
    ``stop``. An exception is logged with ``failure`` and the next interval tries again."""

    def __init__(
        self, name: str, interval_seconds: float, action: Callable[[], object], *, failure: str
    ) -> None:
        self._interval = interval_seconds
        self._action = action
        self._failure = failure
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self, timeout: float) -> None:
        """No more calls; waits up to ``timeout`` for one in progress (none if never started)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self._action()
            except Exception:
                logger.exception(self._failure)
