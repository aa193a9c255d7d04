"""``DynamoStore``: the ``Store`` port on one DynamoDB table (the AWS deployment's state).

Key design
----------
One table (``TABLE_DEFINITION``, which ``template.yaml`` declares identically): partition key
``PK``, sort key ``SK``, two global secondary indexes ``GSI1`` (``GSI1PK``/``GSI1SK``) and ``GSI2``
(``GSI2PK``/``GSI2SK``), both projecting ALL, TTL on ``expiresAt``, on-demand billing. Every
entity is one item; every read is a ``GetItem`` on ``PK``/``SK`` or a ``Query`` on one index
partition. Nothing scans.

================================  ================================  ================================  ==================================
item                              PK / SK                           GSI1PK / GSI1SK                   GSI2PK / GSI2SK
================================  ================================  ================================  ==================================
owner                             OWNER#<id> / OWNER                OWNERS / <seq>#<id>               -
notification settings             OWNER#<ownerId> / NOTIFY          -                                 -
API key                           APIKEY#<keyHash> / APIKEY         OWNER#<ownerId>#APIKEYS /         APIKEYID#<id> / APIKEY
                                                                    <createdAt>#<id>#<keyHash>
registry credential               CREDENTIAL#<id> / CREDENTIAL      OWNER#<ownerId>#CREDENTIALS /     -
                                                                    <seq>#<id>
service (and cron job)            SERVICE#<id> / SERVICE            OWNER#<ownerId>#SERVICES /        CREDENTIAL#<credId>#SERVICES /
                                                                    <createdAt>#<id>                  <createdAt>#<id> (only with a
                                                                                                      credential)
notification override             SERVICE#<serviceId> / NOTIFY      -                                 -
deploy                            DEPLOY#<id> / DEPLOY              SERVICE#<serviceId>#DEPLOYS /     DEPLOYS#UNFINISHED /
                                                                    <createdAt>#<id>                  <createdAt>#<id> (only while
                                                                                                      unfinished)
event                             EVENT#<id> / EVENT                SERVICE#<serviceId>#EVENTS /      -
                                                                    <timestamp>#<id>
cron run                          RUN#<id> / RUN                    SERVICE#<serviceId>#RUNS /        RUNS#UNFINISHED / <startedAt>#<id>
                                                                    <startedAt>#<id>                  (only while pending)
one-off job                       JOB#<id> / JOB                    SERVICE#<serviceId>#JOBS /        JOBS#UNFINISHED / <createdAt>#<id>
                                                                    <createdAt>#<id>                  (only while unfinished)
webhook                           WEBHOOK#<id> / WEBHOOK            OWNER#<ownerId>#WEBHOOKS /        -
                                                                    <seq>#<id>
webhook delivery                  DELIVERY#<id> / DELIVERY          WEBHOOK#<webhookId>#DELIVERIES /  -
                                                                    <sentAt>#<id>
rate-limit window                 RATELIMIT#<key>#<windowStart> /   -                                 -
                                  RATELIMIT (+ ``hits``,
                                  ``expiresAt``)
slug (a service's host name)      SLUG#<slug> / SLUG (+            -                                 -
                                  ``serviceId``)
claim                             CLAIM#<key> / CLAIM (+            -                                 -
                                  ``claimedUntil``, ``expiresAt``)
================================  ================================  ================================  ==================================

- Gets by id alone (``get_deploy``, ``get_event``, ``get_run``, ...) are one strongly consistent
  ``GetItem``: the id is the partition key. An API key is keyed by its hash, the only way it is
  looked up on a request (changing a key's hash = deleting the item and putting a new one, in
  one write); ``get_api_key`` by id reads ``GSI2`` (eventually consistent). The owner's list
  sorts by ``<createdAt>#<id>#<keyHash>``: a cursor's position must name the item's table key.
- Times in sort keys are ``entity_codec.encode_datetime`` (UTC, microseconds, fixed width), so
  string order is time order and ``#<id>`` breaks ties. Lists newest first read the index
  backwards (``ScanIndexForward=False``).
- Owners, credentials and webhooks list in **creation order**, which none of their fields
  records: ``<seq>`` is the creating write's wall clock in nanoseconds, zero-padded to 20 digits,
  made strictly increasing within a process; it is set when the item is created and never
  changed by updates.
- ``DEPLOYS#UNFINISHED`` is a sparse index: an unfinished deploy carries ``GSI2PK``/``GSI2SK``,
  and the write that finishes it removes them (``DeployStatus.finished`` decides, the same rule as
  SQLite's partial index). Likewise a service is in ``CREDENTIAL#...#SERVICES`` only while it has a
  credential. ``DEPLOYS#UNFINISHED`` and ``OWNERS`` are single partitions: both stay small (deploys
  in progress; workspaces).
- The entity itself is ``data`` (a string: the JSON of ``entity_codec``, the same codec SQLite
  uses), ``version`` is a number of its own (what conditions compare), ``kind`` names the entity.
- Index reads (every list) are eventually consistent, as every GSI is: an item written a moment
  ago may be missing from a list for a fraction of a second. Gets are strongly consistent.

Writes
------
``write`` is one ``TransactWriteItems`` (at most 100 items; ``InvalidInput`` beyond), also for a
single item: its ``ClientRequestToken`` makes the SDK's retries idempotent, where a retried
conditional ``PutItem`` whose first attempt had succeeded would fail its own condition and be
reported as a lost race. Creating (version 0) is a ``Put`` on ``attribute_not_exists(PK)``;
updating is an ``Update`` on ``#v = :expected`` that rewrites ``data``, the version and the index
keys (removing the sparse ones that no longer apply) and leaves ``<seq>`` alone; deleting is a
``Delete`` on the version. Events and deliveries are insert-only. A cancelled transaction whose
reasons include ``ConditionalCheckFailed`` or ``TransactionConflict`` is ``ConcurrentUpdate``.

Claims: ``claim_once`` is one conditional ``PutItem`` that wins when the claim is absent or expired (and,
so that an SDK retry of a winning call still wins, when it carries this call's own token).
DynamoDB deletes expired items within days, not at once: conditions compare times, never rely on
the deletion.

Filtered lists (``domain.listing``): the filter's time range on the sort key is part of the key
condition; its other criteria are checked on the decoded items of each response as they come,
and reading goes on until the page is full or the partition ends. Not a ``FilterExpression``:
the criteria are inside ``data`` (the entity's JSON), so that would need copies of them as item
attributes, kept by every update and backfilled on items written before, while DynamoDB reads
and bills the dropped items either way; this way the rule stays the domain's one function.

Cursors are this store's own: urlsafe base64 of a MAC (HMAC-SHA256, 12 bytes, over the list,
the partition queried and the position) and the position (the index sort key of the last item
returned), from which the ``ExclusiveStartKey`` is rebuilt after validation. A cursor of another
list or another partition, an edited one or garbage is ``InvalidInput``; DynamoDB never sees a
key it did not issue. The MAC key is ``cursor_secret`` when given, else the table name: with the
default, cursors are tamper-evident rather than unforgeable, which is enough because the
partition always comes from the request, never from the cursor.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters import entity_codec as codec
from imagedeploy.adapters.aws.clients import lazy_client
from imagedeploy.adapters.entity_codec import EntityCodec, encode_datetime
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
from imagedeploy.domain.errors import ConcurrentUpdate, InvalidInput, SlugTaken
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
from imagedeploy.domain.paging import MAX_LIMIT, page_read, take_page
from imagedeploy.domain.services import Service
from imagedeploy.ports import Entity, Page

if TYPE_CHECKING:
    from imagedeploy.ports import Store

T = TypeVar("T")

MAX_WRITE_ITEMS = 100  # TransactWriteItems' limit
_MAX_CURSOR_CHARS = 1024
_MAC_BYTES = 12

# The table, in CloudFormation's ``AWS::DynamoDB::Table`` property names. ``template.yaml``
# declares exactly this (a test compares them); ``create_table`` creates it through the API.
TABLE_DEFINITION: Final[dict[str, Any]] = {
    "AttributeDefinitions": [
        {"AttributeName": "PK", "AttributeType": "S"},
        {"AttributeName": "SK", "AttributeType": "S"},
        {"AttributeName": "GSI1PK", "AttributeType": "S"},
        {"AttributeName": "GSI1SK", "AttributeType": "S"},
        {"AttributeName": "GSI2PK", "AttributeType": "S"},
        {"AttributeName": "GSI2SK", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "GSI1",
            "KeySchema": [
                {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
        {
            "IndexName": "GSI2",
            "KeySchema": [
                {"AttributeName": "GSI2PK", "KeyType": "HASH"},
                {"AttributeName": "GSI2SK", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
}
TTL_ATTRIBUTE: Final = "expiresAt"


def create_table(client: Any, table_name: str, *, wait: bool = True) -> None:
    """Create the table of ``TABLE_DEFINITION`` through the API (tests, local experiments;
    deployments get it from ``template.yaml``). ``CreateTable`` takes no TTL: it is switched on
    afterwards, once the table exists."""
    definition = json.loads(json.dumps(TABLE_DEFINITION))  # a deep copy
    ttl = definition.pop("TimeToLiveSpecification")
    client.create_table(TableName=table_name, **definition)
    if wait:
        client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)


# -- where each entity lives ---------------------------------------------------------------------

IndexKeys = tuple[str, str]  # (partition, sort) of one index entry


def _at(field: str) -> Callable[[Any], str]:
    """``<time>#<id>``: the sort key of a list in time order."""
    return lambda entity: f"{encode_datetime(getattr(entity, field))}#{entity.id}"


