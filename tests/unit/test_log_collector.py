"""``LogCollector`` over a fake engine (events, list, multiplexed log frames) and a real
``SqliteLogStore``: which containers are followed, what each line is labelled, masking before
storage, and no line stored twice when a restarted collector follows a container again."""

from __future__ import annotations

import logging
import queue
import struct
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devkit.serve import wait_for
from imagedeploy.adapters.local.engine import ContainerState, EngineEvent
from imagedeploy.adapters.local.engine_api import demultiplex_frames
from imagedeploy.adapters.local.log_collector import JOB, LogCollector, parse_line, source_of
from imagedeploy.adapters.local.log_store import SqliteLogStore
from imagedeploy.adapters.local.runtime import DEPLOY, INSTALLATION, INSTANCE, MANAGED, ROLE, RUN
from imagedeploy.adapters.local.runtime import SERVICE as SERVICE_LABEL
from imagedeploy.domain.log_masking import NO_MASK, Masker, masker
from imagedeploy.domain.logs import LogType, parse_query

pytestmark = pytest.mark.unit

INSTALL = "ins-test"
T0 = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


def labels(role: str, **more: str) -> dict[str, str]:
    return {
        MANAGED: "1",
        INSTALLATION: INSTALL,
        SERVICE_LABEL: "srv-a",
        DEPLOY: "dep-1",
        ROLE: role,
        **more,
    }


def frame(stream: int, text: str) -> bytes:
    data = text.encode()
    return struct.pack(">BxxxI", stream, len(data)) + data


