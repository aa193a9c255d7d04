"""``SqliteLogStore``: ``serve``'s log lines in a SQLite file of their own (``logs.sqlite`` in
the data directory, 0600, WAL), apart from the state database so that a flood of output never
contends with a deploy's writes.

One table of lines, indexed by (resource, timestamp) for every query and by timestamp for the
retention, and an FTS5 trigram index over the message (external content, kept by triggers) so a
substring search (``text=``) reads only the lines holding its trigrams. The index keeps no
positions (``detail='none'``): half the size and twice the insert rate, and a LIKE is still
answered exactly (SQLite checks each candidate line). Filters the index
cannot answer (wildcards inside label values, regular expressions) are applied to the lines as
they are read, by ``domain.logs``; the paging is ``domain.logs.cut_page``.

Writes come from one thread (the collector's writer) in batches; reads from any thread, each
with its own connection. ``enforce_retention`` deletes lines older than the retention time,
then the oldest lines until the file's used pages fit the size limit.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from imagedeploy.adapters.local.datadir import create_private
from imagedeploy.domain.log_masking import NO_MASK, Masker
from imagedeploy.domain.logs import (
    LogDirection,
    LogLine,
    LogPage,
    LogQuery,
    LogType,
    Pattern,
    RequestFields,
    cut_page,
    label_value,
)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS lines (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    resource TEXT NOT NULL,
    instance TEXT NOT NULL,
    type TEXT NOT NULL,
    level TEXT NOT NULL,
    stream TEXT NOT NULL,
    message TEXT NOT NULL,
    method TEXT, path TEXT, status INTEGER, host TEXT, duration_ms INTEGER
);
CREATE INDEX IF NOT EXISTS lines_resource_ts ON lines (resource, ts);
CREATE INDEX IF NOT EXISTS lines_ts ON lines (ts);
CREATE VIRTUAL TABLE IF NOT EXISTS lines_text
    USING fts5 (message, content='lines', content_rowid='id', tokenize='trigram',
                detail='none', columnsize=0);
CREATE TRIGGER IF NOT EXISTS lines_text_insert AFTER INSERT ON lines BEGIN
    INSERT INTO lines_text (rowid, message) VALUES (new.id, new.message);
END;
CREATE TRIGGER IF NOT EXISTS lines_text_delete AFTER DELETE ON lines BEGIN
    INSERT INTO lines_text (lines_text, rowid, message) VALUES ('delete', old.id, old.message);
END;
"""
_COLUMNS: Final = (
    "id, ts, resource, instance, type, level, stream, message, method, path, status, host, "
    "duration_ms"
)
_WAL_LIMIT: Final = 64 * 1024 * 1024
_DELETE_BATCH: Final = 5_000  # the LIMIT of _DELETE_OLDER
_LABEL_COLUMNS: Final = {
    "instance": "instance",
    "type": "type",
    "level": "level",
    "method": "method",
    "path": "path",
    "statusCode": "status",
    "host": "host",
}
_DELETE_OLDER: Final = (
    "DELETE FROM lines WHERE id IN (SELECT id FROM lines WHERE ts < ? LIMIT 5000)"
)
_DELETE_OLDEST: Final = "DELETE FROM lines WHERE id IN (SELECT id FROM lines ORDER BY ts LIMIT ?)"
_MERGE_STEP: Final = "INSERT INTO lines_text (lines_text, rank) VALUES ('merge', -64)"
_RARE: Final = 2_000  # fewer lines than this hold a text: found through the text index
_VALUES_SCAN_LIMIT: Final = 100_000  # lines ``values`` reads at most


def micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def from_micros(value: int) -> datetime:
    seconds, fraction = divmod(value, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=fraction)


class SqliteLogStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        create_private(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._writer = self._connect()
        self._writer.executescript(_SCHEMA)
        self._connections: list[sqlite3.Connection] = [self._writer]
        self._connections_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=5000")
        # a merge of the text index can write a large transaction: the WAL shrinks back after
        connection.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
        connection.create_function("text_matches", 2, _text_matches, deterministic=True)
        return connection

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    # -- writing -------------------------------------------------------------------------------
    def append(self, lines: Sequence[LogLine]) -> None:
        """Store ``lines`` (their ``id`` is ignored: the store numbers them) in one transaction."""
        rows = [
            (
                micros(line.timestamp),
                line.resource,
                line.instance,
                line.type.value,
                line.level,
                line.stream,
                line.message,
                *(
                    (
                        line.request.method,
                        line.request.path,
                        line.request.status_code,
                        line.request.host,
                        line.request.duration_ms,
                    )
                    if line.request
                    else (None, None, None, None, None)
                ),
            )
            for line in lines
        ]
        with self._write_lock:
            self._writer.execute("BEGIN")
            try:
                self._writer.executemany(
                    "INSERT INTO lines (ts, resource, instance, type, level, stream, message, "
                    "method, path, status, host, duration_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise

    def last_timestamp(self, resource: str, instance: str) -> datetime | None:
        """The newest line kept of one container (so a restarted collector skips what it has)."""
        row = (
            self._reader()
            .execute(
                "SELECT max(ts) FROM lines WHERE resource = ? AND instance = ?",
                (resource, instance),
            )
            .fetchone()
        )
        return from_micros(row[0]) if row and row[0] is not None else None

    def used_bytes(self) -> int:
        pages, free, size = (
            self._reader().execute(f"PRAGMA {p}").fetchone()[0]
            for p in ("page_count", "freelist_count", "page_size")
        )
        return int((pages - free) * size)

    def enforce_retention(self, *, oldest: datetime, max_bytes: int) -> int:
        """Delete lines older than ``oldest``, then the oldest lines until the used size is
        under ``max_bytes``; returns how many were deleted. The text index keeps deleted lines
        as tombstones until its segments are merged, so deleting is followed by merging, in
        small steps (the writer waits one step at most)."""
        deleted = self._delete(_DELETE_OLDER, (micros(oldest),))
        if deleted:
            self._merge_text_index()
        while (used := self.used_bytes()) > max_bytes:
            count = self._delete(_DELETE_OLDEST, (self._share(1 - max_bytes / used),), once=True)
            if not count:
                break
            deleted += count
            self._merge_text_index()
        return deleted

    def _share(self, fraction: float) -> int:
        """About ``fraction`` of the lines (ids are dense but for deleted ranges), at least
        100, at most 50,000 (one delete step)."""
        low, high = self._reader().execute("SELECT min(id), max(id) FROM lines").fetchone()
        lines = (high - low + 1) if low is not None else 0
        return max(100, min(50_000, int(lines * fraction) + 1))

    def _merge_text_index(self, *, max_steps: int = 400) -> None:
        """Merge the text index's segments (dropping tombstones) until it stops shrinking."""
        smallest = self.used_bytes()
        stalled = 0
        for _ in range(max_steps):
            with self._write_lock:
                self._writer.execute(_MERGE_STEP)
            used = self.used_bytes()
            stalled = stalled + 1 if used >= smallest else 0
            smallest = min(smallest, used)
            if stalled >= 3:
                return

    def _delete(self, sql: str, args: tuple[Any, ...], *, once: bool = False) -> int:
        total = 0
        while True:
            with self._write_lock:
                count = self._writer.execute(sql, args).rowcount
            total += count
            if once or count < _DELETE_BATCH:
                return total

    # -- reading -------------------------------------------------------------------------------
    def query(self, query: LogQuery, maskers: Mapping[str, Masker]) -> LogPage:
        page = self._page(query)
        return replace(page, lines=[_masked(line, maskers) for line in page.lines])

    def _page(self, query: LogQuery) -> LogPage:
        """A rare text is found through the text index, a common one by reading the range in
        time order (where its matches come at once); the index says which it is: up to
        ``_RARE`` lines holding the text are taken from it (a cheap, bounded read). Fewer:
        exactly those lines are looked up by id. That many: the range is read in order with
        SQLite's LIKE applied as it goes (a text common elsewhere but rare in the range costs
        one read of the range)."""
        if not _text_indexable(query):
            return cut_page(query, self._candidates(query))
        likes = [_like(p) for p in query.texts]
        text = " OR ".join("message LIKE ?" for _ in likes)
        ids = [
            row[0]
            for row in self._reader().execute(
                f"SELECT rowid FROM lines_text WHERE {text} LIMIT {_RARE}",  # noqa: S608
                likes,
            )
        ]
        if len(ids) < _RARE:
            return cut_page(query, self._candidates(query, ids=ids))
        return cut_page(query, self._candidates(query))

    def values(self, query: LogQuery, label: str) -> list[str]:
        found: set[str] = set()
        for scanned, line in enumerate(self._candidates(query)):
            if scanned >= _VALUES_SCAN_LIMIT:
                break
            value = label_value(line, label) if query.matches(line) else None
            if value is not None:
                found.add(value)
        return sorted(found)

    def follow(
        self, query: LogQuery, after_id: int | None, maskers: Mapping[str, Masker]
    ) -> tuple[list[LogLine], int]:
        """Lines stored after line ``after_id`` (None: after the newest now) that ``query``
        matches, ignoring its end time, in the order stored; and the id to follow from next."""
        connection = self._reader()
        if after_id is None:
            row = connection.execute("SELECT max(id) FROM lines").fetchone()
            return [], int(row[0] or 0)
        marks = ",".join("?" * len(query.resources))
        rows = connection.execute(
            f"SELECT {_COLUMNS} FROM lines WHERE id > ? AND resource IN ({marks}) "  # noqa: S608
            "ORDER BY id LIMIT 1000",
            (after_id, *query.resources),
        ).fetchall()
        last = max((int(r[0]) for r in rows), default=after_id)
        if len(rows) < 1000:
            row = connection.execute("SELECT max(id) FROM lines").fetchone()
            last = max(last, int(row[0] or 0))
        open_ended = replace(query, end=datetime.max.replace(tzinfo=UTC))
        lines = [_masked(line, maskers) for line in map(_line, rows) if open_ended.matches(line)]
        return lines, last

    def _where(self, query: LogQuery, ids: list[int] | None) -> tuple[list[str], list[Any]]:
        """The conditions SQLite answers: resources and time range, literal label values, and
        texts with a run of three literal characters or more (by LIKE on each line read), or
        only the lines ``ids`` (looked up by id: the ``+`` keeps SQLite off the range index).
        Only "?" placeholders and fixed column names are put into the SQL text."""
        marks = ",".join("?" * len(query.resources))
        plus = "" if ids is None else "+"
        where = [f"{plus}resource IN ({marks})", f"{plus}ts >= ?", f"{plus}ts < ?"]
        args: list[Any] = [*query.resources, micros(query.start), micros(query.end)]
        if ids is not None:
            where.append("id IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(ids))
        for label, patterns in query.label_filters.items():
            literals = [p.literal for p in patterns]
            if all(v is not None for v in literals):
                where.append(f"{_LABEL_COLUMNS[label]} IN ({','.join('?' * len(literals))})")
                args += literals
        if ids is None and _text_indexable(query):
            likes = [_like(p) for p in query.texts]
            where.append("(" + " OR ".join("message LIKE ?" for _ in likes) + ")")
            args += likes
        elif ids is None and query.texts:  # regular expressions: matched as SQLite reads
            where.append("(" + " OR ".join("text_matches(?, message)" for _ in query.texts) + ")")
            args += [p.regex.pattern for p in query.texts]
        return where, args

    def _candidates(self, query: LogQuery, *, ids: list[int] | None = None) -> Iterator[LogLine]:
        """Lines of the query's resources and time range (of ``ids`` only, when given), in its
        order, narrowed by what SQLite can answer; the query's filters are applied by the
        caller."""
        where, args = self._where(query, ids)
        order = _order(query)
        sql = (
            f"SELECT {_COLUMNS} FROM lines WHERE {' AND '.join(where)} "  # noqa: S608
            f"ORDER BY ts {order}, id {order}"
        )
        cursor = self._reader().execute(sql, args)
        try:
            while rows := cursor.fetchmany(256):
                yield from map(_line, rows)
        finally:
            cursor.close()


def _order(query: LogQuery) -> str:
    return "DESC" if query.direction is LogDirection.BACKWARD else "ASC"


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _text_matches(pattern: str, message: str) -> bool:
    """SQLite's ``text_matches(pattern, message)``: a text filter (``Pattern.regex``) applied
    in the scan, so lines that cannot match are never turned into Python objects."""
    return _compiled(pattern).search(message) is not None


def _text_indexable(query: LogQuery) -> bool:
    likes = [_like(p) for p in query.texts]
    return bool(likes) and all(like is not None for like in likes)


def _like(pattern: Pattern) -> str | None:
    """A LIKE pattern the trigram index answers for a text filter, or None (a regular
    expression, or no run of three literal characters). No ESCAPE clause: the index ignores a
    LIKE that has one. A ``%`` or ``_`` in the text thus matches more here; LIKE folds the case
    of ASCII letters only, so a non-ASCII letter matches in its own case only. The filter
    itself is applied to every line read."""
    source = pattern.source
    if pattern.literal is None and not ("*" in source and not source.startswith("/")):
        return None
    parts = source.split("*")
    if max(len(part) for part in parts) < 3:
        return None
    return "%" + "%".join(parts) + "%"


def _line(row: Sequence[Any]) -> LogLine:
    (
        id_,
        ts,
        resource,
        instance,
        type_,
        level,
        stream,
        message,
        method,
        path,
        status,
        host,
        duration,
    ) = row
    request = (
        RequestFields(method, path or "", int(status), host or "", duration)
        if method is not None
        else None
    )
    return LogLine(
        id=str(id_),
        timestamp=from_micros(ts),
        resource=resource,
        instance=instance,
        type=LogType(type_),
        level=level,
        message=message,
        stream=stream,
        request=request,
    )


def _masked(line: LogLine, maskers: Mapping[str, Masker]) -> LogLine:
    return masked_line(line, maskers.get(line.resource, NO_MASK))


def masked_line(line: LogLine, masker: Masker) -> LogLine:
    """``line`` with its message masked (the same object when nothing was masked)."""
    masked = masker.mask(line.message)
    return line if masked == line.message else replace(line, message=masked)
