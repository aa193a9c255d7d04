"""What only the DynamoDB store promises, beyond the store contract (``tests/contract``): key
reads and queries only (no ``Scan``), one request per port call, the sparse indexes following the
entities, opaque tamper-proof cursors, TTL on counters and claims, and the table definition.

Runs on moto (``mock_aws``). The client is the one the store uses, so every request is seen
through botocore's event hooks, exactly as a benchmark would count them.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from imagedeploy.adapters.aws.dynamodb_store import (
    TABLE_DEFINITION,
    DynamoStore,
    create_table,
)
from imagedeploy.domain.accounts import NotificationOverride, NotificationSettings
from imagedeploy.domain.deploys import DeployStatus
from imagedeploy.domain.errors import ConcurrentUpdate, InvalidInput
from tests.contract.store_contract import (
    at,
    make_api_key,
    make_credential,
    make_delivery,
    make_deploy,
    make_event,
    make_outbox,
    make_owner,
    make_job,
    make_run,
    make_service,
    make_webhook,
    put_one,
)

pytestmark = pytest.mark.integration

TABLE = "imagedeploy-test"


class Calls:
    """Every DynamoDB operation the client sends, with its parameters, in order."""

    def __init__(self, client: Any) -> None:
        self.log: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-call.dynamodb.*", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.log.append((model.name, json.loads(params["body"])))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.log]

    def during(self, action: Callable[[], object]) -> list[str]:
        before = len(self.log)
        action()
        return self.names[before:]


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        yield client


@pytest.fixture
def store(client: Any) -> DynamoStore:
    return DynamoStore(TABLE, client=client)


def raw_item(client: Any, pk: str, sk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = client.get_item(
        TableName=TABLE, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
    ).get("Item")
    return item


def index_ids(client: Any, index: str, partition: str) -> list[str]:
    items = client.query(
        TableName=TABLE,
        IndexName=index,
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": f"{index}PK"},
        ExpressionAttributeValues={":pk": {"S": partition}},
    )["Items"]
    return [item[f"{index}SK"]["S"].rsplit("#", 1)[1] for item in items]


# -- requests -----------------------------------------------------------------------------------


def test_a_workload_never_scans_and_each_port_call_is_one_request(
    client: Any, store: DynamoStore
) -> None:
    """Every getter is one GetItem, every list page one Query (also with a cursor), every write
    one TransactWriteItems, the counters one UpdateItem / PutItem; nothing scans."""
    calls = Calls(client)
    per_method: dict[str, list[str]] = {}

    def run(name: str, action: Callable[[], object]) -> None:
        per_method.setdefault(name, []).extend(calls.during(action))

    for i in range(2):  # two of everything under the parent "x": page one has a next cursor
        run(
            "write",
            lambda i=i: store.write(
                put=[
                    make_owner(),
                    make_api_key("x", created_at=at(i)),
                    make_credential("x"),
                    make_service("x", credential_id="x", created_at=at(i)),
                    make_deploy("x", created_at=at(i), status=DeployStatus.QUEUED),
                    make_event("x", timestamp=at(i)),
                    make_run("x", started_at=at(i)),
                    make_job("x", created_at=at(i)),
                    make_webhook("x"),
                    make_delivery("x", sent_at=at(i)),
                    make_outbox(created_at=at(i), due_at=at(i)),
                    NotificationSettings(f"tea-{i}"),
                    NotificationOverride(f"srv-{i}"),
                ]
            ),
        )
    service = put_one(store, make_service("tea-1"))
    run("write", lambda: store.write(put=[dataclasses.replace(service, name="renamed")]))
    owner = put_one(store, make_owner())
    run("write", lambda: store.write(delete=[owner]))
    run("claim_once", lambda: store.claim_once("k", 60))

    lists = {
        "list_owners": lambda cursor: store.list_owners(1, cursor),
        "list_api_keys": lambda cursor: store.list_api_keys("x", 1, cursor),
        "list_credentials": lambda cursor: store.list_credentials("x", 1, cursor),
        "list_services": lambda cursor: store.list_services("x", 1, cursor),
        "list_deploys": lambda cursor: store.list_deploys("x", 1, cursor),
        "list_unfinished_deploys": lambda cursor: store.list_unfinished_deploys(1, cursor),
        "list_events": lambda cursor: store.list_events("x", 1, cursor),
        "list_runs": lambda cursor: store.list_runs("x", 1, cursor),
        "list_webhooks": lambda cursor: store.list_webhooks("x", 1, cursor),
        "list_deliveries": lambda cursor: store.list_deliveries("x", 1, cursor),
        "list_unfinished_runs": lambda cursor: store.list_unfinished_runs(1, cursor),
        "list_outbox": lambda cursor: store.list_outbox(1, cursor),
        "list_jobs": lambda cursor: store.list_jobs("x", 1, cursor),
        "list_unfinished_jobs": lambda cursor: store.list_unfinished_jobs(1, cursor),
    }
    for name, page in lists.items():
        first = page(None)
        assert first.next_cursor is not None, name
        assert first.items, name
        run(name, lambda page=page: page(None))
        run(name, lambda page=page, cursor=first.next_cursor: page(cursor))
    run("list_services_using_credential", lambda: store.list_services_using_credential("x", 1))
    getters: dict[str, Callable[[], object]] = {
        "get_owner": lambda: store.get_owner("x"),
        "get_api_key_by_hash": lambda: store.get_api_key_by_hash("x"),
        "get_api_key": lambda: store.get_api_key("x"),
        "get_credential": lambda: store.get_credential("x"),
        "get_service": lambda: store.get_service("x"),
        "get_deploy": lambda: store.get_deploy("x"),
        "get_event": lambda: store.get_event("x"),
        "get_run": lambda: store.get_run("x"),
        "get_notification_settings": lambda: store.get_notification_settings("x"),
        "get_notification_override": lambda: store.get_notification_override("x"),
        "get_webhook": lambda: store.get_webhook("x"),
        "get_outbox": lambda: store.get_outbox("x"),
        "get_job": lambda: store.get_job("x"),
    }
    for name, get in getters.items():
        run(name, get)

    port_methods = {
        name for name in dir(store) if name.startswith(("get_", "list_")) or name == "write"
    } | {"claim_once"}
    assert set(per_method) == port_methods, "the workload misses a port method"
    assert "Scan" not in calls.names
    assert set(calls.names) <= {"GetItem", "Query", "TransactWriteItems", "UpdateItem", "PutItem"}
    for name, operations in per_method.items():
        if name == "get_api_key":  # keys are keyed by hash; by id is one index read
            assert operations == ["Query"], name
        elif name.startswith("get_"):
            assert operations == ["GetItem"], name
        elif name == "list_services_using_credential":
            assert operations == ["Query"], name
        elif name.startswith("list_"):
            assert operations == ["Query", "Query"], name  # first page, then the cursor's
        elif name == "write":
            assert set(operations) == {"TransactWriteItems"}, name
            assert len(operations) == 4, name  # one per write call
    assert per_method["claim_once"] == ["PutItem"]
    for operation, params in calls.log:
        if operation == "GetItem":
            assert params["ConsistentRead"] is True
        if operation == "Query":
            assert params["IndexName"] in ("GSI1", "GSI2")
            assert params["KeyConditionExpression"] == "#pk = :pk"


def test_every_write_carries_its_own_idempotency_token(client: Any, store: DynamoStore) -> None:
    """SDK retries of a transaction are idempotent on AWS through ``ClientRequestToken``.
    (moto ignores the token, so only its presence and freshness are checked here.)"""
    calls = Calls(client)
    owner = put_one(store, make_owner())
    store.write(put=[dataclasses.replace(owner, name="b")])
    tokens = [p["ClientRequestToken"] for name, p in calls.log if name == "TransactWriteItems"]
    assert len(tokens) == 2
    assert len(set(tokens)) == 2


def test_a_claim_survives_an_sdk_retry_of_its_winning_request(
    client: Any, store: DynamoStore
) -> None:
    """If the response to a winning claim is lost and botocore sends the same request again,
    the retry still wins (the claim carries the request's own token)."""
    retried: list[str] = []

    def retry_the_first_put_once(**_: Any) -> int | None:
        if not retried:
            retried.append("PutItem")
            return 0  # "retry after 0 seconds": the request is sent again, unchanged
        return None

    sent: list[str] = []  # before-send fires once per attempt (moto answers right after it)
    client.meta.events.register_first("before-send.dynamodb.PutItem", lambda **_: sent.append(""))
    client.meta.events.register("needs-retry.dynamodb.PutItem", retry_the_first_put_once)
    calls = Calls(client)
    assert store.claim_once("ecs-event", 3600) is True
    assert (retried, len(sent)) == (["PutItem"], 2)  # one call, sent twice
    assert store.claim_once("ecs-event", 3600) is False
    assert calls.names == ["PutItem", "PutItem"]


def test_too_many_items_for_one_transaction_is_invalid_input(store: DynamoStore) -> None:
    with pytest.raises(InvalidInput, match="at most 100"):
        store.write(put=[make_event("srv-1") for _ in range(101)])
    assert store.list_events("srv-1", 10).items == []
    assert len(store.write(put=[make_event("srv-1") for _ in range(100)])) == 100


def test_the_same_entity_twice_in_one_write_is_invalid_input(store: DynamoStore) -> None:
    owner = put_one(store, make_owner())
    with pytest.raises(InvalidInput, match="more than once"):
        store.write(put=[dataclasses.replace(owner, name="a")], delete=[owner])


def test_a_lost_race_chains_the_aws_error(store: DynamoStore) -> None:
    owner = put_one(store, make_owner())
    with pytest.raises(ConcurrentUpdate, match="already exists") as caught:
        store.write(put=[dataclasses.replace(owner, version=0)])
    assert type(caught.value.__cause__).__name__ == "TransactionCanceledException"


# -- sparse indexes -----------------------------------------------------------------------------


def test_unfinished_deploy_index_entries_come_and_go_with_the_status(
    client: Any, store: DynamoStore
) -> None:
    deploy = put_one(store, make_deploy("srv-1", status=DeployStatus.QUEUED))
    pk = f"DEPLOY#{deploy.id}"
    item = raw_item(client, pk, "DEPLOY")
    assert item is not None
    assert item["GSI2PK"] == {"S": "DEPLOYS#UNFINISHED"}
    assert index_ids(client, "GSI2", "DEPLOYS#UNFINISHED") == [deploy.id]

    live = put_one(store, dataclasses.replace(deploy, status=DeployStatus.LIVE))
    item = raw_item(client, pk, "DEPLOY")
    assert item is not None
    assert "GSI2PK" not in item
    assert "GSI2SK" not in item
    assert index_ids(client, "GSI2", "DEPLOYS#UNFINISHED") == []
    assert store.list_unfinished_deploys(10).items == []
    assert store.list_deploys("srv-1", 10).items == [live]  # still listed under its service

    again = put_one(store, dataclasses.replace(live, status=DeployStatus.UPDATE_IN_PROGRESS))
    assert index_ids(client, "GSI2", "DEPLOYS#UNFINISHED") == [deploy.id]
    store.write(delete=[again])
    assert index_ids(client, "GSI2", "DEPLOYS#UNFINISHED") == []


def test_every_finished_status_leaves_the_index(client: Any, store: DynamoStore) -> None:
    for status in DeployStatus:
        deploy = put_one(store, make_deploy("srv-1", status=DeployStatus.CREATED))
        put_one(store, dataclasses.replace(deploy, status=status))
        item = raw_item(client, f"DEPLOY#{deploy.id}", "DEPLOY")
        assert item is not None
        assert ("GSI2PK" in item) is (not status.finished), status


def test_the_credential_index_follows_the_service(client: Any, store: DynamoStore) -> None:
    service = put_one(store, make_service("tea-1", credential_id="rgc-a"))
    assert index_ids(client, "GSI2", "CREDENTIAL#rgc-a#SERVICES") == [service.id]
    moved = put_one(store, dataclasses.replace(service, credential_id="rgc-b"))
    assert index_ids(client, "GSI2", "CREDENTIAL#rgc-a#SERVICES") == []
    assert index_ids(client, "GSI2", "CREDENTIAL#rgc-b#SERVICES") == [service.id]
    put_one(store, dataclasses.replace(moved, credential_id=None))
    item = raw_item(client, f"SERVICE#{service.id}", "SERVICE")
    assert item is not None
    assert "GSI2PK" not in item
    assert index_ids(client, "GSI2", "CREDENTIAL#rgc-b#SERVICES") == []


def test_updates_keep_the_creation_order(store: DynamoStore) -> None:
    first, second = (
        put_one(store, make_credential("tea-1")),
        put_one(store, make_credential("tea-1")),
    )
    put_one(store, dataclasses.replace(first, name="renamed"))
    assert [c.id for c in store.list_credentials("tea-1", 10).items] == [first.id, second.id]


# -- cursors ------------------------------------------------------------------------------------


@pytest.fixture
def events_cursor(store: DynamoStore) -> str:
    store.write(put=[make_event("srv-1", timestamp=at(i)) for i in range(3)])
    cursor = store.list_events("srv-1", 1).next_cursor
    assert cursor is not None
    return cursor


def test_cursors_are_opaque(store: DynamoStore, events_cursor: str) -> None:
    assert set(events_cursor) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    # Neither the key design, the table nor the partition are in it, even decoded: only the
    # position of the last item returned (its time and id), behind a MAC.
    decoded = base64.urlsafe_b64decode(events_cursor + "=" * (-len(events_cursor) % 4))
    for leak in ("PK", "SK", "GSI", "SERVICE#", "EVENT#", "srv-1", TABLE, "events"):
        assert leak not in events_cursor
        assert leak.encode() not in decoded
    # The next page through it is the second newest event: it works as a position.
    page = store.list_events("srv-1", 1, events_cursor)
    assert [e.timestamp for e in page.items] == [at(1)]


def test_every_edit_of_a_cursor_is_refused_without_asking_dynamodb(
    client: Any, store: DynamoStore, events_cursor: str
) -> None:
    calls = Calls(client)
    alphabet = "Aa0_-"
    for position in range(len(events_cursor)):
        for replacement in alphabet:
            if events_cursor[position] == replacement:
                continue
            edited = events_cursor[:position] + replacement + events_cursor[position + 1 :]
            with pytest.raises(InvalidInput, match="cursor"):
                store.list_events("srv-1", 1, edited)
    for edited in (events_cursor[:-1], events_cursor + "A", events_cursor + "=="):
        with pytest.raises(InvalidInput, match="cursor"):
            store.list_events("srv-1", 1, edited)
    assert calls.names == []


def test_a_forged_cursor_is_refused(store: DynamoStore, events_cursor: str) -> None:
    """Re-encoding a position by hand (the real layout, a position of the same list) is not
    enough: the MAC over list, partition and position does not match."""
    raw = base64.urlsafe_b64decode(events_cursor + "=" * (-len(events_cursor) % 4))
    position = raw[12:].decode()
    assert position.endswith(tuple("0123456789abcdefghijklmnopqrstuv"))  # "<time>#evt-..."
    earlier = position.replace("12:00:02", "12:00:01").encode()
    assert earlier != position.encode()
    for forged in (raw[:12] + earlier, b"\0" * 12 + raw[12:], raw[12:]):
        cursor = base64.urlsafe_b64encode(forged).decode().rstrip("=")
        with pytest.raises(InvalidInput, match="cursor"):
            store.list_events("srv-1", 1, cursor)


def test_a_cursor_is_bound_to_its_partition_and_its_secret(
    client: Any, store: DynamoStore, events_cursor: str
) -> None:
    store.write(put=[make_event("srv-2", timestamp=at(i)) for i in range(3)])
    with pytest.raises(InvalidInput, match="cursor"):
        store.list_events("srv-2", 1, events_cursor)
    with pytest.raises(InvalidInput, match="cursor"):
        store.list_runs("srv-1", 1, events_cursor)
    same_table_other_secret = DynamoStore(TABLE, client=client, cursor_secret=b"k" * 32)
    with pytest.raises(InvalidInput, match="cursor"):
        same_table_other_secret.list_events("srv-1", 1, events_cursor)
    # Another store object on the same table and secret (another Lambda) accepts it.
    assert DynamoStore(TABLE, client=client).list_events("srv-1", 1, events_cursor).items


# -- TTL ----------------------------------------------------------------------------------------


def test_the_table_has_ttl_on_expires_at(client: Any) -> None:
    ttl = client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}


