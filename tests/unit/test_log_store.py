"""``SqliteLogStore``: serve's log lines, queried with Render's rules, kept within retention."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devkit.log_lines import log_line, log_query
from imagedeploy.adapters.local.log_store import SqliteLogStore
from imagedeploy.domain.log_masking import masker
from imagedeploy.domain.logs import LogLine, LogQuery, LogType, RequestFields

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
A, B = "srv-a", "srv-b"


def line(resource: str, seconds_ago: float, message: str, **more: object) -> LogLine:
    at = NOW - timedelta(seconds=seconds_ago)
    return log_line(resource, at, message, **{"instance": f"{resource}-i1", **more})


def q(*resources: str, limit: int = 100, **filters: Sequence[str]) -> LogQuery:
    return log_query(NOW, resources=list(resources), limit=limit, filters=filters)


@pytest.fixture
def store(tmp_path: Path) -> SqliteLogStore:
    s = SqliteLogStore(tmp_path / "logs.sqlite")
    s.append(
        [
            line(A, 30, "starting up"),
            line(A, 20, "GET /orders 200 took 3ms"),
            line(A, 10, "ERROR order 42 failed", level="error"),
            line(B, 5, "order 42 seen by b"),
            line(
                A,
                1,
                "GET /x 404",
                type=LogType.REQUEST,
                request=RequestFields("GET", "/x", 404, "h.example.com", 2),
            ),
        ]
    )
    return s


def messages(store: SqliteLogStore, query: LogQuery) -> list[str]:
    return [x.message for x in store.query(query, {}).lines]


def test_the_file_is_private(store: SqliteLogStore) -> None:
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_backward_newest_first_per_resource(store: SqliteLogStore) -> None:
    assert messages(store, q(A)) == [
        "GET /x 404",
        "ERROR order 42 failed",
        "GET /orders 200 took 3ms",
        "starting up",
    ]
    assert messages(store, q(A, B))[:3] == [
        "GET /x 404",
        "order 42 seen by b",
        "ERROR order 42 failed",
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"text": ["order 42"]}, ["ERROR order 42 failed"]),
        ({"text": ["ORDER 4"]}, ["ERROR order 42 failed"]),
        ({"text": ["GET*200"]}, ["GET /orders 200 took 3ms"]),
        ({"text": ["/took \\d+ms/"]}, ["GET /orders 200 took 3ms"]),
        ({"text": ["up", "failed"]}, ["ERROR order 42 failed", "starting up"]),
        ({"level": ["error"]}, ["ERROR order 42 failed"]),
        ({"type": ["request"]}, ["GET /x 404"]),
        ({"statusCode": ["4*"], "method": ["GET"]}, ["GET /x 404"]),
        ({"instance": ["srv-a-i2"]}, []),
    ],
)
def test_filters(store: SqliteLogStore, filters: dict[str, list[str]], expected: list[str]) -> None:
    assert messages(store, q(A, limit=100, **filters)) == expected


def test_text_search_uses_the_trigram_index(store: SqliteLogStore) -> None:
    plan = (
        store._reader()
        .execute(  # the plan of the store's own query
            "EXPLAIN QUERY PLAN SELECT id FROM lines WHERE resource IN (?) AND ts >= ? AND ts < ? "
            "AND id IN (SELECT rowid FROM lines_text WHERE message LIKE ?)",
            (A, 0, 2**62, "%order%"),
        )
        .fetchall()
    )
    text = " ".join(str(row) for row in plan)
    assert "lines_text VIRTUAL TABLE INDEX" in text, text


def test_paging_through_the_store(store: SqliteLogStore) -> None:
    seen: list[str] = []
    query = q(A, limit=2)
    while True:
        page = store.query(query, {})
        seen += [x.message for x in page.lines]
        if not page.has_more:
            break
        query = log_query(
            NOW,
            resources=[A],
            start=page.next_start,
            end=page.next_end,
            limit=2,
        )
    assert len(seen) == 4 and len(set(seen)) == 4


def test_values(store: SqliteLogStore) -> None:
    assert store.values(q(A), "level") == ["error", "info"]
    assert store.values(q(A), "type") == ["app", "request"]
    assert store.values(q(A), "statusCode") == ["404"]
    assert store.values(q(A, B), "instance") == ["srv-a-i1", "srv-b-i1"]


def test_lines_are_masked_on_the_way_out(store: SqliteLogStore) -> None:
    store.append([line(A, 0.5, "connecting with hunter22")])
    page = store.query(q(A, text=["connecting"]), {A: masker({"DB_PASSWORD": "hunter22"})})
    assert [x.message for x in page.lines] == ["connecting with ********"]


def test_follow_hands_out_new_lines_once(store: SqliteLogStore) -> None:
    lines, position = store.follow(q(A), None, {})
    assert lines == []
    store.append([line(B, 0.2, "b line"), line(A, 0.1, "a line")])
    lines, position = store.follow(q(A), position, {})
    assert [x.message for x in lines] == ["a line"]
    assert store.follow(q(A), position, {})[0] == []


def test_retention_by_time_then_size(store: SqliteLogStore) -> None:
    deleted = store.enforce_retention(oldest=NOW - timedelta(seconds=15), max_bytes=1 << 30)
    assert deleted == 2
    assert messages(store, q(A)) == ["GET /x 404", "ERROR order 42 failed"]
    store.append([line(A, 0.1 - i / 1e6, "x" * 2000) for i in range(3000)])
    limit = 2 * 1024 * 1024
    assert store.used_bytes() > limit
    store.enforce_retention(oldest=NOW - timedelta(days=7), max_bytes=limit)
    assert store.used_bytes() <= limit
    assert messages(store, q(A, limit=1)) == ["x" * 2000]  # the newest survive


def test_common_and_rare_texts_are_found_either_way(store: SqliteLogStore) -> None:
    """Past 2,000 lines holding a text the range is read in order instead of the text index:
    the answer is the same."""
    store.append([line(B, 100 - i / 100, f"common {i}") for i in range(2500)])
    store.append([line(A, 0.5, "common in a too")])
    assert messages(store, q(A, text=["common"])) == ["common in a too"]
    newest = messages(store, q(B, limit=3, text=["COMMON"]))
    assert newest == ["common 2499", "common 2498", "common 2497"]
    assert messages(store, q(A, B, limit=2, text=["/common \\d+9$/"]))[0] == "common 2499"
