"""``LogCollector``: ``serve`` keeps what every container of its services writes.

Which containers: every container of this installation that carries the service label, whatever
its role — instances, pre-deploy commands (``build`` lines), cron runs, one-off jobs. The
instance id of a line is the container's instance label, or its run / job / deploy id.

How: an ``EngineWatcher`` of its own (one more event-stream connection, so the runtime's stays
untouched) starts following a container when the engine says it started, and its resync (one
list request every ``resync_seconds``, and at start) picks up anything missed — containers that
ran while ``serve`` was down resume from their last kept line (``since``), nothing twice.
Following is one engine logs request per container (``follow=true``, with timestamps), read by a
thread: a blocked read costs a thread but no CPU, and the number of followers is bounded
(``max_followers``); a container beyond the bound is picked up by a later resync once one ends.
Lines go through one queue to one writer thread that masks them (``domain.log_masking``) and
stores them in batches (``SqliteLogStore.append``, one transaction per batch); a full queue
drops lines rather than block a follower (counted in ``dropped``). A retention pass runs every
``retention_interval_seconds``.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from imagedeploy.adapters.local.engine import ContainerState, EngineEvent
from imagedeploy.adapters.local.log_store import SqliteLogStore, masked_line
from imagedeploy.adapters.local.periodic import Periodic
from imagedeploy.adapters.local.runtime import (
    DEPLOY,
    INSTANCE,
    JOB,
    ROLE,
    RUN,
    installation_filter,
)
from imagedeploy.adapters.local.runtime import SERVICE as SERVICE_LABEL
from imagedeploy.adapters.local.watcher import EngineWatcher
from imagedeploy.domain.log_masking import Masker
from imagedeploy.domain.logs import LogLine, LogType, detect_level

logger = logging.getLogger(__name__)

_MAX_LINE = 16 * 1024  # longer lines are cut (the engine splits them at 16 KiB anyway)
_BATCH = 2000
_MASKER_TTL_SECONDS = 10.0  # env changes reach masking within this long


class LogEngine(Protocol):
    """What the collector needs of the engine (``EngineApi``)."""

    def events(
        self, label_filter: Mapping[str, str], *, since: float | None = None
    ) -> Iterator[EngineEvent]: ...
    def list(
        self, label_filter: Mapping[str, str], *, all: bool = True
    ) -> list[ContainerState]: ...
    def stream_log_frames(
        self, container: str, *, follow: bool, since: float | None = None
    ) -> Iterator[tuple[int, bytes]]: ...


@dataclass(frozen=True, slots=True)
class Source:
    """Whose lines a container writes."""

    resource: str
    instance: str
    type: LogType
    deploy: str = ""  # the deploy whose settings (env) the container runs with


def source_of(labels: Mapping[str, str], container_id: str) -> Source | None:
    """The resource and instance of a container's lines, from its labels; None when it is not
    a service's container."""
    resource = labels.get(SERVICE_LABEL)
    if not resource:
        return None
    role = labels.get(ROLE, "")
    instance = (
        labels.get(INSTANCE)
        or labels.get(RUN)
        or labels.get(JOB)
        or (labels.get(DEPLOY) if role == "pre_deploy" else None)
        or container_id[:12]
    )
    kind = LogType.BUILD if role == "pre_deploy" else LogType.APP
    return Source(resource, instance, kind, labels.get(DEPLOY, ""))


def parse_line(raw: bytes, fallback: datetime) -> tuple[datetime, str]:
    """A line as the engine sends it with timestamps (``2024-01-02T03:04:05.123456789Z text``):
    its time (to the microsecond) and text; ``fallback`` when it carries no timestamp."""
    text = raw[:_MAX_LINE].decode("utf-8", "replace").rstrip("\r\n")
    stamp, _, rest = text.partition(" ")
    try:
        return _parse_stamp(stamp), rest
    except ValueError:
        return fallback, text