@dataclass(frozen=True, slots=True)
class _Kind:
    """Where one entity kind lives: ``PK`` = ``<prefix>#<entity.<key_field>>``, ``SK`` = ``sk``."""

    name: str  # the item's ``kind`` attribute
    label: str  # for messages: "service srv-... already exists"
    codec: EntityCodec[Any]
    prefix: str
    sk: str
    key_field: str
    versioned: bool = True  # False: append-only (events, deliveries)
    gsi1: Callable[[Any], IndexKeys] | None = None
    gsi1_seq: Callable[[Any], str] | None = None  # GSI1PK of a list in creation order
    gsi2: Callable[[Any], IndexKeys | None] | None = None  # sparse: None = no entry

    def key_of(self, entity: object) -> str:
        value: str = getattr(entity, self.key_field)
        return value

    def pk(self, key: str) -> str:
        return f"{self.prefix}#{key}"


def _service_by_credential(service: Service) -> IndexKeys | None:
    if service.credential_id is None:
        return None
    return f"CREDENTIAL#{service.credential_id}#SERVICES", _at("created_at")(service)


def _unfinished(deploy: Deploy) -> IndexKeys | None:
    if deploy.status.finished:  # the domain's own rule, as SQLite's partial index uses it
        return None
    return _UNFINISHED_PARTITION, _at("created_at")(deploy)


