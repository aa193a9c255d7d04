"""``SqliteStore``: the ``Store`` port on one SQLite file, for ``imagedeploy serve``.

Why it looks the way it does:

- **One connection per thread**, opened lazily: API threads, the deploy worker, the scheduler and
  the runtime watcher all read and write at once, and a ``sqlite3.Connection`` must not be used by
  two threads at the same time. WAL mode lets readers run while one writer writes; every write is
  a ``BEGIN IMMEDIATE`` transaction, so a writer takes the write lock up front (waiting up to the
  busy timeout) instead of failing halfway when a read snapshot cannot be upgraded.
- **One table per entity kind**: the key, the columns lists and lookups filter or sort by, the
  ``version`` that conditional writes compare, and the whole entity as JSON in ``data``
  (``entity_codec``). Every list is an index range read with a keyset cursor; nothing scans a
  table (a test checks ``EXPLAIN QUERY PLAN`` for every query). A list filter
  (``domain.listing``) bounds the index range by its time range and checks the rest on rows as
  they stream from the range, until the page is full: no migration, no column per criterion.
- **Cursors** are the sort key of the last item returned (plus the list they belong to),
  urlsafe base64 of a JSON array. A keyset cursor stays correct when rows are inserted or
  deleted between pages, unlike an offset.
- **Sealed rows.** The tables whose rows hold secrets (``services``: env var values;
  ``webhooks``: the ``whsec_`` signing secrets) store ``data`` encrypted with Fernet under the
  data directory's ``secret.key`` (the key the registry tokens are encrypted with). The columns
  lists and lookups use (ids, owner, times) stay clear; nothing secret is in them.
- **Private files.** The database file is created 0600 before SQLite opens it; SQLite gives its
  ``-wal`` and ``-shm`` files the database file's mode.
- **A full or read-only disk** is ``StorageUnavailable`` (503 with ``Retry-After``), not an
  unexpected error: the request was not applied and can be retried once there is room.
- The schema is versioned with ``PRAGMA user_version``; ``_MIGRATIONS[n]`` takes version n to
  n + 1, and opening a file written by a newer schema is refused rather than misread. A
  migration step is SQL, or a Python function of the transaction and the row sealer (data
  migrations, such as sealing rows written before sealing existed). After migrating a file that
  already had data, the file is vacuumed and the WAL truncated, so the old row images (cleartext
  secrets, for the sealing step) do not linger in free pages.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography.fernet import Fernet, InvalidToken

from imagedeploy.adapters import entity_codec as codec
from imagedeploy.adapters.entity_codec import EntityCodec, encode_datetime
from imagedeploy.adapters.local.datadir import create_private
from imagedeploy.adapters.local.secrets import KEY_FILE, load_or_create_key
from imagedeploy.domain.accounts import (
    ApiKey,
    CredentialRecord,
    NotificationOverride,
    NotificationSettings,
    Owner,
    Webhook,
    WebhookDelivery,
)
from imagedeploy.domain.cron import CronRun, RunStatus
from imagedeploy.domain.deploys import Deploy
from imagedeploy.domain.errors import (
    ConcurrentUpdate,
    Conflict,
    InvalidInput,
    SlugTaken,
    StorageUnavailable,
)
from imagedeploy.domain.events import Event
from imagedeploy.domain.jobs import OneOffJob
from imagedeploy.domain.listing import (
    ANY_CREDENTIAL,
    ANY_DELIVERY,
    ANY_DEPLOY,
    ANY_EVENT,
    ANY_JOB,
    ANY_RUN,
    ANY_SERVICE,
    CredentialFilter,
    DeliveryFilter,
    DeployFilter,
    EventFilter,
    JobFilter,
    ListFilter,
    RunFilter,
    ServiceFilter,
)
from imagedeploy.domain.outbox import OutboxRecord
from imagedeploy.domain.paging import page_read, take_page
from imagedeploy.domain.services import Service
from imagedeploy.ports import Entity, Page

if TYPE_CHECKING:
    from imagedeploy.ports import Store

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_CURSOR_CHARS = 1024
_EXPIRE_BATCH = 64  # expired claims deleted per call, to keep calls cheap

_SEALED_TABLES = ("services", "webhooks")  # the rows that hold secrets (see the docstring)


def _seal_clear_rows(tx: sqlite3.Connection, fernet: Fernet) -> None:
    """Encrypt the ``data`` of sealed tables' rows written before sealing existed."""
    for table in _SEALED_TABLES:
        rows = tx.execute(
            f"SELECT rowid, data FROM {table} WHERE data LIKE '{{%'"  # noqa: S608
        ).fetchall()
        for rowid, data in rows:
            sealed = fernet.encrypt(data.encode()).decode("ascii")
            tx.execute(f"UPDATE {table} SET data = ? WHERE rowid = ?", (sealed, rowid))  # noqa: S608


