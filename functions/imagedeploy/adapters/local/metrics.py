"""Local metrics (docs/architecture.md §20.3): a sampler thread and a SQLite file of samples.

Every ``interval`` seconds the sampler makes one list request (the installation's running
instances, with their service and instance labels) and one stats request per instance, and
stores each instance's CPU (cores used since its previous sample: the engine's cumulative CPU
time over the wall time between the two) and memory in ``<data dir>/metrics.db`` (0600; a file
of its own so sampling never contends with the state store's writer). Samples older than
``retention`` are deleted as new ones are written. Queries read one index range per service and
hand the samples to ``domain.metrics.series_from_samples``.

HTTP metrics come from the router's observed requests (``record_request``, on the router's
loop: appended to a list in memory, written with the next sample pass or before an HTTP query)
into a ``requests`` table of the same file, and ``domain.metrics.series_from_requests``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imagedeploy.adapters.local.datadir import create_private
from imagedeploy.adapters.local.engine import ContainerState, EngineError
from imagedeploy.adapters.local.periodic import Periodic
from imagedeploy.domain.metrics import (
    MetricQuery,
    RequestSample,
    Sample,
    Series,
    series_from_requests,
    series_from_samples,
)
from imagedeploy.domain.services import Service

_MAX_PENDING_REQUESTS = 100_000  # between two writes; beyond, requests are not counted

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS samples (
        service_id TEXT NOT NULL, at REAL NOT NULL, instance_id TEXT NOT NULL,
        cpu REAL, memory REAL NOT NULL, PRIMARY KEY (service_id, at, instance_id))""",
    "CREATE INDEX IF NOT EXISTS samples_by_age ON samples (at)",
    """CREATE TABLE IF NOT EXISTS requests (
        service_id TEXT NOT NULL, at REAL NOT NULL, status INTEGER NOT NULL,
        host TEXT NOT NULL, duration_ms REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS requests_by_service ON requests (service_id, at)",
    "CREATE INDEX IF NOT EXISTS requests_by_age ON requests (at)",
)

_INSERT = {  # a sample replaces one of the same instance and time; every request counts
    "samples": "INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?, ?)",
    "requests": "INSERT INTO requests VALUES (?, ?, ?, ?, ?)",
}


class MetricsStore:
    """Samples in one SQLite file over one kept connection, one thread at a time (a query
    reads one index range per service: a connection per read was a connect per service)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        create_private(path)
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        for statement in _SCHEMA:
            self._db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, samples: Sequence[Sample], *, keep_after: datetime) -> None:
        rows = [
            (s.service_id, s.at.timestamp(), s.instance_id, s.cpu, s.memory_bytes) for s in samples
        ]
        self._add("samples", rows, keep_after)

    def add_requests(self, requests: Sequence[RequestSample], *, keep_after: datetime) -> None:
        rows = [
            (r.service_id, r.at.timestamp(), r.status_code, r.host, r.duration_ms) for r in requests
        ]
        self._add("requests", rows, keep_after)

    def _add(self, table: str, rows: list[tuple[Any, ...]], keep_after: datetime) -> None:
        """Insert ``rows`` and delete the rows before ``keep_after``, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(_INSERT[table], rows)
                self._db.execute(f"DELETE FROM {table} WHERE at < ?", (keep_after.timestamp(),))  # noqa: S608
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def requests(self, service_id: str, start: datetime, end: datetime) -> Iterator[RequestSample]:
        rows = self._range(
            "SELECT at, status, host, duration_ms FROM requests "
            "WHERE service_id = ? AND at >= ? AND at < ?",
            service_id,
            start,
            end,
        )
        for at, status, host, duration_ms in rows:
            yield RequestSample(
                service_id, datetime.fromtimestamp(at, UTC), status, host, duration_ms
            )

    def samples(self, service_id: str, start: datetime, end: datetime) -> Iterator[Sample]:
        rows = self._range(
            "SELECT instance_id, at, cpu, memory FROM samples "
            "WHERE service_id = ? AND at >= ? AND at < ? ORDER BY at",
            service_id,
            start,
            end,
        )
        for instance_id, at, cpu, memory in rows:
            yield Sample(service_id, instance_id, datetime.fromtimestamp(at, UTC), cpu, memory)

    def _range(
        self, select: str, service_id: str, start: datetime, end: datetime
    ) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(
                select, (service_id, start.timestamp(), end.timestamp())
            ).fetchall()


@dataclass(frozen=True, slots=True)
class _Reading:
    cpu_ns: int
    at: float  # monotonic seconds


class MetricsSampler:
    """The ``Metrics`` port of ``serve``: samples the engine on a thread, answers from the
    store."""

    def __init__(
        self,
        store: MetricsStore,
        list_instances: Callable[[], list[ContainerState]],
        stats: Callable[[str], Mapping[str, Any]],
        *,
        interval_seconds: float,
        retention_seconds: float,
        service_label: str,
        instance_label: str,
    ) -> None:
        self._store = store
        self._list = list_instances
        self._stats = stats
        self._retention = retention_seconds
        self._service_label = service_label
        self._instance_label = instance_label
        self._previous: dict[str, _Reading] = {}  # container id -> its last CPU reading
        self._requests: list[RequestSample] = []  # observed, not yet written
        self._requests_lock = threading.Lock()
        self._sampler = Periodic(
            "metrics",
            interval_seconds,
            self.sample_once,
            failure="sampling metrics failed; trying again at the next interval",
        )

    def start(self) -> MetricsSampler:
        self._sampler.start()
        return self

    def stop(self) -> None:
        self._sampler.stop(10)

    def close(self) -> None:
        """Close the store (after ``stop``, once no query can come)."""
        self._store.close()

    def record_request(self, request: RequestSample) -> None:
        """Keep one observed request (cheap: the router's loop calls it)."""
        with self._requests_lock:
            if len(self._requests) < _MAX_PENDING_REQUESTS:
                self._requests.append(request)

    def flush_requests(self) -> None:
        with self._requests_lock:
            pending, self._requests = self._requests, []
        if pending:
            keep_after = datetime.fromtimestamp(time.time() - self._retention, UTC)
            self._store.add_requests(pending, keep_after=keep_after)

    def series(self, query: MetricQuery, services: Sequence[Service]) -> list[Series]:
        if query.metric.http:
            self.flush_requests()
            return series_from_requests(
                query,
                [
                    r
                    for svc in services
                    for r in self._store.requests(svc.id, query.start, query.end)
                ],
            )
        samples = [
            s for svc in services for s in self._store.samples(svc.id, query.start, query.end)
        ]
        return series_from_samples(query, samples)

    def sample_once(self) -> int:
        """One pass: one list, one stats request per running instance; returns the samples
        stored."""
        now = datetime.now(UTC)
        samples: list[Sample] = []
        seen: set[str] = set()
        for state in self._list():
            service_id = state.labels.get(self._service_label)
            if not service_id or not state.running:
                continue
            seen.add(state.id)
            try:
                doc = self._stats(state.id)
            except EngineError:
                continue  # it exited meanwhile
            reading = _cpu_reading(doc)
            memory = _memory_bytes(doc)
            if reading is None or memory is None:
                continue
            previous = self._previous.get(state.id)
            self._previous[state.id] = reading
            cpu = None
            if previous is not None and reading.at > previous.at:
                used = max(reading.cpu_ns - previous.cpu_ns, 0) / 1e9
                cpu = used / (reading.at - previous.at)
            instance_id = state.labels.get(self._instance_label) or state.name
            samples.append(Sample(service_id, instance_id, now, cpu, memory))
        for gone in set(self._previous) - seen:
            del self._previous[gone]
        keep_after = datetime.fromtimestamp(now.timestamp() - self._retention, UTC)
        self._store.add(samples, keep_after=keep_after)
        self.flush_requests()
        return len(samples)


def _cpu_reading(doc: Mapping[str, Any]) -> _Reading | None:
    usage = (doc.get("cpu_stats") or {}).get("cpu_usage") or {}
    total = usage.get("total_usage")
    if not isinstance(total, int):
        return None
    return _Reading(total, time.monotonic())


def _memory_bytes(doc: Mapping[str, Any]) -> float | None:
    usage = (doc.get("memory_stats") or {}).get("usage")
    return float(usage) if isinstance(usage, int | float) else None