def _unfinished_run(run: CronRun) -> IndexKeys | None:
    if run.status is not RunStatus.PENDING:
        return None
    return _UNFINISHED_RUNS_PARTITION, _at("started_at")(run)


def _unfinished_job(job: OneOffJob) -> IndexKeys | None:
    if job.status.finished:
        return None
    return _UNFINISHED_JOBS_PARTITION, _at("created_at")(job)


_UNFINISHED_PARTITION = "DEPLOYS#UNFINISHED"
_UNFINISHED_JOBS_PARTITION = "JOBS#UNFINISHED"
_UNFINISHED_RUNS_PARTITION = "RUNS#UNFINISHED"
_OUTBOX_PARTITION = "OUTBOX#PENDING"
_OWNERS_PARTITION = "OWNERS"

_KINDS: dict[type, _Kind] = {
    Owner: _Kind(
        "Owner", "owner", codec.OWNER, "OWNER", "OWNER", "id", gsi1_seq=lambda o: _OWNERS_PARTITION
    ),
    NotificationSettings: _Kind(
        "NotificationSettings",
        "notification settings",
        codec.NOTIFICATION_SETTINGS,
        "OWNER",
        "NOTIFY",
        "owner_id",
    ),
    ApiKey: _Kind(
        "ApiKey",
        "API key",
        codec.API_KEY,
        "APIKEY",
        "APIKEY",
        "key_hash",
        gsi1=lambda k: (
            f"OWNER#{k.owner_id}#APIKEYS",
            f"{encode_datetime(k.created_at)}#{k.id}#{k.key_hash}",
        ),
        gsi2=lambda k: (f"APIKEYID#{k.id}", "APIKEY"),
    ),
    CredentialRecord: _Kind(
        "Credential",
        "registry credential",
        codec.CREDENTIAL,
        "CREDENTIAL",
        "CREDENTIAL",
        "id",
        gsi1_seq=lambda c: f"OWNER#{c.owner_id}#CREDENTIALS",
    ),
    Service: _Kind(
        "Service",
        "service",
        codec.SERVICE,
        "SERVICE",
        "SERVICE",
        "id",
        gsi1=lambda s: (f"OWNER#{s.owner_id}#SERVICES", _at("created_at")(s)),
        gsi2=_service_by_credential,
    ),
    NotificationOverride: _Kind(
        "NotificationOverride",
        "notification override",
        codec.NOTIFICATION_OVERRIDE,
        "SERVICE",
        "NOTIFY",
        "service_id",
    ),
    Deploy: _Kind(
        "Deploy",
        "deploy",
        codec.DEPLOY,
        "DEPLOY",
        "DEPLOY",
        "id",
        gsi1=lambda d: (f"SERVICE#{d.service_id}#DEPLOYS", _at("created_at")(d)),
        gsi2=_unfinished,
    ),
    Event: _Kind(
        "Event",
        "event",
        codec.EVENT,
        "EVENT",
        "EVENT",
        "id",
        versioned=False,
        gsi1=lambda e: (f"SERVICE#{e.service_id}#EVENTS", _at("timestamp")(e)),
    ),
    CronRun: _Kind(
        "CronRun",
        "cron run",
        codec.CRON_RUN,
        "RUN",
        "RUN",
        "id",
        gsi1=lambda r: (f"SERVICE#{r.service_id}#RUNS", _at("started_at")(r)),
        gsi2=_unfinished_run,
    ),
    OneOffJob: _Kind(
        "OneOffJob",
        "job",
        codec.ONE_OFF_JOB,
        "JOB",
        "JOB",
        "id",
        gsi1=lambda j: (f"SERVICE#{j.service_id}#JOBS", _at("created_at")(j)),
        gsi2=_unfinished_job,
    ),
    OutboxRecord: _Kind(
        "OutboxRecord",
        "outbox record",
        codec.OUTBOX_RECORD,
        "OUTBOX",
        "OUTBOX",
        "id",
        # Every stored record is pending (an executed one is deleted): a sparse partition.
        gsi2=lambda r: (_OUTBOX_PARTITION, _at("created_at")(r)),
    ),
    Webhook: _Kind(
        "Webhook",
        "webhook",
        codec.WEBHOOK,
        "WEBHOOK",
        "WEBHOOK",
        "id",
        gsi1_seq=lambda w: f"OWNER#{w.owner_id}#WEBHOOKS",
    ),
    WebhookDelivery: _Kind(
        "WebhookDelivery",
        "webhook delivery",
        codec.WEBHOOK_DELIVERY,
        "DELIVERY",
        "DELIVERY",
        "id",
        versioned=False,
        gsi1=lambda d: (f"WEBHOOK#{d.webhook_id}#DELIVERIES", _at("sent_at")(d)),
    ),
}