def stamped(seconds: int, text: str) -> str:
    moment = (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", ".000000001Z")
    return f"{moment} {text}\n"


class FakeEngine:
    """Containers with their output; ``start`` puts a start event on the stream."""

    def __init__(self) -> None:
        self.output: dict[str, list[tuple[int, str]]] = {}
        self.labels: dict[str, dict[str, str]] = {}
        self.events_queue: queue.Queue[EngineEvent] = queue.Queue()
        self.since: dict[str, float | None] = {}
        self.streams: list[str] = []  # the containers whose output was asked for, in order
        self.running: dict[str, threading.Event] = {}  # set: the container exits

    def start(
        self, container: str, container_labels: dict[str, str], lines: list[tuple[int, str]]
    ) -> None:
        self.output[container] = lines
        self.labels[container] = container_labels
        self.events_queue.put(EngineEvent("start", container, container_labels))

    def events(
        self, label_filter: Mapping[str, str], *, since: float | None = None
    ) -> Iterator[EngineEvent]:
        while True:
            yield self.events_queue.get()

    def list(self, label_filter: Mapping[str, str], *, all: bool = True) -> list[ContainerState]:
        return [
            ContainerState(cid, cid, labels_, True, None, False, None, None, "running")
            for cid, labels_ in self.labels.items()
        ]

    def stream_log_frames(
        self, container: str, *, follow: bool, since: float | None = None
    ) -> Iterator[tuple[int, bytes]]:
        self.since[container] = since
        self.streams.append(container)
        if container in self.running:  # followed while it runs: the stream ends when it exits
            self.running[container].wait(10)
        raw = b"".join(frame(stream, text) for stream, text in self.output[container])
        # frames split across reads, as a socket delivers them
        yield from demultiplex_frames(raw[i : i + 7] for i in range(0, len(raw), 7))


def collector(
    engine: FakeEngine,
    store: SqliteLogStore,
    maskers: dict[str, Masker],
    queue_lines: int = 100_000,
) -> LogCollector:
    return LogCollector(
        engine,
        store,
        lambda resource: maskers.get(resource, NO_MASK),
        installation=INSTALL,
        retention=timedelta(days=7),
        max_bytes=1 << 30,
        resync_seconds=3600,
        queue_lines=queue_lines,
    )


class HeldStore(SqliteLogStore):
    """A log store whose first ``append`` waits for ``release``: a writer that fell behind."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = threading.Event()

    def append(self, lines: Any) -> None:
        self.release.wait(10)
        super().append(lines)


def all_lines(store: SqliteLogStore) -> list[tuple[str, str, str, str]]:
    query = parse_query(
        owner_id="t",
        resources=["srv-a"],
        start=T0 - timedelta(hours=1),
        end=T0 + timedelta(hours=1),
        direction="forward",
        limit=100,
        now=T0,
        filters={},
    )
    return [(x.instance, x.type.value, x.stream, x.message) for x in store.query(query, {}).lines]


def test_source_of_every_role() -> None:
    assert (
        source_of(labels("instance", **{INSTANCE: "srv-a-abcde"}), "c1").instance == "srv-a-abcde"
    )
    assert source_of(labels("cron", **{RUN: "crn-run1"}), "c1").instance == "crn-run1"  # type: ignore[union-attr]
    assert source_of(labels("job", **{JOB: "job-1"}), "c1").instance == "job-1"  # type: ignore[union-attr]
    build = source_of(labels("pre_deploy"), "c1")
    assert build is not None and build.instance == "dep-1" and build.type is LogType.BUILD
    assert source_of({MANAGED: "1"}, "c1") is None  # not a service's container


def test_lines_are_collected_labelled_masked_and_never_stored_twice(tmp_path: Path) -> None:
    store = SqliteLogStore(tmp_path / "logs.sqlite")
    engine = FakeEngine()
    maskers = {"srv-a": masker({"DB_PASSWORD": "hunter2-pw"})}
    first = collector(engine, store, maskers).start()
    engine.start(
        "c-web",
        labels("instance", **{INSTANCE: "srv-a-abcde"}),
        [(1, stamped(1, "hello")), (2, stamped(2, "ERROR pw=hunter2-pw")), (1, stamped(3, "bye"))],
    )
    engine.start("c-cron", labels("cron", **{RUN: "run-1"}), [(1, stamped(4, "tick"))])
    wait_for(lambda: len(all_lines(store)) == 4, 10, "four lines stored")
    assert all_lines(store) == [
        ("srv-a-abcde", "app", "stdout", "hello"),
        ("srv-a-abcde", "app", "stderr", "ERROR pw=********"),
        ("srv-a-abcde", "app", "stdout", "bye"),
        ("run-1", "app", "stdout", "tick"),
    ]
    assert b"hunter2-pw" not in (tmp_path / "logs.sqlite").read_bytes()
    first.stop()
    # a restarted collector follows the same container again: from its newest kept line on
    second = collector(engine, store, maskers).start()
    engine.output["c-web"].append((1, stamped(5, "after restart")))
    engine.events_queue.put(EngineEvent("start", "c-web", engine.labels["c-web"]))
    wait_for(lambda: len(all_lines(store)) == 5, 10, "the new line stored")
    assert engine.since["c-web"] == (T0 + timedelta(seconds=3)).timestamp()
    assert [m for *_, m in all_lines(store)].count("hello") == 1
    second.stop()


def test_parse_line_keeps_microseconds_and_falls_back() -> None:
    moment, text = parse_line(b"2026-01-02T12:00:01.123456789Z hi there\n", T0)
    assert moment == T0 + timedelta(seconds=1, microseconds=123456) and text == "hi there"
    assert parse_line(b"no stamp", T0) == (T0, "no stamp")


def test_a_container_that_exited_before_it_was_followed_is_read_before_its_removal(
    tmp_path: Path,
) -> None:
    """Under load a short run's container can exit, and the runtime remove it, before the
    collector handles its start event: ``drain`` (the runtime's ``before_remove``) reads it."""
    store = SqliteLogStore(tmp_path / "logs.sqlite")
    engine = FakeEngine()
    running = collector(engine, store, {}).start()
    job = labels("job", **{JOB: "job-1"})
    engine.output["c-job"] = [(1, stamped(1, "done quickly"))]  # no start event handled yet
    running.drain("c-job", job)
    wait_for(lambda: all_lines(store), 10, "the job's line stored")
    assert all_lines(store) == [("job-1", "app", "stdout", "done quickly")]
    engine.labels["c-job"] = job
    engine.events_queue.put(EngineEvent("start", "c-job", job))  # the late event
    wait_for(lambda: engine.streams.count("c-job") == 2, 10, "the late follower")
    assert engine.since["c-job"] == (T0 + timedelta(seconds=1)).timestamp()  # after the drain
    running.stop()
    assert all_lines(store) == [("job-1", "app", "stdout", "done quickly")]


def test_drain_waits_for_the_follower_of_a_container_until_its_stream_ends(tmp_path: Path) -> None:
    store = SqliteLogStore(tmp_path / "logs.sqlite")
    engine = FakeEngine()
    running = collector(engine, store, {}).start()
    engine.running["c-web"] = exited = threading.Event()
    engine.start("c-web", labels("instance", **{INSTANCE: "srv-a-x"}), [(1, stamped(1, "bye"))])
    wait_for(lambda: engine.streams == ["c-web"], 10, "the follower")
    drained = threading.Thread(target=running.drain, args=("c-web", None))
    drained.start()
    drained.join(0.3)
    assert drained.is_alive()  # the follower still reads: the removal waits
    exited.set()
    drained.join(10)
    assert not drained.is_alive()
    assert engine.streams == ["c-web"]  # waited for, not read a second time
    wait_for(lambda: all_lines(store), 10, "the line stored")
    running.stop()


def test_lines_dropped_behind_a_slow_writer_are_counted_and_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = HeldStore(tmp_path / "logs.sqlite")
    engine = FakeEngine()
    running = collector(engine, store, {}, queue_lines=5).start()
    flood = [(1, stamped(i, f"line {i}")) for i in range(200)]
    engine.start("c-web", labels("instance", **{INSTANCE: "srv-a-x"}), flood)
    wait_for(lambda: running.dropped > 0 and engine.streams, 10, "lines dropped")
    wait_for(lambda: "c-web" not in running._following, 10, "the flood read")
    with caplog.at_level(logging.WARNING, logger="imagedeploy.adapters.local.log_collector"):
        store.release.set()
        wait_for(lambda: caplog.records, 10, "the drop warning")
    [warning] = caplog.records
    assert "log lines dropped" in warning.getMessage()
    stored = len(all_lines(store))
    assert warning.dropped == running.dropped == 200 - stored  # type: ignore[attr-defined]
    running.stop()
