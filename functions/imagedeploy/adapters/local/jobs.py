"""``ThreadJobs``: the ``Jobs`` port in one process, a thread-safe queue and N worker threads.

- Jobs of one subject (a deploy id, a service id) run one at a time, in the order they were
  enqueued; jobs of different subjects run in parallel. Two jobs of one deploy at once would
  only make one of them lose a version check and retry.
- An identical job (same kind and subject) already waiting to run is not queued twice.
- A job that raises is retried after ``backoff(attempt)`` seconds (exponential by default),
  without holding a worker while it waits and without holding back other jobs of its subject;
  after ``max_attempts`` it is logged as dead and dropped: the periodic reconcile repairs what
  matters.
- ``stop`` lets running jobs finish and leaves queued ones: they live only in memory, and the
  reconcile pass on the next start derives them again from the store.

Logs are structured and never carry a job's payload beyond its kind and subject, nor an
exception message unless it is one of ours (``ImagedeployError`` messages never hold secrets).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from imagedeploy.domain.errors import ImagedeployError
from imagedeploy.ports import Job

logger = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
DEFAULT_MAX_ATTEMPTS = 5


def exponential_backoff(attempt: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Seconds to wait after the ``attempt``-th failure: 1, 2, 4, 8 ... capped at ``cap``."""
    return float(min(cap, base * 2 ** max(attempt - 1, 0)))


@dataclass(slots=True)
class _Entry:
    job: Job
    failures: int = 0  # how many times it has raised so far


class ThreadJobs:
    """An in-memory, at-least-once-while-running job queue (see the module docstring).

    Jobs may be enqueued before ``start`` (they run once it is called) and from inside a job.
    """

    def __init__(
        self,
        handler: Callable[[Job], None],
        *,
        workers: int = DEFAULT_WORKERS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: Callable[[int], float] = exponential_backoff,
        clock: Callable[[], float] = time.monotonic,
        name: str = "imagedeploy-jobs",
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        self._handler = handler
        self._workers = workers
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._clock = clock
        self._name = name
        self._cond = threading.Condition()
        # Invariant: a subject is in ``_runnable`` exactly when it has waiting entries and no
        # job of it is running.
        self._waiting: dict[str, deque[_Entry]] = {}
        self._runnable: deque[str] = deque()
        self._running: set[str] = set()
        self._delayed: list[tuple[float, int, _Entry]] = []  # heap of (due, seq, entry)
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._stopping = False

    # -- the port -------------------------------------------------------------------------------

    def enqueue(self, job: Job, delay_seconds: int = 0) -> None:
        with self._cond:
            if self._stopping:
                logger.warning(
                    "job dropped: the queue is stopping",
                    extra={"job_kind": job.kind, "subject": job.subject},
                )
                return
            if delay_seconds > 0:
                due = self._clock() + delay_seconds
                heapq.heappush(self._delayed, (due, next(self._seq), _Entry(job)))
                self._cond.notify_all()
                return
            waiting = self._waiting.get(job.subject)
            if waiting is not None and any(entry.job == job for entry in waiting):
                return  # the same work is already waiting to run
            self._add(_Entry(job))

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker threads (once)."""
        with self._cond:
            if self._started:
                raise RuntimeError("ThreadJobs.start called twice")
            self._started = True
            for index in range(self._workers):
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{index}", daemon=True
                )
                self._threads.append(thread)
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Let running jobs finish, start no new one, and wait up to ``timeout`` seconds in all
        for the workers to end. Queued jobs are left (and dropped with the process). True when
        every worker has ended."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            left = len(self.pending())
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        stopped = not any(thread.is_alive() for thread in self._threads)
        logger.info("job queue stopped", extra={"left_queued": left, "stopped": stopped})
        return stopped

    def join_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued, backing off or running (tests). False on timeout."""
        with self._cond:
            return self._cond.wait_for(self._idle, timeout)

    def pending(self) -> list[Job]:
        """The jobs waiting to run or to be retried (not those running)."""
        with self._cond:
            waiting = [entry.job for entries in self._waiting.values() for entry in entries]
            return waiting + [entry.job for _, _, entry in sorted(self._delayed)]

    # -- internals (``_cond`` held unless said otherwise) ---------------------------------------

    def _idle(self) -> bool:
        return not self._waiting and not self._delayed and not self._running

    def _add(self, entry: _Entry) -> None:
        subject = entry.job.subject
        waiting = self._waiting.setdefault(subject, deque())
        waiting.append(entry)
        if len(waiting) == 1 and subject not in self._running:
            self._runnable.append(subject)
        self._cond.notify_all()

    def _release_due(self) -> float | None:
        """Move retries that are due back to the queue; the seconds until the next one."""
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, entry = heapq.heappop(self._delayed)
            self._add(entry)
        return self._delayed[0][0] - now if self._delayed else None

    def _take(self) -> _Entry | None:
        """The next job to run (marking its subject running), waiting for one; None once the
        queue is stopping."""
        while not self._stopping:
            wait = self._release_due()
            if self._runnable:
                subject = self._runnable.popleft()
                waiting = self._waiting[subject]
                entry = waiting.popleft()
                if not waiting:
                    del self._waiting[subject]
                self._running.add(subject)
                return entry
            self._cond.wait(wait)
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                entry = self._take()
            if entry is None:
                return
            error = self._run(entry)  # without the lock
            with self._cond:
                self._finish(entry, error)

    def _run(self, entry: _Entry) -> Exception | None:
        try:
            self._handler(entry.job)
        except Exception as exc:
            return exc
        return None

    def _finish(self, entry: _Entry, error: Exception | None) -> None:
        subject = entry.job.subject
        self._running.discard(subject)
        if self._waiting.get(subject):
            self._runnable.append(subject)
        if error is not None:
            entry.failures += 1
            fields = _log_fields(entry, error)
            if entry.failures >= self._max_attempts:
                logger.error("job dead: dropped after its last attempt", extra=fields)
            else:
                delay = max(0.0, self._backoff(entry.failures))
                logger.warning("job failed; retrying", extra={**fields, "retry_in_s": delay})
                heapq.heappush(self._delayed, (self._clock() + delay, next(self._seq), entry))
        self._cond.notify_all()


def _log_fields(entry: _Entry, error: Exception) -> dict[str, object]:
    fields: dict[str, object] = {
        "job_kind": entry.job.kind,
        "subject": entry.job.subject,
        "attempts": entry.failures,
        "error_type": type(error).__name__,
    }
    if isinstance(error, ImagedeployError):
        fields["error"] = error.message
    return fields
