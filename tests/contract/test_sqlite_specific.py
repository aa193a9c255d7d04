"""What only the one-machine adapters promise, beyond the store contract: SQLite's WAL mode,
index use, durability across reopening and schema versions; the encrypted secret file."""

from __future__ import annotations

import dataclasses
import inspect
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from imagedeploy.adapters import entity_codec as codec
from imagedeploy.adapters.entity_codec import DATETIME, EntityCodec
from imagedeploy.adapters.local.secrets import (
    KEY_FILE,
    SECRETS_FILE,
    EncryptedFileSecretStore,
    SecretStoreError,
)
from imagedeploy.adapters.local.sqlite_store import _MIGRATIONS, SCHEMA_VERSION, SqliteStore
from imagedeploy.domain.accounts import Owner
from imagedeploy.domain.cron import RunStatus
from imagedeploy.domain.deploys import DeployStatus
from imagedeploy.domain.errors import SlugTaken
from imagedeploy.domain.events import EventType
from imagedeploy.domain.jobs import JobStatus
from imagedeploy.domain.listing import (
    CredentialFilter,
    DeliveryFilter,
    DeployFilter,
    EventFilter,
    JobFilter,
    RunFilter,
    ServiceFilter,
    TimeRange,
)
from imagedeploy.domain.services import EnvVar
from imagedeploy.ports import Entity
from tests.contract.store_contract import (
    FULL_ENTITIES,
    T0,
    at,
    fetch,
    make_api_key,
    make_credential,
    make_delivery,
    make_deploy,
    make_event,
    make_job,
    make_outbox,
    make_owner,
    make_run,
    make_service,
    make_webhook,
    put_one,
    stored,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def sqlite(db_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(db_path)
    yield store
    store.close()


# -- SQLite -------------------------------------------------------------------------------------


def test_wal_mode_and_schema_version(sqlite: SqliteStore, db_path: Path) -> None:
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        raw.close()


_SPAN = TimeRange.between(at(-1), at(5))
FILTERS: dict[str, object] = {
    "list_services": ServiceFilter(created=_SPAN, names=frozenset({"web"})),
    "list_deploys": DeployFilter(created=_SPAN, statuses=frozenset({DeployStatus.CREATED})),
    "list_events": EventFilter(time=_SPAN, types=frozenset({EventType.DEPLOY_STARTED})),
    "list_runs": RunFilter(started=_SPAN, statuses=frozenset({RunStatus.PENDING})),
    "list_deliveries": DeliveryFilter(sent=_SPAN),
    "list_jobs": JobFilter(created=_SPAN, statuses=frozenset({JobStatus.PENDING})),
    "list_credentials": CredentialFilter(names=frozenset({"hub"})),  # creation order: no bound
}


def _call_every_query(store: SqliteStore) -> set[str]:
    """Call every get_*/list_* method (lists twice: the first page and the next), writes,
    a delete and the counters; returns the names of the methods called. Every list has two
    items under the parent "x", so every first page of one item has a next cursor."""
    for i in range(2):
        store.write(
            put=[
                make_owner(),
                make_api_key("x", created_at=at(i)),
                make_credential("x"),
                make_service("x", credential_id="x", created_at=at(i)),
                make_deploy("x", created_at=at(i)),
                make_event("x", timestamp=at(i)),
                make_run("x", started_at=at(i)),
                make_job("x", created_at=at(i)),
                make_webhook("x"),
                make_delivery("x", sent_at=at(i)),
                make_outbox(created_at=at(i), due_at=at(i)),
            ]
        )
    service = put_one(store, make_service("tea-1"))
    store.write(put=[dataclasses.replace(service, name="renamed")])
    owner = put_one(store, make_owner())
    store.write(delete=[owner])
    store.claim_once("k", 60)
    called = set()
    for name, method in inspect.getmembers(store, inspect.ismethod):
        if not name.startswith(("get_", "list_")):
            continue
        params = inspect.signature(method).parameters
        args = [1 if p == "limit" else "x" for p in params if p not in ("cursor", "where")]
        result = method(*args)
        if "cursor" in params:
            assert result.next_cursor is not None, name
            method(*args, cursor=result.next_cursor)
        if "where" in params:  # a filter bounding the time sort key on both sides
            filtered = method(*args, where=FILTERS[name])
            assert filtered.next_cursor is not None, name
            method(*args, cursor=filtered.next_cursor, where=FILTERS[name])
        called.add(name)
    return called


def test_every_query_uses_an_index(sqlite: SqliteStore, db_path: Path) -> None:
    statements: list[str] = []
    sqlite._connection().set_trace_callback(statements.append)
    try:
        called = _call_every_query(sqlite)
    finally:
        sqlite._connection().set_trace_callback(None)
    assert len(called) >= 16, called  # every getter and list of the port
    queries = [
        s for s in statements if s.split()[0].upper() in ("SELECT", "UPDATE", "DELETE", "INSERT")
    ]
    assert sum(q.startswith("SELECT") for q in queries) >= len(called)
    raw = sqlite3.connect(db_path)
    try:
        for query in queries:
            plan = [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + query)]
            for step in plan:
                full_scan = step.startswith("SCAN ") and "USING" not in step
                assert not full_scan, f"{query}\n  scans: {plan}"
                assert "TEMP B-TREE" not in step, f"{query}\n  sorts: {plan}"
    finally:
        raw.close()


def test_data_survives_reopening(db_path: Path) -> None:
    entities = [make() for make in FULL_ENTITIES.values()]
    first = SqliteStore(db_path)
    first.write(put=entities)
    early = [first.write(put=[make_owner(name=f"o{i}")])[0] for i in range(3)]
    first.close()
    second = SqliteStore(db_path)
    try:
        for entity in entities:
            assert fetch(second, entity) == stored(entity)
        late = second.write(put=[make_owner(name="after reopening")])
        owners = [stored(e) for e in entities if isinstance(e, Owner)]
        assert second.list_owners(100).items == owners + early + late  # creation order goes on
    finally:
        second.close()


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    SqliteStore(db_path).close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(RuntimeError, match="newer than this imagedeploy"):
        SqliteStore(db_path)


def test_a_naive_datetime_is_refused_and_nothing_is_written(sqlite: SqliteStore) -> None:
    good = make_owner()
    naive = make_service("tea-1", created_at=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite.write(put=[good, naive])
    assert sqlite.get_owner(good.id) is None


def test_claims_expire_by_the_injected_clock(db_path: Path) -> None:
    now = [1000.0]
    store = SqliteStore(db_path, clock=lambda: now[0])
    try:
        assert store.claim_once("evt", 60) is True
        now[0] += 59.9
        assert store.claim_once("evt", 60) is False
        now[0] += 0.1
        assert store.claim_once("evt", 60) is True
        assert store.claim_once("evt", 60) is False
    finally:
        store.close()


def test_memory_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="needs a file"):
        SqliteStore(":memory:")


def test_closed_store_says_so(db_path: Path) -> None:
    store = SqliteStore(db_path)
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.get_owner("tea-1")


def test_ordering_columns_are_utc_strings(sqlite: SqliteStore, db_path: Path) -> None:
    """Sorting by the text column is time order only if every value is UTC, fixed width."""
    sqlite.write(put=[make_deploy("srv-1", created_at=T0)])
    raw = sqlite3.connect(db_path)
    try:
        [(created_at,)] = raw.execute("SELECT created_at FROM deploys").fetchall()
    finally:
        raw.close()
    assert created_at == "2024-05-01T12:00:00.123456+00:00"


# -- secrets at rest in the database ------------------------------------------------------------

ENV_SECRET = "env-value-S3cr3t-4c1d-that-must-stay-sealed"
HOOK_SECRET = "whsec_c2VhbGVkLXdlYmhvb2stc2VjcmV0LTk5"


def _raw_bytes(db_path: Path) -> bytes:
    """The database's files as they lie on disk (the main file, its WAL and shared memory)."""
    files = [
        db_path,
        db_path.with_name(db_path.name + "-wal"),
        db_path.with_name(db_path.name + "-shm"),
    ]
    return b"".join(f.read_bytes() for f in files if f.exists())


def _secret_entities() -> list[Entity]:
    return [
        make_service("tea-1", env_vars=(EnvVar("DATABASE_PASSWORD", ENV_SECRET),)),
        make_webhook("tea-1", secret=HOOK_SECRET),
    ]


def test_env_var_values_and_webhook_secrets_are_sealed_on_disk(
    sqlite: SqliteStore, db_path: Path
) -> None:
    service, webhook = sqlite.write(put=_secret_entities())
    assert fetch(sqlite, service) == service  # they read back in clear
    assert fetch(sqlite, webhook) == webhook
    raw = _raw_bytes(db_path)
    assert service.id.encode() in raw  # the search below does look at the rows
    assert ENV_SECRET.encode() not in raw
    assert HOOK_SECRET.encode() not in raw
    assert b"DATABASE_PASSWORD" not in raw  # the whole row is sealed, names too


def test_the_database_files_are_private_whatever_the_umask(
    sqlite: SqliteStore, db_path: Path
) -> None:
    old = os.umask(0o022)
    try:
        store = SqliteStore(db_path.with_name("other.db"))
        store.write(put=[make_owner()])
        for suffix in ("", "-wal", "-shm"):
            assert _mode(db_path.with_name("other.db" + suffix)) == 0o600, suffix
        store.close()
    finally:
        os.umask(old)


def test_a_version_1_file_is_migrated_sealed_and_leaves_no_cleartext(db_path: Path) -> None:
    """A file of schema version 1 (cleartext rows) is sealed on opening; afterwards neither the
    file nor its WAL holds the old cleartext (vacuumed, WAL truncated)."""
    service, webhook = _secret_entities()
    key = make_api_key("tea-1", created_at=T0)
    raw = sqlite3.connect(db_path, isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("PRAGMA secure_delete = OFF")  # SQLite's default: deleted rows stay on disk
    for statement in _MIGRATIONS[0]:
        assert isinstance(statement, str)
        raw.execute(statement)
    raw.execute("PRAGMA user_version = 1")
    for table, row in (
        ("services", (service.id, "tea-1", None, "x", 1, codec.SERVICE.encode(service))),
        ("webhooks", (1, webhook.id, "tea-1", 1, codec.WEBHOOK.encode(webhook))),
        ("api_keys", (key.id, "tea-1", key.key_hash, 1, codec.API_KEY.encode(key))),
    ):
        marks = ", ".join("?" for _ in row)
        raw.execute(f"INSERT INTO {table} VALUES ({marks})", row)  # noqa: S608
    for _ in range(10):  # deleted rows: their pages go to the free list, cleartext and all
        deleted = make_service("tea-1", env_vars=(EnvVar("OLD", ENV_SECRET + "-" * 3000),))
        raw.execute(
            "INSERT INTO services VALUES (?, 'tea-1', NULL, 'x', 1, ?)",
            (deleted.id, codec.SERVICE.encode(deleted)),
        )
        raw.execute("DELETE FROM services WHERE id = ?", (deleted.id,))
    raw.close()
    assert ENV_SECRET.encode() in _raw_bytes(db_path)  # what a version-1 file looks like

    store = SqliteStore(db_path)
    try:
        assert store.get_service(service.id) == stored(service)
        assert store.get_webhook(webhook.id) == stored(webhook)
        assert store.list_api_keys("tea-1", 10).items == [stored(key)]
        raw_after = _raw_bytes(db_path)
        assert ENV_SECRET.encode() not in raw_after
        assert HOOK_SECRET.encode() not in raw_after
    finally:
        store.close()
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_replaced_key_file_is_a_clear_error(sqlite: SqliteStore, db_path: Path) -> None:
    sqlite.write(put=_secret_entities()[:1])
    sqlite.close()
    key_file = db_path.parent / KEY_FILE
    key_file.unlink()
    with pytest.raises(RuntimeError, match="cannot be decrypted"):
        SqliteStore(db_path).list_services("tea-1", 10)


# -- the secret store ---------------------------------------------------------------------------

TOKEN = "dckr_pat_S3cr3t-T0ken-value-that-must-never-leak"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_round_trip_and_delete(tmp_path: Path) -> None:
    secrets = EncryptedFileSecretStore(tmp_path)
    assert secrets.get("rgc-1") is None
    secrets.put("rgc-1", "acme", SecretStr(TOKEN))
    secrets.put("rgc-2", "acme", SecretStr("other"))
    assert secrets.get("rgc-1") == SecretStr(TOKEN)
    secrets.put("rgc-1", "acme", SecretStr("rotated"))
    assert secrets.get("rgc-1") == SecretStr("rotated")
    secrets.delete("rgc-1")
    secrets.delete("rgc-1")  # idempotent
    assert secrets.get("rgc-1") is None
    assert EncryptedFileSecretStore(tmp_path).get("rgc-2") == SecretStr("other")


def test_secret_files_are_private_and_encrypted(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the most permissive umask must not loosen the modes
    try:
        secrets = EncryptedFileSecretStore(tmp_path / "data")
        secrets.put("rgc-1", "acme-user", SecretStr(TOKEN))
    finally:
        os.umask(old_umask)
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {KEY_FILE, SECRETS_FILE}
    for path in files:
        assert _mode(path) == 0o600, path
        content = path.read_bytes()
        assert TOKEN.encode() not in content, path
        assert b"acme-user" not in content, path


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    EncryptedFileSecretStore(tmp_path).put("rgc-1", "u", SecretStr(TOKEN))
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(SecretStoreError, match="chmod 600"):
        EncryptedFileSecretStore(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o600)
    assert EncryptedFileSecretStore(tmp_path).get("rgc-1") == SecretStr(TOKEN)


def test_a_replaced_key_is_a_clear_error(tmp_path: Path) -> None:
    EncryptedFileSecretStore(tmp_path).put("rgc-1", "u", SecretStr(TOKEN))
    (tmp_path / KEY_FILE).unlink()
    with pytest.raises(SecretStoreError, match="cannot be decrypted") as caught:
        EncryptedFileSecretStore(tmp_path).get("rgc-1")
    assert TOKEN not in str(caught.value)


def test_nothing_secret_in_repr(tmp_path: Path) -> None:
    secrets = EncryptedFileSecretStore(tmp_path)
    secrets.put("rgc-1", "u", SecretStr(TOKEN))
    key = (tmp_path / KEY_FILE).read_text().strip()
    for text in (repr(secrets), str(secrets), repr(secrets.get("rgc-1"))):
        assert TOKEN not in text
        assert key not in text


def test_concurrent_puts_lose_nothing(tmp_path: Path) -> None:
    secrets = EncryptedFileSecretStore(tmp_path)
    threads = [
        threading.Thread(target=secrets.put, args=(f"rgc-{i}", "u", SecretStr(f"t{i}")))
        for i in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(secrets.get(f"rgc-{i}") == SecretStr(f"t{i}") for i in range(20))


def test_two_starts_share_one_key(tmp_path: Path) -> None:
    EncryptedFileSecretStore(tmp_path).put("rgc-1", "u", SecretStr(TOKEN))
    assert EncryptedFileSecretStore(tmp_path).get("rgc-1") == SecretStr(TOKEN)


def test_a_codec_refuses_a_field_it_cannot_store() -> None:
    """A new entity field of a type JSON does not hold fails at import, not at the first read."""

    @dataclasses.dataclass(frozen=True)
    class Later:
        id: str
        when: datetime

    with pytest.raises(TypeError, match=r"Later\.when"):
        EntityCodec(Later)
    assert EntityCodec(Later, {"when": DATETIME}).decode(
        EntityCodec(Later, {"when": DATETIME}).encode(Later("x", T0))
    ) == Later("x", T0)


def test_a_version_4_file_reserves_the_slugs_of_its_sealed_service_rows(db_path: Path) -> None:
    """Migration 4 -> 5 reads each service's slug out of its sealed row into the unique
    column, so a service stored before slugs were reserved still holds its host name."""
    first = make_service("tea-1", slug="api-3kf9")
    second = make_service("tea-1", slug="api-q7xk")
    store = SqliteStore(db_path)
    store.write(put=[first, second])
    store.close()
    with closing(sqlite3.connect(db_path, isolation_level=None)) as raw:  # back to version 4
        raw.execute("DROP INDEX services_by_slug")
        raw.execute("ALTER TABLE services DROP COLUMN slug")
        raw.execute("PRAGMA user_version = 4")

    store = SqliteStore(db_path)
    try:
        assert store.get_service(first.id) == stored(first)
        with pytest.raises(SlugTaken):
            store.write(put=[make_service("tea-2", slug="api-3kf9")])
        assert store.write(put=[make_service("tea-2", slug="api-new1")])
    finally:
        store.close()