# -- lists ---------------------------------------------------------------------------------------

_TIME_POSITION = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00#(?P<id>[^#]{1,256})")
# an API key's position ends with its table key (the hash), which ``_start_key`` needs
_KEY_POSITION = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00#[^#]{1,256}#(?P<id>[0-9a-f]{64})"
)
_SEQ_POSITION = re.compile(r"\d{20}#(?P<id>[^#]{1,256})")


@dataclass(frozen=True, slots=True)
class _List:
    """One paginated list: an index partition read in one direction."""

    name: str  # in cursors (MAC'd), so a cursor of one list is refused by another
    kind: _Kind
    index: str  # "GSI1" / "GSI2"
    partition: Callable[[str], str]  # the list's argument (owner id, ...) -> the index PK
    newest_first: bool
    position: re.Pattern[str]  # what a valid index sort key of this list looks like


_NEWEST_FIRST = True
_OLDEST_FIRST = False
_LISTS = {
    lst.name: lst
    for lst in (
        _List(
            "owners",
            _KINDS[Owner],
            "GSI1",
            lambda _: _OWNERS_PARTITION,
            _OLDEST_FIRST,
            _SEQ_POSITION,
        ),
        _List(
            "api_keys",
            _KINDS[ApiKey],
            "GSI1",
            lambda owner_id: f"OWNER#{owner_id}#APIKEYS",
            _OLDEST_FIRST,
            _KEY_POSITION,
        ),
        _List(
            "credentials",
            _KINDS[CredentialRecord],
            "GSI1",
            lambda owner_id: f"OWNER#{owner_id}#CREDENTIALS",
            _OLDEST_FIRST,
            _SEQ_POSITION,
        ),
        _List(
            "webhooks",
            _KINDS[Webhook],
            "GSI1",
            lambda owner_id: f"OWNER#{owner_id}#WEBHOOKS",
            _OLDEST_FIRST,
            _SEQ_POSITION,
        ),
        _List(
            "services",
            _KINDS[Service],
            "GSI1",
            lambda owner_id: f"OWNER#{owner_id}#SERVICES",
            _OLDEST_FIRST,
            _TIME_POSITION,
        ),
        _List(
            "services_by_credential",
            _KINDS[Service],
            "GSI2",
            lambda credential_id: f"CREDENTIAL#{credential_id}#SERVICES",
            _OLDEST_FIRST,
            _TIME_POSITION,
        ),
        _List(
            "deploys",
            _KINDS[Deploy],
            "GSI1",
            lambda service_id: f"SERVICE#{service_id}#DEPLOYS",
            _NEWEST_FIRST,
            _TIME_POSITION,
        ),
        _List(
            "unfinished_deploys",
            _KINDS[Deploy],
            "GSI2",
            lambda _: _UNFINISHED_PARTITION,
            _NEWEST_FIRST,
            _TIME_POSITION,
        ),
        _List(
            "events",
            _KINDS[Event],
            "GSI1",
            lambda service_id: f"SERVICE#{service_id}#EVENTS",
            _NEWEST_FIRST,
            _TIME_POSITION,
        ),
        _List(
            "runs",
            _KINDS[CronRun],
            "GSI1",
            lambda service_id: f"SERVICE#{service_id}#RUNS",
            _NEWEST_FIRST,
            _TIME_POSITION,
        ),
        _List(
            "unfinished_runs",
            _KINDS[CronRun],
            "GSI2",
            lambda _: _UNFINISHED_RUNS_PARTITION,
            _NEWEST_FIRST,
            _TIME_POSITION,
        ),
        _List(
            "jobs",
            _KINDS[OneOffJob],
            "GSI1",
            lambda service_id: f"SERVICE#{service_id}#JOBS",
            _NEWEST_FIRST,
            _TIME_POSITION,
        ),
        _List(
            "unfinished_jobs",
            _KINDS[OneOffJob],
            "GSI2",
            lambda _: _UNFINISHED_JOBS_PARTITION,
            _NEWEST_FIRST,
            _TIME_POSITION,
        ),
        _List(
            "outbox",
            _KINDS[OutboxRecord],
            "GSI2",
            lambda _: _OUTBOX_PARTITION,
            _OLDEST_FIRST,
            _TIME_POSITION,
        ),
        _List(
            "deliveries",
            _KINDS[WebhookDelivery],
            "GSI1",
            lambda webhook_id: f"WEBHOOK#{webhook_id}#DELIVERIES",
            _NEWEST_FIRST,
            _TIME_POSITION,
        ),
    )
}


# -- attribute values ----------------------------------------------------------------------------


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int | float) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


@dataclass(frozen=True, slots=True)
class _Op:
    """One item of a write, with what a failure message needs."""

    request: dict[str, Any]  # {"Put": {...}} / {"Update": {...}} / {"Delete": {...}}
    kind: _Kind
    key: str
    version: int  # the version the caller holds (0: creating)
    deleting: bool
    slug: str = ""  # a service's host name reservation (``SLUG#<slug>``), not an entity