def _reserve_service_slugs(tx: sqlite3.Connection, fernet: Fernet) -> None:
    """Fill ``services.slug`` from the sealed rows; a duplicate (two services stored before
    slugs were unique) keeps its slug in ``data`` but reserves nothing."""
    taken: set[str] = set()
    for rowid, data in tx.execute("SELECT rowid, data FROM services ORDER BY rowid").fetchall():
        text = data if data.startswith("{") else fernet.decrypt(data.encode("ascii")).decode()
        slug = json.loads(text).get("slug")
        if isinstance(slug, str) and slug not in taken:
            taken.add(slug)
            tx.execute("UPDATE services SET slug = ? WHERE rowid = ?", (slug, rowid))


# A step is SQL, or a data migration run in the same transaction (with the row sealer).
MigrationStep = str | Callable[[sqlite3.Connection, Fernet], None]

_MIGRATIONS: tuple[tuple[MigrationStep, ...], ...] = (
    # 0 -> 1
    (
        """CREATE TABLE owners (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
            version INTEGER NOT NULL, data TEXT NOT NULL)""",
        """CREATE TABLE api_keys (
            id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,
            version INTEGER NOT NULL, data TEXT NOT NULL)""",
        """CREATE TABLE credentials (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
            owner_id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL)""",
        "CREATE INDEX credentials_by_owner ON credentials (owner_id, seq)",
        """CREATE TABLE services (
            id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, credential_id TEXT,
            created_at TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL)""",
        "CREATE INDEX services_by_owner ON services (owner_id, created_at, id)",
        """CREATE INDEX services_by_credential ON services (credential_id, created_at, id)
            WHERE credential_id IS NOT NULL""",
        """CREATE TABLE deploys (
            id TEXT PRIMARY KEY, service_id TEXT NOT NULL, created_at TEXT NOT NULL,
            unfinished INTEGER NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL)""",
        "CREATE INDEX deploys_by_service ON deploys (service_id, created_at, id)",
        "CREATE INDEX deploys_unfinished ON deploys (created_at, id) WHERE unfinished = 1",
        """CREATE TABLE events (
            id TEXT PRIMARY KEY, service_id TEXT NOT NULL, timestamp TEXT NOT NULL,
            data TEXT NOT NULL)""",
        "CREATE INDEX events_by_service ON events (service_id, timestamp, id)",
        """CREATE TABLE cron_runs (
            id TEXT PRIMARY KEY, service_id TEXT NOT NULL, started_at TEXT NOT NULL,
            version INTEGER NOT NULL, data TEXT NOT NULL)""",
        "CREATE INDEX cron_runs_by_service ON cron_runs (service_id, started_at, id)",
        """CREATE TABLE notification_settings (
            owner_id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL)""",
        """CREATE TABLE notification_overrides (
            service_id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL)""",
        """CREATE TABLE webhooks (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
            owner_id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL)""",
        "CREATE INDEX webhooks_by_owner ON webhooks (owner_id, seq)",
        """CREATE TABLE webhook_deliveries (
            id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL, sent_at TEXT NOT NULL,
            data TEXT NOT NULL)""",
        "CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, sent_at, id)",
        """CREATE TABLE rate_limits (
            key TEXT NOT NULL, window_start INTEGER NOT NULL, expires_at INTEGER NOT NULL,
            hits INTEGER NOT NULL, PRIMARY KEY (key, window_start))""",
        "CREATE INDEX rate_limits_by_expiry ON rate_limits (expires_at)",
        "CREATE TABLE claims (key TEXT PRIMARY KEY, expires_at REAL NOT NULL)",
        "CREATE INDEX claims_by_expiry ON claims (expires_at)",
    ),
    # 1 -> 2 (issue 8): API keys listed per owner by creation time; rows holding secrets
    # sealed. Self-contained: it assumes only the tables of 0 -> 1.
    (
        "ALTER TABLE api_keys ADD COLUMN created_at TEXT NOT NULL DEFAULT ''",
        "UPDATE api_keys SET created_at = json_extract(data, '$.created_at')",
        "CREATE INDEX api_keys_by_owner ON api_keys (owner_id, created_at, id)",
        _seal_clear_rows,
    ),
    # 2 -> 3: the outbox, the unfinished-runs index, and no rate-limit table (the per-service
    # window lives on the service)
    (
        """CREATE TABLE outbox (
            id TEXT PRIMARY KEY, created_at TEXT NOT NULL, version INTEGER NOT NULL,
            data TEXT NOT NULL)""",
        "CREATE INDEX outbox_by_age ON outbox (created_at, id)",
        "ALTER TABLE cron_runs ADD COLUMN unfinished INTEGER NOT NULL DEFAULT 0",
        "UPDATE cron_runs SET unfinished = 1 WHERE json_extract(data, '$.status') = 'pending'",
        "CREATE INDEX cron_runs_unfinished ON cron_runs (started_at, id) WHERE unfinished = 1",
        "DROP TABLE rate_limits",
    ),
    # 3 -> 4 (issue 11): one-off jobs, listed per service newest first, and the unfinished ones
    (
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY, service_id TEXT NOT NULL, created_at TEXT NOT NULL,
            unfinished INTEGER NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL)""",
        "CREATE INDEX jobs_by_service ON jobs (service_id, created_at, id)",
        "CREATE INDEX jobs_unfinished ON jobs (created_at, id) WHERE unfinished = 1",
    ),
    # 4 -> 5 (issue 10): a service's slug is its host name, unique (the DynamoDB store's
    # ``SLUG#`` item); a duplicate stored before keeps its slug but reserves nothing
    (
        "ALTER TABLE services ADD COLUMN slug TEXT",
        _reserve_service_slugs,
        "CREATE UNIQUE INDEX services_by_slug ON services (slug)",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)


@dataclass(frozen=True, slots=True)
class _Table:
    """Where one entity kind lives and which of its fields are columns."""

    name: str
    kind: str  # for messages: "service srv-... already exists"
    codec: EntityCodec[Any]
    key: str  # the key column, also the entity attribute holding the key
    columns: Mapping[str, Callable[[Any], object]]  # queried columns besides the key
    versioned: bool = True  # False: append-only (events, deliveries), no version column

    @property
    def sealed(self) -> bool:
        return self.name in _SEALED_TABLES


def _dt(field: str) -> Callable[[Any], object]:
    return lambda entity: encode_datetime(getattr(entity, field))


def _attr(field: str) -> Callable[[Any], object]:
    return lambda entity: getattr(entity, field)


_TABLES: dict[type, _Table] = {
    Owner: _Table("owners", "owner", codec.OWNER, "id", {}),
    ApiKey: _Table(
        "api_keys",
        "API key",
        codec.API_KEY,
        "id",
        {
            "owner_id": _attr("owner_id"),
            "key_hash": _attr("key_hash"),
            "created_at": _dt("created_at"),
        },
    ),
    CredentialRecord: _Table(
        "credentials",
        "registry credential",
        codec.CREDENTIAL,
        "id",
        {"owner_id": _attr("owner_id")},
    ),
    Service: _Table(
        "services",
        "service",
        codec.SERVICE,
        "id",
        {
            "owner_id": _attr("owner_id"),
            "credential_id": _attr("credential_id"),
            "created_at": _dt("created_at"),
            "slug": _attr("slug"),
        },
    ),
    Deploy: _Table(
        "deploys",
        "deploy",
        codec.DEPLOY,
        "id",
        {
            "service_id": _attr("service_id"),
            "created_at": _dt("created_at"),
            # Computed from the domain's own ``finished`` so the rule lives in one place.
            "unfinished": lambda deploy: int(not deploy.status.finished),
        },
    ),
    Event: _Table(
        "events",
        "event",
        codec.EVENT,
        "id",
        {"service_id": _attr("service_id"), "timestamp": _dt("timestamp")},
        versioned=False,
    ),
    CronRun: _Table(
        "cron_runs",
        "cron run",
        codec.CRON_RUN,
        "id",
        {
            "service_id": _attr("service_id"),
            "started_at": _dt("started_at"),
            "unfinished": lambda run: int(run.status is RunStatus.PENDING),
        },
    ),
    OneOffJob: _Table(
        "jobs",
        "job",
        codec.ONE_OFF_JOB,
        "id",
        {
            "service_id": _attr("service_id"),
            "created_at": _dt("created_at"),
            "unfinished": lambda job: int(not job.status.finished),
        },
    ),
    OutboxRecord: _Table(
        "outbox", "outbox record", codec.OUTBOX_RECORD, "id", {"created_at": _dt("created_at")}
    ),
    NotificationSettings: _Table(
        "notification_settings",
        "notification settings",
        codec.NOTIFICATION_SETTINGS,
        "owner_id",
        {},
    ),
    NotificationOverride: _Table(
        "notification_overrides",
        "notification override",
        codec.NOTIFICATION_OVERRIDE,
        "service_id",
        {},
    ),
    Webhook: _Table("webhooks", "webhook", codec.WEBHOOK, "id", {"owner_id": _attr("owner_id")}),
    WebhookDelivery: _Table(
        "webhook_deliveries",
        "webhook delivery",
        codec.WEBHOOK_DELIVERY,
        "id",
        {"webhook_id": _attr("webhook_id"), "sent_at": _dt("sent_at")},
        versioned=False,
    ),
}


@dataclass(frozen=True, slots=True)
class _List:
    """One keyset-paginated list: a filter and a sort key (``seq`` = creation order)."""

    name: str  # written into cursors, so a cursor of one list is refused by another
    table: _Table
    where: str  # "" or "<column> = ?" / a constant condition matching a partial index
    order: tuple[str, ...]  # ("seq",) or (<time column>, "id")
    descending: bool

    @property
    def start(self) -> tuple[object, ...]:
        """The bound of the first page: before every row (so even page one is a range read)."""
        if self.order == ("seq",):
            return (0,)
        return ("~", "") if self.descending else ("", "")  # "~" sorts after every ISO time

    def sql(self, since: bool = False, until: bool = False) -> str:
        """The page query; ``since``/``until``: bound the time sort key (``>= ?``/``< ?``,
        parameters after the cursor's), which narrows the index range read."""
        columns = ", ".join(self.order)
        bound = ", ".join("?" for _ in self.order)
        direction = " DESC" if self.descending else ""
        order_by = ", ".join(column + direction for column in self.order)
        where = f"{self.where} AND " if self.where else ""
        comparison = "<" if self.descending else ">"
        version = "version" if self.table.versioned else "0"
        time_range = (f" AND {self.order[0]} >= ?" if since else "") + (
            f" AND {self.order[0]} < ?" if until else ""
        )
        # Identifiers come from the constants in this module, never from input.
        return (
            f"SELECT {columns}, {version}, data FROM {self.table.name} "  # noqa: S608
            f"WHERE {where}({columns}) {comparison} ({bound}){time_range} "
            f"ORDER BY {order_by} LIMIT ?"
        )


_SEQ = ("seq",)
_NEWEST_FIRST = True
_OLDEST_FIRST = False
_LISTS = {
    lst.name: lst
    for lst in (
        _List("owners", _TABLES[Owner], "", _SEQ, _OLDEST_FIRST),
        _List("api_keys", _TABLES[ApiKey], "owner_id = ?", ("created_at", "id"), _OLDEST_FIRST),
        _List("credentials", _TABLES[CredentialRecord], "owner_id = ?", _SEQ, _OLDEST_FIRST),
        _List("webhooks", _TABLES[Webhook], "owner_id = ?", _SEQ, _OLDEST_FIRST),
        _List("services", _TABLES[Service], "owner_id = ?", ("created_at", "id"), _OLDEST_FIRST),
        _List(
            "services_by_credential",
            _TABLES[Service],
            "credential_id = ?",
            ("created_at", "id"),
            _OLDEST_FIRST,
        ),
        _List("deploys", _TABLES[Deploy], "service_id = ?", ("created_at", "id"), _NEWEST_FIRST),
        _List(
            "unfinished_deploys",
            _TABLES[Deploy],
            "unfinished = 1",  # exactly the partial index's condition, so it is used
            ("created_at", "id"),
            _NEWEST_FIRST,
        ),
        _List("events", _TABLES[Event], "service_id = ?", ("timestamp", "id"), _NEWEST_FIRST),
        _List("runs", _TABLES[CronRun], "service_id = ?", ("started_at", "id"), _NEWEST_FIRST),
        _List(
            "unfinished_runs",
            _TABLES[CronRun],
            "unfinished = 1",  # the partial index's condition
            ("started_at", "id"),
            _NEWEST_FIRST,
        ),
        _List("jobs", _TABLES[OneOffJob], "service_id = ?", ("created_at", "id"), _NEWEST_FIRST),
        _List(
            "unfinished_jobs",
            _TABLES[OneOffJob],
            "unfinished = 1",  # the partial index's condition
            ("created_at", "id"),
            _NEWEST_FIRST,
        ),
        _List("outbox", _TABLES[OutboxRecord], "", ("created_at", "id"), _OLDEST_FIRST),
        _List(
            "deliveries",
            _TABLES[WebhookDelivery],
            "webhook_id = ?",
            ("sent_at", "id"),
            _NEWEST_FIRST,
        ),
    )
}


def encode_cursor(list_name: str, after: Sequence[object]) -> str:
    raw = json.dumps([list_name, *after], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(lst: _List, cursor: str) -> tuple[object, ...]:
    """The sort key a cursor points after; ``InvalidInput`` for anything we did not issue for
    this list (garbage, truncation, another list's cursor)."""
    problem = InvalidInput(
        f"cursor {str(cursor)[:40]!r} is not a cursor of this list: pass the cursor returned with a "
        "previous page of the same list unchanged, or omit it to start from the first page"
    )
    if not isinstance(cursor, str) or not 0 < len(cursor) <= _MAX_CURSOR_CHARS:
        raise problem
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise problem from exc
    if not isinstance(value, list) or len(value) != len(lst.order) + 1 or value[0] != lst.name:
        raise problem
    after = tuple(value[1:])
    expected: type = int if lst.order == _SEQ else str
    if not all(type(part) is expected for part in after):
        raise problem
    return after


class _Holder:
    """A thread's connection; weak-referenceable (``sqlite3.Connection`` is not), so the store
    can close the connections of live threads while those of finished threads go away with
    their thread."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __del__(self) -> None:
        self.conn.close()


class SqliteStore:
    """The ``Store`` port on one SQLite file (see the module docstring)."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        key_file: Path | None = None,
    ) -> None:
        """``key_file``: the Fernet key sealing rows that hold secrets (default: ``secret.key``
        next to the database, created 0600 if missing)."""
        if str(path) in ("", ":memory:") or str(path).startswith("file::memory:"):
            raise ValueError("SqliteStore needs a file: each thread opens its own connection")
        self.path = Path(path)
        self._fernet = Fernet(load_or_create_key(key_file or self.path.parent / KEY_FILE))
        self._busy_timeout = busy_timeout_seconds
        self._clock = clock
        self._local = threading.local()
        self._holders: weakref.WeakSet[_Holder] = weakref.WeakSet()
        self._holders_lock = threading.Lock()
        self._closed = False
        try:
            with _storage_errors():
                create_private(self.path)  # SQLite gives the -wal and -shm files its mode
                self._open_schema()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # -- connections and transactions ----------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is None:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,  # no implicit transactions: we BEGIN explicitly
                check_same_thread=False,  # used by one thread only; closed by ``close``
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            conn.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL mode, much faster
            conn.execute("PRAGMA secure_delete = ON")  # deleted rows zeroed, not left on disk
            holder = _Holder(conn)
            self._local.holder = holder
            with self._holders_lock:
                self._holders.add(holder)
        return holder.conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with _storage_errors():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # a failed COMMIT may have rolled back already
                    with contextlib.suppress(sqlite3.Error):  # keep the first error
                        conn.execute("ROLLBACK")
                raise

    def _open_schema(self) -> None:
        conn = self._connection()
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise RuntimeError(
                f"{self.path}: SQLite could not use WAL mode (got {mode!r}); put the data "
                "directory on a local filesystem"
            )
        with self._transaction() as tx:
            version = tx.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema version {version}, newer than this imagedeploy "
                    f"understands ({SCHEMA_VERSION}); upgrade imagedeploy or use another data dir"
                )
            for steps in _MIGRATIONS[version:]:
                for step in steps:
                    if isinstance(step, str):
                        tx.execute(step)
                    else:
                        step(tx, self._fernet)
            if version < SCHEMA_VERSION:
                tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                logger.info(
                    "store schema migrated",
                    extra={"path": str(self.path), "from": version, "to": SCHEMA_VERSION},
                )
        if 0 < version < SCHEMA_VERSION:
            # Rewrite the file so the rows as they were before (e.g. cleartext secrets) do not
            # survive in free pages or the WAL.
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close every connection; the store cannot be used afterwards."""
        self._closed = True
        with self._holders_lock:
            holders = list(self._holders)
        for holder in holders:
            holder.conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes --------------------------------------------------------------------------------

    def write(self, put: Sequence[Entity] = (), delete: Sequence[Entity] = ()) -> list[Entity]:
        """Apply puts and deletes in one transaction; any failed check rolls back them all."""
        if not put and not delete:
            return []
        # Encode before taking the write lock: a bad entity fails without holding anyone up.
        puts = [(_table_of(e), e) for e in put]
        rows = [(table, entity, self._row(table, entity)) for table, entity in puts]
        deletes = [(_table_of(e), e) for e in delete]
        for table, entity in deletes:
            if not table.versioned:
                raise TypeError(f"{table.kind} {_key(table, entity)} is append-only")
        stored: list[Entity] = []
        with self._transaction() as tx:
            for table, entity, row in rows:
                stored.append(self._put(tx, table, entity, row))
            for table, entity in deletes:
                self._delete(tx, table, entity)
        return stored

    def _row(self, table: _Table, entity: Entity) -> dict[str, object]:
        row: dict[str, object] = {table.key: _key(table, entity)}
        row.update({column: get(entity) for column, get in table.columns.items()})
        data = table.codec.encode(entity)
        row["data"] = self._fernet.encrypt(data.encode()).decode("ascii") if table.sealed else data
        return row

    def _decode(self, table: _Table, version: int, data: str) -> Any:
        if table.sealed:
            try:
                data = self._fernet.decrypt(data.encode("ascii")).decode()
            except InvalidToken:
                raise RuntimeError(
                    f"{self.path}: a {table.kind} row cannot be decrypted with the data "
                    f"directory's {KEY_FILE}: the key was replaced or the row is damaged; "
                    "restore the original key file"
                ) from None
        return (
            table.codec.decode(data, version=version)
            if table.versioned
            else table.codec.decode(data)
        )

    def _put(
        self, tx: sqlite3.Connection, table: _Table, entity: Entity, row: dict[str, object]
    ) -> Entity:
        key = row[table.key]
        version = getattr(entity, "version", 0) if table.versioned else 0
        if version == 0:
            if table.versioned:
                row = {**row, "version": 1}
            names = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            try:
                inserted = tx.execute(
                    f"INSERT INTO {table.name} ({names}) VALUES ({marks}) "  # noqa: S608
                    f"ON CONFLICT ({table.key}) DO NOTHING",
                    tuple(row.values()),
                ).rowcount
            except sqlite3.IntegrityError as exc:  # another unique column, e.g. key_hash
                if table.name == "services" and "services.slug" in str(exc):
                    raise SlugTaken(str(row["slug"])) from exc
                raise Conflict(f"{table.kind} {key} clashes with a stored one: {exc}") from exc
            if inserted != 1:
                raise ConcurrentUpdate(f"{table.kind} {key} already exists")
        else:
            changes = {name: value for name, value in row.items() if name != table.key}
            assignments = ", ".join(f"{name} = ?" for name in changes)
            updated = tx.execute(
                f"UPDATE {table.name} SET {assignments}, version = version + 1 "  # noqa: S608
                f"WHERE {table.key} = ? AND version = ?",
                (*changes.values(), key, version),
            ).rowcount
            if updated != 1:
                raise self._stale(tx, table, key, version)
        return dataclasses.replace(entity, version=version + 1) if table.versioned else entity  # type: ignore[arg-type]

    def _delete(self, tx: sqlite3.Connection, table: _Table, entity: Entity) -> None:
        key = _key(table, entity)
        version: int = getattr(entity, "version", 0)
        deleted = tx.execute(
            f"DELETE FROM {table.name} WHERE {table.key} = ? AND version = ?",  # noqa: S608
            (key, version),
        ).rowcount
        if deleted != 1:
            raise self._stale(tx, table, key, version)

    @staticmethod
    def _stale(tx: sqlite3.Connection, table: _Table, key: object, version: int) -> Exception:
        found = tx.execute(
            f"SELECT version FROM {table.name} WHERE {table.key} = ?",  # noqa: S608
            (key,),
        ).fetchone()
        if found is None:
            return ConcurrentUpdate(
                f"{table.kind} {key} does not exist (deleted, or never created: create it "
                "with version 0)"
            )
        return ConcurrentUpdate(
            f"{table.kind} {key} was changed by someone else (you have version {version}, the "
            f"store has {found[0]}); read it again and retry"
        )

    # -- reads ---------------------------------------------------------------------------------

    def _get(self, entity_type: type[T], column: str, value: str) -> T | None:
        table = _TABLES[entity_type]
        version = "version" if table.versioned else "0"
        with _storage_errors():
            row = (
                self._connection()
                .execute(
                    f"SELECT {version}, data FROM {table.name} WHERE {column} = ?",  # noqa: S608
                    (value,),
                )
                .fetchone()
            )
        return None if row is None else self._decode(table, row[0], row[1])

    def _page(
        self,
        list_name: str,
        params: Sequence[object],
        limit: int,
        cursor: str | None,
        where: ListFilter[Any] | None = None,
    ) -> Page[Any]:
        """One page (``domain.paging``); with a filter, its time range bounds the index range
        and its ``matches`` is applied to rows as they are read, until ``limit`` + 1 match."""
        span, matches = page_read(limit, where)
        lst = _LISTS[list_name]
        after = lst.start if cursor is None else decode_cursor(lst, cursor)
        if span.empty:
            return Page([], None)
        bounds = [encode_datetime(t) for t in (span.start, span.end) if t is not None]
        sql = lst.sql(since=span.start is not None, until=span.end is not None)
        width = len(lst.order)
        with _storage_errors():
            # Unfiltered: exactly limit + 1 rows. Filtered: rows stream from the index range
            # (LIMIT -1 is none) and reading stops once limit + 1 have matched.
            rows = self._connection().execute(
                sql, (*params, *after, *bounds, limit + 1 if matches is None else -1)
            )
            try:
                items, last = take_page(
                    (
                        (self._decode(lst.table, row[width], row[width + 1]), row[:width])
                        for row in rows
                    ),
                    limit,
                    matches,
                )
            finally:
                rows.close()
        return Page(items, None if last is None else encode_cursor(lst.name, last))

    def get_owner(self, owner_id: str) -> Owner | None:
        return self._get(Owner, "id", owner_id)

    def list_owners(self, limit: int, cursor: str | None = None) -> Page[Owner]:
        return self._page("owners", (), limit, cursor)

    def get_api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        return self._get(ApiKey, "key_hash", key_hash)

    def get_api_key(self, key_id: str) -> ApiKey | None:
        return self._get(ApiKey, "id", key_id)

    def list_api_keys(self, owner_id: str, limit: int, cursor: str | None = None) -> Page[ApiKey]:
        return self._page("api_keys", (owner_id,), limit, cursor)

    def get_credential(self, credential_id: str) -> CredentialRecord | None:
        return self._get(CredentialRecord, "id", credential_id)

    def list_credentials(
        self,
        owner_id: str,
        limit: int,
        cursor: str | None = None,
        where: CredentialFilter = ANY_CREDENTIAL,
    ) -> Page[CredentialRecord]:
        return self._page("credentials", (owner_id,), limit, cursor, where)

    def get_service(self, service_id: str) -> Service | None:
        return self._get(Service, "id", service_id)

    def list_services(
        self,
        owner_id: str,
        limit: int,
        cursor: str | None = None,
        where: ServiceFilter = ANY_SERVICE,
    ) -> Page[Service]:
        return self._page("services", (owner_id,), limit, cursor, where)

    def list_services_using_credential(self, credential_id: str, limit: int) -> list[Service]:
        return self._page("services_by_credential", (credential_id,), limit, None).items

    def get_deploy(self, deploy_id: str) -> Deploy | None:
        return self._get(Deploy, "id", deploy_id)

    def list_deploys(
        self,
        service_id: str,
        limit: int,
        cursor: str | None = None,
        where: DeployFilter = ANY_DEPLOY,
    ) -> Page[Deploy]:
        return self._page("deploys", (service_id,), limit, cursor, where)

    def list_unfinished_deploys(self, limit: int, cursor: str | None = None) -> Page[Deploy]:
        return self._page("unfinished_deploys", (), limit, cursor)

    def get_event(self, event_id: str) -> Event | None:
        return self._get(Event, "id", event_id)

    def list_events(
        self,
        service_id: str,
        limit: int,
        cursor: str | None = None,
        where: EventFilter = ANY_EVENT,
    ) -> Page[Event]:
        return self._page("events", (service_id,), limit, cursor, where)

    def get_run(self, run_id: str) -> CronRun | None:
        return self._get(CronRun, "id", run_id)

    def list_runs(
        self,
        service_id: str,
        limit: int,
        cursor: str | None = None,
        where: RunFilter = ANY_RUN,
    ) -> Page[CronRun]:
        return self._page("runs", (service_id,), limit, cursor, where)

    def list_unfinished_runs(self, limit: int, cursor: str | None = None) -> Page[CronRun]:
        return self._page("unfinished_runs", (), limit, cursor)

    def get_job(self, job_id: str) -> OneOffJob | None:
        return self._get(OneOffJob, "id", job_id)

    def list_jobs(
        self,
        service_id: str,
        limit: int,
        cursor: str | None = None,
        where: JobFilter = ANY_JOB,
    ) -> Page[OneOffJob]:
        return self._page("jobs", (service_id,), limit, cursor, where)

    def list_unfinished_jobs(self, limit: int, cursor: str | None = None) -> Page[OneOffJob]:
        return self._page("unfinished_jobs", (), limit, cursor)

    def get_outbox(self, record_id: str) -> OutboxRecord | None:
        return self._get(OutboxRecord, "id", record_id)

    def list_outbox(self, limit: int, cursor: str | None = None) -> Page[OutboxRecord]:
        return self._page("outbox", (), limit, cursor)

    def get_notification_settings(self, owner_id: str) -> NotificationSettings | None:
        return self._get(NotificationSettings, "owner_id", owner_id)

    def get_notification_override(self, service_id: str) -> NotificationOverride | None:
        return self._get(NotificationOverride, "service_id", service_id)

    def get_webhook(self, webhook_id: str) -> Webhook | None:
        return self._get(Webhook, "id", webhook_id)

    def list_webhooks(self, owner_id: str, limit: int, cursor: str | None = None) -> Page[Webhook]:
        return self._page("webhooks", (owner_id,), limit, cursor)

    def list_deliveries(
        self,
        webhook_id: str,
        limit: int,
        cursor: str | None = None,
        where: DeliveryFilter = ANY_DELIVERY,
    ) -> Page[WebhookDelivery]:
        return self._page("deliveries", (webhook_id,), limit, cursor, where)

    # -- counters ------------------------------------------------------------------------------

    def claim_once(self, key: str, ttl_seconds: int) -> bool:
        """Insert the claim, or take over an expired one, in one statement: ``RETURNING``
        yields a row only when this call inserted or took over."""
        if ttl_seconds < 0:
            raise ValueError(f"ttl_seconds must not be negative, not {ttl_seconds}")
        now = self._clock()
        with self._transaction() as tx:
            tx.execute(
                "DELETE FROM claims WHERE rowid IN (SELECT rowid FROM claims "
                "WHERE expires_at <= ? LIMIT ?)",
                (now, _EXPIRE_BATCH),
            )
            won = tx.execute(
                "INSERT INTO claims (key, expires_at) VALUES (?, ?) ON CONFLICT (key) "
                "DO UPDATE SET expires_at = excluded.expires_at WHERE claims.expires_at <= ? "
                "RETURNING 1",
                (key, now + ttl_seconds, now),
            ).fetchone()
        return won is not None


def _table_of(entity: object) -> _Table:
    table = _TABLES.get(type(entity))
    if table is None:
        raise TypeError(f"{type(entity).__name__} is not a stored entity")
    return table


def _key(table: _Table, entity: object) -> str:
    key: str = getattr(entity, table.key)
    return key


_STORAGE_FAILURES = (
    "disk i/o error",
    "database or disk is full",
    "attempt to write a readonly database",
    "unable to open database file",
)


@contextmanager
def _storage_errors() -> Iterator[None]:
    """SQLite's errors of a full, read-only or failing disk as ``StorageUnavailable``."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        detail = str(exc).lower()
        if not any(failure in detail for failure in _STORAGE_FAILURES):
            raise
        raise StorageUnavailable(
            f"the state could not be read or written ({detail}): the data directory's disk is "
            "full, read-only or failing; nothing was changed; free space or make it writable, "
            "then retry"
        ) from None


if TYPE_CHECKING:
    _conforms: type[Store] = SqliteStore