def test_claims_carry_a_ttl_and_expire_by_the_injected_clock(client: Any) -> None:
    now = [1_700_000_000.25]
    store = DynamoStore(TABLE, client=client, clock=lambda: now[0])
    assert store.claim_once("evt-1", 60) is True
    item = raw_item(client, "CLAIM#evt-1", "CLAIM")
    assert item is not None
    assert item["expiresAt"] == {"N": str(math.ceil(now[0] + 60))}  # whole seconds, for TTL
    assert float(item["claimedUntil"]["N"]) == now[0] + 60
    now[0] += 59.9
    assert store.claim_once("evt-1", 60) is False
    now[0] += 0.1
    assert store.claim_once("evt-1", 60) is True  # expired: TTL may not have deleted it yet
    assert store.claim_once("evt-1", 60) is False


def test_entities_carry_no_ttl(client: Any, store: DynamoStore) -> None:
    service = put_one(store, make_service("tea-1"))
    item = raw_item(client, f"SERVICE#{service.id}", "SERVICE")
    assert item is not None
    assert "expiresAt" not in item


# -- the table ----------------------------------------------------------------------------------


def test_table_definition_is_what_the_table_has(client: Any) -> None:
    table = client.describe_table(TableName=TABLE)["Table"]
    assert table["KeySchema"] == TABLE_DEFINITION["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        TABLE_DEFINITION["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in TABLE_DEFINITION["GlobalSecondaryIndexes"]
    }
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_the_client_is_made_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[Any, ...]] = []
    monkeypatch.setattr(boto3, "client", lambda *args, **kw: made.append(args) or object())
    store = DynamoStore(TABLE)
    assert made == []
    assert store.client is store.client
    assert made == [("dynamodb",)]
    assert repr(store) == f"DynamoStore({TABLE!r})"


def test_unknown_entities_are_refused(store: DynamoStore) -> None:
    counts = Counter[str]()
    with pytest.raises(TypeError, match="not a stored entity"):
        store.write(put=[counts])  # type: ignore[list-item]
