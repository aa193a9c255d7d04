"""``CloudWatchLogReader`` under moto: the log groups ECS writes (awslogs) read back with
Render's query rules, answering what ``serve``'s SQLite store answers for the same lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devkit.moto_aws import Aws
from imagedeploy.adapters.aws.cloudwatch_logs import CloudWatchLogReader
from imagedeploy.adapters.local.log_store import SqliteLogStore
from imagedeploy.domain.log_masking import masker
from imagedeploy.domain.logs import LogLine, LogPage, LogQuery, LogType, detect_level, parse_query

pytestmark = pytest.mark.integration

PREFIX = "/imagedeploy/services"
A, B = "srv-aaaaaaaaaaaaaaaaaaaa", "srv-bbbbbbbbbbbbbbbbbbbb"
NOW = datetime.now(UTC).replace(microsecond=0)

# (resource, task id, seconds before NOW, message)
LINES = [
    (A, "task1", 3000, "booting"),
    (A, "task1", 1000, "listening on :10000"),
    (A, "task2", 900, "ERROR payment 7 failed"),
    (A, "task2", 600, "password hunter2-pw used"),
    (B, "task9", 500, "order 42 seen by b"),
    *((A, "task1", 400 - i, f"GET /orders/{i} 200") for i in range(30)),
    (A, "task2", 10, "WARN slow query"),
]


def put_lines(aws: Aws) -> None:
    logs = aws.client("logs")
    for resource in (A, B):
        logs.create_log_group(logGroupName=f"{PREFIX}/{resource}")
    streams: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for resource, task, ago, message in LINES:
        at = int((NOW - timedelta(seconds=ago)).timestamp() * 1000)
        streams.setdefault((resource, task), []).append({"timestamp": at, "message": message})
    for (resource, task), events in streams.items():
        stream = f"app/app/{task}"
        logs.create_log_stream(logGroupName=f"{PREFIX}/{resource}", logStreamName=stream)
        logs.put_log_events(
            logGroupName=f"{PREFIX}/{resource}",
            logStreamName=stream,
            logEvents=sorted(events, key=lambda e: e["timestamp"]),
        )


def q(*resources: str, **given: Any) -> LogQuery:
    filters = {k: v for k, v in given.items() if k not in {"limit", "direction", "start", "end"}}
    return parse_query(
        owner_id="tea-1",
        resources=list(resources),
        start=given.get("start"),
        end=given.get("end", NOW + timedelta(seconds=1)),
        direction=given.get("direction"),
        limit=given.get("limit", 100),
        now=NOW,
        filters=filters,
    )


@pytest.fixture
def reader(aws: Aws) -> CloudWatchLogReader:
    put_lines(aws)
    return CloudWatchLogReader(lambda: aws.client("logs"), PREFIX)


@pytest.fixture
def sqlite(tmp_path: Path) -> SqliteLogStore:
    store = SqliteLogStore(tmp_path / "logs.sqlite")
    store.append(
        [
            LogLine(
                id="",
                timestamp=NOW - timedelta(seconds=ago),
                resource=resource,
                instance=task,
                type=LogType.APP,
                level=detect_level(message),
                message=message,
            )
            for resource, task, ago, message in LINES
        ]
    )
    return store


def messages(page: LogPage) -> list[str]:
    return [line.message for line in page.lines]


def walk(reader: Any, query: LogQuery) -> list[str]:
    seen: list[str] = []
    for _ in range(50):
        page = reader.query(query, {})
        seen += messages(page)
        if not page.has_more:
            return seen
        query = q(
            *query.resources,
            start=page.next_start,
            end=page.next_end,
            direction=query.direction.value,
            limit=query.limit,
        )
    raise AssertionError("paging did not end")


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"direction": "forward"},
        {"text": ["payment"]},
        {"text": ["/orders/2\\d/"]},
        {"level": ["error", "warning"]},
        {"instance": ["task2"]},
        {"start": NOW - timedelta(seconds=950), "end": NOW - timedelta(seconds=300)},
    ],
)
def test_answers_what_the_sqlite_store_answers(
    reader: CloudWatchLogReader, sqlite: SqliteLogStore, given: dict[str, Any]
) -> None:
    for limit in (100, 7):
        query = q(A, B, limit=limit, **given)
        assert messages(reader.query(query, {})) == messages(sqlite.query(query, {}))


@pytest.mark.parametrize("direction", ["backward", "forward"])
@pytest.mark.parametrize("scan_limit", [10_000, 9])
def test_pages_walk_every_line_once(
    reader: CloudWatchLogReader,
    sqlite: SqliteLogStore,
    aws: Aws,
    direction: str,
    scan_limit: int,
) -> None:
    """Also when one request may read fewer events than a window holds (``scan_limit``)."""
    reader = CloudWatchLogReader(lambda: aws.client("logs"), PREFIX, scan_limit=scan_limit)
    query = q(A, limit=4, direction=direction, start=NOW - timedelta(hours=1))
    cloud = walk(reader, query)
    assert sorted(cloud) == sorted(m for r, _, _, m in LINES if r == A)
    assert len(cloud) == len(set(cloud))
    assert cloud == walk(sqlite, query)


def test_values(reader: CloudWatchLogReader) -> None:
    assert reader.values(q(A), "instance") == ["task1", "task2"]
    assert reader.values(q(A, B), "level") == ["error", "info", "warning"]


def test_lines_are_masked_before_they_are_matched(reader: CloudWatchLogReader) -> None:
    maskers = {A: masker({"DB_PASSWORD": "hunter2-pw"})}
    page = reader.query(q(A, text=["password"]), maskers)
    assert messages(page) == ["password ******** used"]
    assert reader.query(q(A, text=["hunter2"]), maskers).lines == []


def test_a_service_that_never_ran_has_no_lines(aws: Aws) -> None:
    reader = CloudWatchLogReader(lambda: aws.client("logs"), PREFIX)
    assert reader.query(q("srv-never"), {}).lines == []