class DynamoStore:
    """The ``Store`` port on one DynamoDB table (see the module docstring).

    ``client`` is a boto3 DynamoDB client (created lazily with the default session when None);
    ``clock`` gives epoch seconds for claim expiry; ``cursor_secret`` keys the cursors' MAC.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        clock: Callable[[], float] = time.time,
        cursor_secret: bytes | None = None,
    ) -> None:
        if not table_name:
            raise ValueError("DynamoStore needs a table name")
        self.table_name = table_name
        self._client = lazy_client("dynamodb", client)
        self._clock = clock
        self._mac_key = cursor_secret if cursor_secret is not None else table_name.encode()
        self._seq_lock = threading.Lock()
        self._last_seq = 0

    def __repr__(self) -> str:
        return f"DynamoStore({self.table_name!r})"

    @property
    def client(self) -> Any:
        """The boto3 client (the injected one, or one made on first use)."""
        return self._client()

    # -- writes --------------------------------------------------------------------------------

    def write(self, put: Sequence[Entity] = (), delete: Sequence[Entity] = ()) -> list[Entity]:
        """One ``TransactWriteItems`` with a condition per item (see the module docstring)."""
        if not put and not delete:
            return []
        if len(put) + len(delete) > MAX_WRITE_ITEMS:
            raise InvalidInput(
                f"one write changes at most {MAX_WRITE_ITEMS} entities atomically, not "
                f"{len(put) + len(delete)}; split it into several writes"
            )
        ops: list[_Op] = []
        stored: list[Entity] = []
        for entity in put:
            op, result = self._put(entity)
            ops.append(op)
            stored.append(result)
        for entity in delete:
            ops.append(self._delete(entity))
        ops += self._slug_ops(put, delete)
        seen: set[tuple[str, str]] = set()
        for op in ops:
            item_key = (op.kind.pk(op.key), op.kind.sk) if not op.slug else (op.slug, "SLUG")
            if item_key in seen:
                raise InvalidInput(
                    f"{op.kind.label} {op.key} appears more than once in one write; "
                    "each entity can be put or deleted once per write"
                )
            seen.add(item_key)
        try:
            self.client.transact_write_items(
                TransactItems=[op.request for op in ops],
                ClientRequestToken=str(uuid.uuid4()),
            )
        except ClientError as exc:
            raise self._lost_race(exc, ops) from exc
        return stored

    def _put(self, entity: Entity) -> tuple[_Op, Entity]:
        kind = _kind_of(entity)
        key = kind.key_of(entity)
        version: int = getattr(entity, "version", 0) if kind.versioned else 0
        data = kind.codec.encode(entity)
        gsi1 = kind.gsi1(entity) if kind.gsi1 else None
        gsi2 = kind.gsi2(entity) if kind.gsi2 else None
        names = {"#d": "data"}
        if version == 0:
            item: dict[str, Any] = {
                "PK": _s(kind.pk(key)),
                "SK": _s(kind.sk),
                "kind": _s(kind.name),
                "data": _s(data),
            }
            if kind.versioned:
                item["version"] = _n(1)
            if gsi1 is not None:
                item["GSI1PK"], item["GSI1SK"] = _s(gsi1[0]), _s(gsi1[1])
            if kind.gsi1_seq is not None:
                item["GSI1PK"] = _s(kind.gsi1_seq(entity))
                item["GSI1SK"] = _s(f"{self._next_seq()}#{key}")
            if gsi2 is not None:
                item["GSI2PK"], item["GSI2SK"] = _s(gsi2[0]), _s(gsi2[1])
            request = {
                "Put": {
                    "TableName": self.table_name,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
            op = _Op(request, kind, key, 0, deleting=False)
        else:
            names["#v"] = "version"
            values: dict[str, Any] = {
                ":d": _s(data),
                ":expected": _n(version),
                ":next": _n(version + 1),
            }
            sets = ["#d = :d", "#v = :next"]
            removes: list[str] = []
            if gsi1 is not None:
                sets += ["GSI1PK = :g1pk", "GSI1SK = :g1sk"]
                values[":g1pk"], values[":g1sk"] = _s(gsi1[0]), _s(gsi1[1])
            if kind.gsi1_seq is not None:  # the creation order stays what it was
                sets += ["GSI1PK = :g1pk", "GSI1SK = if_not_exists(GSI1SK, :g1sk)"]
                values[":g1pk"] = _s(kind.gsi1_seq(entity))
                values[":g1sk"] = _s(f"{self._next_seq()}#{key}")
            if kind.gsi2 is not None:
                if gsi2 is None:
                    removes += ["GSI2PK", "GSI2SK"]
                else:
                    sets += ["GSI2PK = :g2pk", "GSI2SK = :g2sk"]
                    values[":g2pk"], values[":g2sk"] = _s(gsi2[0]), _s(gsi2[1])
            expression = "SET " + ", ".join(sets)
            if removes:
                expression += " REMOVE " + ", ".join(removes)
            request = {
                "Update": {
                    "TableName": self.table_name,
                    "Key": self._key(kind, key),
                    "UpdateExpression": expression,
                    "ConditionExpression": "#v = :expected",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
            op = _Op(request, kind, key, version, deleting=False)
        if kind.versioned:
            return op, dataclasses.replace(entity, version=version + 1)  # type: ignore[arg-type]
        return op, entity

    def _delete(self, entity: Entity) -> _Op:
        kind = _kind_of(entity)
        key = kind.key_of(entity)
        if not kind.versioned:
            raise TypeError(f"{kind.label} {key} is append-only")
        version: int = getattr(entity, "version", 0)
        request = {
            "Delete": {
                "TableName": self.table_name,
                "Key": self._key(kind, key),
                "ConditionExpression": "#v = :expected",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":expected": _n(version)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        return _Op(request, kind, key, version, deleting=True)

    def _slug_ops(self, put: Sequence[Entity], delete: Sequence[Entity]) -> list[_Op]:
        """A new service reserves its slug (its host name) with ``SLUG#<slug>`` in the same
        transaction (``attribute_not_exists``: two services never get one host); deleting the
        service frees it (only its own reservation: services stored before reservations
        existed have none)."""
        ops: list[_Op] = []
        for entity in put:
            if isinstance(entity, Service) and entity.version == 0:
                item = {
                    "PK": _s(f"SLUG#{entity.slug}"),
                    "SK": _s("SLUG"),
                    "kind": _s("Slug"),
                    "serviceId": _s(entity.id),
                }
                request = {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
                ops.append(_Op(request, _KINDS[Service], entity.id, 0, False, entity.slug))
        for entity in delete:
            if isinstance(entity, Service):
                request = {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": {"PK": _s(f"SLUG#{entity.slug}"), "SK": _s("SLUG")},
                        "ConditionExpression": "attribute_not_exists(PK) OR serviceId = :id",
                        "ExpressionAttributeValues": {":id": _s(entity.id)},
                    }
                }
                ops.append(_Op(request, _KINDS[Service], entity.id, 0, True, entity.slug))
        return ops

    @staticmethod
    def _lost_race(exc: Any, ops: Sequence[_Op]) -> Exception:
        """``ConcurrentUpdate`` for a transaction cancelled by a condition or a concurrent
        transaction on one of its items; any other error as it came."""
        error = exc.response.get("Error", {})
        if error.get("Code") != "TransactionCanceledException":
            return exc  # type: ignore[no-any-return]
        reasons = exc.response.get("CancellationReasons") or []
        for op, reason in zip(ops, reasons, strict=False):
            code = reason.get("Code")
            if code == "ConditionalCheckFailed" and op.slug:
                return SlugTaken(op.slug)
            if code == "ConditionalCheckFailed":
                return ConcurrentUpdate(_stale_message(op, reason.get("Item")))
            if code == "TransactionConflict":
                return ConcurrentUpdate(
                    f"{op.kind.label} {op.key} is being changed by another write at this moment; "
                    "read it again and retry"
                )
        return exc  # type: ignore[no-any-return]

    def _next_seq(self) -> str:
        """The creation-order key: wall-clock nanoseconds, strictly increasing in this process."""
        with self._seq_lock:
            self._last_seq = max(time.time_ns(), self._last_seq + 1)
            return f"{self._last_seq:020d}"

    def _key(self, kind: _Kind, key: str) -> dict[str, Any]:
        return {"PK": _s(kind.pk(key)), "SK": _s(kind.sk)}

    # -- reads ---------------------------------------------------------------------------------

    def _get(self, entity_type: type[T], key: str) -> T | None:
        kind = _KINDS[entity_type]
        response = self.client.get_item(
            TableName=self.table_name, Key=self._key(kind, key), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else _decode(kind, item)

    def _page(
        self,
        list_name: str,
        argument: str,
        limit: int,
        cursor: str | None,
        where: ListFilter[Any] | None = None,
    ) -> Page[Any]:
        """One page of a ``Query``. With a filter: its time range is part of the key condition
        (the list's sort key starts with the time), and its ``matches`` is applied to the items
        as responses come, reading on until ``limit`` + 1 match or the partition ends."""
        span, matches = page_read(limit, where)
        lst = _LISTS[list_name]
        partition = lst.partition(argument)
        if span.empty:
            return Page([], None)
        key_condition, values = "#pk = :pk", {":pk": _s(partition)}
        if not span.unbounded:
            if lst.position is not _TIME_POSITION:
                raise TypeError(f"the {lst.name} list has no time sort key to bound")
            # ``<time>#<id>`` sort keys: t >= start is SK >= "<start>", t < end is
            # SK < "<end>" (every key of time ``end`` is "<end>#..." > "<end>").
            if span.start is not None and span.end is not None:
                key_condition += " AND #sk BETWEEN :since AND :until"
            elif span.start is not None:
                key_condition += " AND #sk >= :since"
            else:
                key_condition += " AND #sk < :until"
            if span.start is not None:
                values[":since"] = _s(encode_datetime(span.start))
            if span.end is not None:
                values[":until"] = _s(encode_datetime(span.end))
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": lst.index,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeNames": {"#pk": f"{lst.index}PK"}
            | ({} if span.unbounded else {"#sk": f"{lst.index}SK"}),
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not lst.newest_first,
        }
        if cursor is not None:
            position = self._decode_cursor(lst, partition, cursor)
            request["ExclusiveStartKey"] = self._start_key(lst, partition, position)
        # unfiltered, one more than asked tells whether there is a next page; filtered,
        # full-size reads (how many of them match is unknown)
        wanted = limit + 1 if matches is None else None
        items, last = take_page(self._query(request, lst, wanted), limit, matches)
        return Page(items, None if last is None else self._encode_cursor(lst, partition, last))

    def _query(
        self, request: dict[str, Any], lst: _List, wanted: int | None
    ) -> Iterator[tuple[Any, str]]:
        """The items of ``request`` (each with its index sort key), response after response:
        a response stops at 1 MB or ``Limit``, so the next one is asked for only when the
        caller reads on. ``wanted``: how many items the caller reads at most (None: unknown,
        full-size responses)."""
        read = 0
        while True:
            request["Limit"] = MAX_LIMIT + 1 if wanted is None else wanted - read
            response = self.client.query(**request)
            for raw in response.get("Items", []):
                read += 1
                yield _decode(lst.kind, raw), raw[f"{lst.index}SK"]["S"]
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _start_key(self, lst: _List, partition: str, position: str) -> dict[str, Any]:
        match = lst.position.fullmatch(position)
        if match is None:  # cannot happen for a cursor whose MAC checked out
            raise _bad_cursor(position)
        return {
            **self._key(lst.kind, match["id"]),
            f"{lst.index}PK": _s(partition),
            f"{lst.index}SK": _s(position),
        }

    def _mac(self, lst: _List, partition: str, position: bytes) -> bytes:
        message = b"\0".join((lst.name.encode(), partition.encode(), position))
        return hmac.new(self._mac_key, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def _encode_cursor(self, lst: _List, partition: str, position: str) -> str:
        raw = position.encode()
        token = self._mac(lst, partition, raw) + raw
        return base64.urlsafe_b64encode(token).decode("ascii").rstrip("=")

    def _decode_cursor(self, lst: _List, partition: str, cursor: str) -> str:
        """The position a cursor points after; ``InvalidInput`` for anything this store did not
        issue for this list and partition."""
        if not isinstance(cursor, str) or not 0 < len(cursor) <= _MAX_CURSOR_CHARS:
            raise _bad_cursor(cursor)
        try:
            token = base64.b64decode(cursor + "=" * (-len(cursor) % 4), b"-_", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _bad_cursor(cursor) from exc
        if base64.urlsafe_b64encode(token).decode("ascii").rstrip("=") != cursor:
            raise _bad_cursor(cursor)  # only the one spelling this store writes (no spare bits)
        mac, raw = token[:_MAC_BYTES], token[_MAC_BYTES:]
        if not raw or not hmac.compare_digest(mac, self._mac(lst, partition, raw)):
            raise _bad_cursor(cursor)
        try:
            position = raw.decode()
        except UnicodeDecodeError as exc:
            raise _bad_cursor(cursor) from exc
        if lst.position.fullmatch(position) is None:
            raise _bad_cursor(cursor)
        return position

    def get_owner(self, owner_id: str) -> Owner | None:
        return self._get(Owner, owner_id)

    def list_owners(self, limit: int, cursor: str | None = None) -> Page[Owner]:
        return self._page("owners", "", limit, cursor)

    def get_api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        return self._get(ApiKey, key_hash)

    def get_api_key(self, key_id: str) -> ApiKey | None:
        response = self.client.query(
            TableName=self.table_name,
            IndexName="GSI2",
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": "GSI2PK"},
            ExpressionAttributeValues={":pk": _s(f"APIKEYID#{key_id}")},
            Limit=1,
        )
        items = response.get("Items", [])
        return _decode(_KINDS[ApiKey], items[0]) if items else None

    def list_api_keys(self, owner_id: str, limit: int, cursor: str | None = None) -> Page[ApiKey]:
        return self._page("api_keys", owner_id, limit, cursor)

    def get_credential(self, credential_id: str) -> CredentialRecord | None:
        return self._get(CredentialRecord, credential_id)

    def list_credentials(
        self,
        owner_id: str,
        limit: int,
        cursor: str | None = None,
        where: CredentialFilter = ANY_CREDENTIAL,
    ) -> Page[CredentialRecord]:
        return self._page("credentials", owner_id, limit, cursor, where)

    def get_service(self, service_id: str) -> Service | None:
        return self._get(Service, service_id)

    def list_services(
        self,
        owner_id: str,
        limit: int,
        cursor: str | None = None,
        where: ServiceFilter = ANY_SERVICE,
    ) -> Page[Service]:
        return self._page("services", owner_id, limit, cursor, where)

    def list_services_using_credential(self, credential_id: str, limit: int) -> list[Service]:
        return self._page("services_by_credential", credential_id, limit, None).items

    def get_deploy(self, deploy_id: str) -> Deploy | None:
        return self._get(Deploy, deploy_id)

    def list_deploys(
        self,
        service_id: str,
        limit: int,
        cursor: str | None = None,
        where: DeployFilter = ANY_DEPLOY,
    ) -> Page[Deploy]:
        return self._page("deploys", service_id, limit, cursor, where)

    def list_unfinished_deploys(self, limit: int, cursor: str | None = None) -> Page[Deploy]:
        return self._page("unfinished_deploys", "", limit, cursor)

    def get_event(self, event_id: str) -> Event | None:
        return self._get(Event, event_id)

    def list_events(
        self,
        service_id: str,
        limit: int,
        cursor: str | None = None,
        where: EventFilter = ANY_EVENT,
    ) -> Page[Event]:
        return self._page("events", service_id, limit, cursor, where)

    def get_run(self, run_id: str) -> CronRun | None:
        return self._get(CronRun, run_id)

    def list_runs(
        self,
        service_id: str,
        limit: int,
        cursor: str | None = None,
        where: RunFilter = ANY_RUN,
    ) -> Page[CronRun]:
        return self._page("runs", service_id, limit, cursor, where)

    def list_unfinished_runs(self, limit: int, cursor: str | None = None) -> Page[CronRun]:
        return self._page("unfinished_runs", "", limit, cursor)

    def get_job(self, job_id: str) -> OneOffJob | None:
        return self._get(OneOffJob, job_id)

    def list_jobs(
        self,
        service_id: str,
        limit: int,
        cursor: str | None = None,
        where: JobFilter = ANY_JOB,
    ) -> Page[OneOffJob]:
        return self._page("jobs", service_id, limit, cursor, where)

    def list_unfinished_jobs(self, limit: int, cursor: str | None = None) -> Page[OneOffJob]:
        return self._page("unfinished_jobs", "", limit, cursor)

    def get_outbox(self, record_id: str) -> OutboxRecord | None:
        return self._get(OutboxRecord, record_id)

    def list_outbox(self, limit: int, cursor: str | None = None) -> Page[OutboxRecord]:
        return self._page("outbox", "", limit, cursor)

    def get_notification_settings(self, owner_id: str) -> NotificationSettings | None:
        return self._get(NotificationSettings, owner_id)

    def get_notification_override(self, service_id: str) -> NotificationOverride | None:
        return self._get(NotificationOverride, service_id)

    def get_webhook(self, webhook_id: str) -> Webhook | None:
        return self._get(Webhook, webhook_id)

    def list_webhooks(self, owner_id: str, limit: int, cursor: str | None = None) -> Page[Webhook]:
        return self._page("webhooks", owner_id, limit, cursor)

    def list_deliveries(
        self,
        webhook_id: str,
        limit: int,
        cursor: str | None = None,
        where: DeliveryFilter = ANY_DELIVERY,
    ) -> Page[WebhookDelivery]:
        return self._page("deliveries", webhook_id, limit, cursor, where)

    # -- counters ------------------------------------------------------------------------------

    def claim_once(self, key: str, ttl_seconds: int) -> bool:
        """A conditional ``PutItem``: it wins when no claim exists, the stored one has expired,
        or the stored one is this very call's (an SDK retry after a lost response). The exact
        expiry is ``claimedUntil`` (fractional seconds); ``expiresAt``, the TTL attribute, is
        that rounded up to whole seconds."""
        if ttl_seconds < 0:
            raise ValueError(f"ttl_seconds must not be negative, not {ttl_seconds}")
        now = self._clock()
        until = now + ttl_seconds
        token = uuid.uuid4().hex
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "PK": _s(f"CLAIM#{key}"),
                    "SK": _s("CLAIM"),
                    "kind": _s("Claim"),
                    "claimedUntil": _n(float(until)),
                    TTL_ATTRIBUTE: _n(math.ceil(until)),
                    "token": _s(token),
                },
                ConditionExpression=(
                    "attribute_not_exists(PK) OR #until <= :now OR #token = :token"
                ),
                ExpressionAttributeNames={"#until": "claimedUntil", "#token": "token"},
                ExpressionAttributeValues={":now": _n(float(now)), ":token": _s(token)},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _kind_of(entity: object) -> _Kind:
    kind = _KINDS.get(type(entity))
    if kind is None:
        raise TypeError(f"{type(entity).__name__} is not a stored entity")
    return kind


def _decode(kind: _Kind, item: Mapping[str, Any]) -> Any:
    data = item["data"]["S"]
    if kind.versioned:
        return kind.codec.decode(data, version=int(item["version"]["N"]))
    return kind.codec.decode(data)


def _stale_message(op: _Op, stored_item: Mapping[str, Any] | None) -> str:
    label, key = op.kind.label, op.key
    if op.version == 0 and not op.deleting:
        return f"{label} {key} already exists"
    if not stored_item:
        return f"{label} {key} does not exist (deleted, or never created: create it with version 0)"
    stored_version = stored_item.get("version", {}).get("N", "?")
    return (
        f"{label} {key} was changed by someone else (you have version {op.version}, the store "
        f"has {stored_version}); read it again and retry"
    )


def _bad_cursor(cursor: object) -> InvalidInput:
    return InvalidInput(
        f"cursor {str(cursor)[:40]!r} is not a cursor of this list: pass the cursor returned with a "
        "previous page of the same list unchanged, or omit it to start from the first page"
    )


if TYPE_CHECKING:
    _conforms: type[Store] = DynamoStore