def _parse_stamp(stamp: str) -> datetime:
    match = _STAMP.fullmatch(stamp)
    if match is None:
        raise ValueError(stamp)
    whole, fraction, zone = match.groups()
    micros = ((fraction or "") + "000000")[:6]
    offset = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{whole}.{micros}{offset}").astimezone(UTC)


_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


class LogCollector:
    def __init__(
        self,
        engine: LogEngine,
        store: SqliteLogStore,
        masker_for: Callable[[str], Masker],
        *,
        installation: str,
        retention: timedelta,
        max_bytes: int,
        max_followers: int = 512,
        resync_seconds: float = 60.0,
        retention_interval_seconds: float = 300.0,
        queue_lines: int = 100_000,
    ) -> None:
        self._engine = engine
        self._store = store
        self._masker_for = masker_for
        self._mine = installation_filter(installation)
        self._retention = retention
        self._max_bytes = max_bytes
        self._max_followers = max_followers
        self._queue: queue.Queue[tuple[LogLine, str]] = queue.Queue(queue_lines)
        self._lock = threading.Lock()
        self._following: set[str] = set()
        self._follower_ended = threading.Condition(self._lock)
        # the newest line read per container: a container followed again (its stream broke)
        # resumes after it even before the writer has stored it
        self._last_read: dict[str, datetime] = {}
        self._maskers: dict[tuple[str, str], tuple[float, Masker]] = {}
        self._stopping = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name="log-writer", daemon=True)
        self._retention_pass = Periodic(
            "log-retain",
            retention_interval_seconds,
            self._enforce_retention,
            failure="enforcing the log retention failed; retrying later",
        )
        self.dropped = 0  # lines dropped because the writer fell behind
        self._dropped_reported = 0
        self._next_drop_report = 0.0  # monotonic: a drop warning at most once a minute
        self._watcher = EngineWatcher(
            lambda since: engine.events(self._mine, since=since),
            self._on_event,
            self._resync,
            resync_seconds=resync_seconds,
        )

    def start(self) -> LogCollector:
        self._writer.start()
        self._retention_pass.start()
        self._watcher.start()
        self._watcher.resync_soon()  # follow what already runs
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._watcher.stop()
        if self._writer.is_alive():
            self._writer.join(timeout=5)
        self._retention_pass.stop(5)

    # -- which containers ------------------------------------------------------------------------
    def _on_event(self, event: EngineEvent) -> None:
        if event.action == "start":
            self._follow(event.container_id, event.labels)

    def _resync(self) -> None:
        running = [s for s in self._engine.list(self._mine, all=False) if s.running]
        with self._lock:
            alive = {s.id for s in running} | self._following
            self._last_read = {k: v for k, v in self._last_read.items() if k in alive}
        for state in running:
            self._follow(state.id, state.labels)

    def _follow(self, container_id: str, labels: Mapping[str, str]) -> None:
        source = source_of(labels, container_id)
        if source is None or not container_id:
            return
        with self._lock:
            if container_id in self._following:
                return
            if len(self._following) >= self._max_followers:
                logger.warning(
                    "not following a container's output: too many followed already",
                    extra={"container": container_id[:12], "max": self._max_followers},
                )
                return
            self._following.add(container_id)
        thread = threading.Thread(
            target=self._read, args=(container_id, source), name="log-follow", daemon=True
        )
        thread.start()

    def drain(
        self, container_id: str, labels: Mapping[str, str] | None, timeout: float = 5.0
    ) -> None:
        """Before the runtime removes an exited container: have all its output read, however
        quickly it ran. A follower still reading it is waited for (its stream ends with the
        container); a container no follower reached (it exited before its start event was
        handled, e.g. under load) is read now, from the newest line kept."""
        if self._stopping.is_set():
            return
        with self._follower_ended:
            if container_id in self._following:
                self._follower_ended.wait_for(lambda: container_id not in self._following, timeout)
                return
            source = source_of(labels or {}, container_id)
            if source is None or not container_id:
                return
            self._following.add(container_id)
        self._read(container_id, source)

    # -- reading a container -------------------------------------------------------------------
    def _read(self, container_id: str, source: Source) -> None:
        newest: datetime | None = None  # the newest line read
        try:
            stored = self._store.last_timestamp(source.resource, source.instance)
            with self._lock:
                read = self._last_read.get(container_id)
            last = max((t for t in (stored, read) if t is not None), default=None)
            since = last.timestamp() if last is not None else None
            pending = {1: b"", 2: b""}
            for stream, payload in self._engine.stream_log_frames(
                container_id, follow=True, since=since
            ):
                if self._stopping.is_set():
                    return
                data = pending.get(stream, b"") + payload
                *complete, rest = data.split(b"\n")
                pending[stream] = rest[: _MAX_LINE * 2]
                for raw in complete:
                    newest = self._emit(source, stream, raw, last) or newest
            for stream, rest in pending.items():
                if rest:
                    newest = self._emit(source, stream, rest, last) or newest
        except Exception as exc:  # the container went away, the engine restarted: resync retries
            logger.debug("following a container's output ended", extra={"why": repr(exc)})
        finally:
            # Kept when the follower ends (not per line): only a later follower reads it, and
            # it starts only once this one is out of ``_following``.
            with self._follower_ended:
                if newest is not None:
                    self._last_read[container_id] = newest
                self._following.discard(container_id)
                self._follower_ended.notify_all()

    def _emit(
        self, source: Source, stream: int, raw: bytes, last: datetime | None
    ) -> datetime | None:
        """Queue one line read; its time, or None when it was kept (or read) before."""
        timestamp, text = parse_line(raw, datetime.now(UTC))
        if last is not None and timestamp <= last:
            return None  # this container was followed already
        line = LogLine(
            id="",
            timestamp=timestamp,
            resource=source.resource,
            instance=source.instance,
            type=source.type,
            level=detect_level(text),
            message=text,
            stream="stderr" if stream == 2 else "stdout",
        )
        try:
            self._queue.put_nowait((line, source.deploy))
        except queue.Full:
            self.dropped += 1
        return timestamp

    def add_line(self, line: LogLine) -> None:
        """Store a line that does not come from a container (the router's request lines);
        dropped, like any line, when the writer falls behind."""
        try:
            self._queue.put_nowait((line, ""))
        except queue.Full:
            self.dropped += 1

    # -- writing -------------------------------------------------------------------------------
    def _masker(self, resource: str, deploy: str, now: float) -> Masker:
        """The service's masker, read again for a new deploy (new env) and every few seconds
        (``now``: monotonic seconds)."""
        cached = self._maskers.get((resource, deploy))
        if cached is None or now - cached[0] > _MASKER_TTL_SECONDS:
            if len(self._maskers) > 10_000:
                self._maskers.clear()
            cached = (now, self._masker_for(resource))
            self._maskers[(resource, deploy)] = cached
        return cached[1]

    def _write_loop(self) -> None:
        while not self._stopping.is_set() or not self._queue.empty():  # stored before stop
            try:
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                now = time.monotonic()
                masked = [
                    masked_line(line, self._masker(line.resource, deploy, now))
                    for line, deploy in batch
                ]
                self._store.append(masked)
            except Exception:
                logger.exception("storing log lines failed; %d lines lost", len(batch))
            self._report_dropped()

    def _report_dropped(self) -> None:
        """Warn (at most once a minute) when lines were dropped since the last warning."""
        dropped, now = self.dropped, time.monotonic()
        if dropped > self._dropped_reported and now >= self._next_drop_report:
            logger.warning(
                "log lines dropped: containers print faster than the log store keeps up",
                extra={"dropped": dropped - self._dropped_reported, "dropped_total": dropped},
            )
            self._dropped_reported, self._next_drop_report = dropped, now + 60

    def _enforce_retention(self) -> None:
        self._store.enforce_retention(
            oldest=datetime.now(UTC) - self._retention, max_bytes=self._max_bytes
        )
