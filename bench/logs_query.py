"""Benchmark: query latency over a 1 GB log store (``serve``'s ``logs.sqlite``).

The store is generated directly into a ``SqliteLogStore`` file (not by containers: 1 GB of
output would take hours to print): ``--resources`` services' lines spread over the last 7 days,
~130-byte app lines of words, ids and numbers, until the file's used size reaches ``--gb``
(the trigram index included). Two markers are planted: a rare one (one line in 100,000) and a
common one (one line in 100).

Each query runs ``--reps`` times through ``SqliteLogStore.query`` (what ``GET /v1/logs`` calls
after its access check), limit 100, and reports p50/p99 in ms:

- baseline: the newest 100 lines of one service in the last hour (the default query: the
  (resource, timestamp) index only);
- the same service over 7 days, text = the rare marker (the trigram index);
- text = the common marker; text = a word every line has; the common marker on a service that
  has none (the worst case: the whole range is read); the rare marker over all 10 services;
- a regular expression (no index: lines read and matched) over the last hour, and over 7 days.

    .venv/bin/python -m bench.logs_query [--gb 1.0] [--reps 30] [--keep PATH]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from imagedeploy.adapters.local.log_store import SqliteLogStore
from imagedeploy.domain.logs import LogLine, LogQuery, LogType, detect_level, parse_query

WORDS = [
    "GET",
    "POST",
    "order",
    "user",
    "payment",
    "cache",
    "miss",
    "hit",
    "worker",
    "job",
    "queue",
    "retry",
    "timeout",
    "connected",
    "request",
    "handled",
    "session",
    "token",
    "refresh",
    "upstream",
    "latency",
    "db",
    "query",
    "rows",
    "shard",
    "replica",
    "started",
    "finished",
    "scheduled",
    "item",
    "batch",
    "commit",
    "rollback",
    "checkout",
    "cart",
    "invoice",
    "email",
]
RARE = "zq-rare-marker"
COMMON = "xk-common-marker"
SPAN = timedelta(days=7)
ALL = tuple(f"srv-bench{i:02d}" for i in range(10))


def _message(rng: random.Random, n: int) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(12))
    # markers and errors land on srv-bench03 (n % 10 == 3), the service queried
    marker = RARE if n % 100_000 == 73 else COMMON if n % 100 == 3 else ""
    level = "ERROR " if n % 50 == 13 else ""
    return f"{level}{words} id={rng.getrandbits(48):012x} took {rng.randint(1, 999)}ms {marker}"


def generate(store: SqliteLogStore, gb: float, resources: int, now: datetime) -> int:
    rng = random.Random(7)
    target = int(gb * 1024**3)
    batch_size, total = 20_000, 0
    per_line = SPAN / (target / 560)  # a line takes ~560 bytes with its indexes: 7 days
    while store.used_bytes() < target:
        batch = []
        for _ in range(batch_size):
            message = _message(rng, total)
            batch.append(
                LogLine(
                    id="",
                    timestamp=now - SPAN + per_line * total,
                    resource=f"srv-bench{total % resources:02d}",
                    instance=f"srv-bench{total % resources:02d}-{total % 3}",
                    type=LogType.APP,
                    level=detect_level(message),
                    message=message,
                )
            )
            total += 1
        store.append(batch)
    return total


def _time(run: Callable[[], object], reps: int) -> tuple[float, float, int]:
    samples, found = [], 0
    for _ in range(reps):
        started = time.perf_counter()
        result = run()
        samples.append((time.perf_counter() - started) * 1000)
        found = len(getattr(result, "lines", ()))
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--resources", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="reuse/keep the store file at this path")
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    directory = Path(tempfile.mkdtemp(prefix="logs-bench-"))
    path = args.keep or directory / "logs.sqlite"
    store = SqliteLogStore(path)
    started = time.perf_counter()
    if store.used_bytes() < args.gb * 1024**3 * 0.95:
        lines = generate(store, args.gb, args.resources, now)
        took = time.perf_counter() - started
        print(f"generated {lines:,} lines, {store.used_bytes() / 1024**3:.2f} GiB in {took:.0f} s")
    newest = store._reader().execute("SELECT max(ts) FROM lines").fetchone()[0]
    end = datetime.fromtimestamp(newest / 1e6, UTC) + timedelta(seconds=1)
    count = store._reader().execute("SELECT max(id) FROM lines").fetchone()[0]
    print(f"store: {path} {store.used_bytes() / 1024**3:.2f} GiB used, {count:,} lines")

    def query(
        window: timedelta, resources: tuple[str, ...] = ("srv-bench03",), **filters: list[str]
    ) -> LogQuery:
        return parse_query(
            owner_id="tea-bench",
            resources=list(resources),
            start=end - window,
            end=end,
            direction=None,
            limit=100,
            now=end,
            filters=filters,
        )

    cases = [
        ("baseline: newest 100, last hour", query(timedelta(hours=1))),
        ("text rare marker, 7 days", query(SPAN, text=[RARE])),
        ("text common marker (1%), 7 days", query(SPAN, text=[COMMON])),
        ("text in every line ('took'), 7 days", query(SPAN, text=["took"])),
        (
            "text common elsewhere, absent here, 7 days",
            query(SPAN, ("srv-bench05",), text=[COMMON]),
        ),
        ("all 10 services, text rare marker, 7 days", query(SPAN, ALL, text=[RARE])),
        ("all 10 services, baseline, last hour", query(timedelta(hours=1), ALL)),
        ("level=error, 7 days", query(SPAN, level=["error"])),
        ("regex (no index), last hour", query(timedelta(hours=1), text=[r"/id=0000\w+/"])),
        ("regex (no index), 7 days", query(SPAN, text=[r"/id=0000\w+/"])),
    ]
    print(f"\n| query (one service of {args.resources}, limit 100) | p50 ms | p99 ms | lines |")
    print("|---|---:|---:|---:|")
    for name, q in cases:
        p50, p99, found = _time(lambda q=q: store.query(q, {}), args.reps)
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {found} |")
    store.close()


if __name__ == "__main__":
    main()
