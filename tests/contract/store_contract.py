"""The ``Store`` contract: what every store (SQLite now, DynamoDB later) must do, written once.

Each test takes ``store`` or ``store_factory`` from ``conftest.py`` and so runs against every
implementation listed there. The entity builders below are shared with implementation-specific
tests.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar, cast

import pytest

from imagedeploy.domain.accounts import (
    ApiKey,
    CredentialRecord,
    NotificationOverride,
    NotificationSettings,
    NotificationsToSend,
    Owner,
    Webhook,
    WebhookDelivery,
    hash_key,
    new_secret_key,
)
from imagedeploy.domain.cron import CronRun, RunStatus, RunTrigger
from imagedeploy.domain.deploys import (
    Deploy,
    DeploySettings,
    DeployStatus,
    DeployTrigger,
)
from imagedeploy.domain.errors import ConcurrentUpdate, InvalidInput, SlugTaken
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.jobs import JobStatus, OneOffJob
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
from imagedeploy.domain.outbox import Notify, OutboxRecord, RunJob, encode_effect
from imagedeploy.domain.registries import RegistryKind
from imagedeploy.domain.services import EnvVar, Plan, Region, Service, ServiceType
from imagedeploy.ports import Entity, Page, Store

pytestmark = pytest.mark.integration

E = TypeVar("E", bound=Entity)
V = TypeVar("V")
T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
StoreFactory = Callable[[], Store]

# -- builders -----------------------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_owner(**changes: Any) -> Owner:
    return dataclasses.replace(
        Owner(id=new_id("tea"), name="Acme", email="ops@acme.test"), **changes
    )


def make_api_key(owner_id: str, **changes: Any) -> ApiKey:
    key = ApiKey(
        id=new_id("rnd"),
        owner_id=owner_id,
        name="ci",
        key_hash=hash_key(new_secret_key()),
        created_at=T0,
    )
    return dataclasses.replace(key, **changes)


def make_credential(owner_id: str, **changes: Any) -> CredentialRecord:
    record = CredentialRecord(
        id=new_id("rgc"),
        owner_id=owner_id,
        name="hub",
        registry=RegistryKind.DOCKER,
        username="acme",
        updated_at=T0,
    )
    return dataclasses.replace(record, **changes)


def make_service(owner_id: str, **changes: Any) -> Service:
    service = Service(
        id=new_id("srv"),
        owner_id=owner_id,
        type=ServiceType.WEB_SERVICE,
        name="web",
        slug="",
        image_path="docker.io/library/nginx:1.27",
        credential_id=None,
        plan=Plan.STARTER,
        region=Region.OREGON,
        num_instances=1,
        docker_command="",
        pre_deploy_command="",
        health_check_path="",
        port=10000,
        max_shutdown_delay_seconds=30,
        schedule="",
        env_vars=(),
        suspended=False,
        hook_key_hash=hash_key("hook"),
        created_at=T0,
        updated_at=T0,
    )
    service = dataclasses.replace(service, **changes)
    if not service.slug:  # slugs are unique (the service's host name): one per service
        service = dataclasses.replace(service, slug=f"web-{service.id.rpartition('-')[2]}")
    return service


def make_deploy(service_id: str, **changes: Any) -> Deploy:
    deploy = Deploy(
        id=new_id("dep"),
        service_id=service_id,
        status=DeployStatus.CREATED,
        trigger=DeployTrigger.API,
        image_ref="docker.io/library/nginx:1.27",
        credential_id=None,
        settings=DeploySettings(
            docker_command="",
            pre_deploy_command="",
            health_check_path="",
            port=10000,
            plan=Plan.STARTER,
        ),
        created_at=T0,
        updated_at=T0,
    )
    return dataclasses.replace(deploy, **changes)


def make_event(service_id: str, **changes: Any) -> Event:
    event = Event(
        id=new_id("evt"),
        service_id=service_id,
        type=EventType.DEPLOY_STARTED,
        timestamp=T0,
        details={"deployId": "dep-x"},
    )
    return dataclasses.replace(event, **changes)


def make_run(service_id: str, **changes: Any) -> CronRun:
    run = CronRun(
        id=new_id("run"),
        service_id=service_id,
        status=RunStatus.PENDING,
        trigger=RunTrigger.SCHEDULE,
        deploy_id=new_id("dep"),
        image="docker.io/library/alpine@sha256:" + "a" * 64,
        started_at=T0,
    )
    return dataclasses.replace(run, **changes)


def make_job(service_id: str, **changes: Any) -> OneOffJob:
    job = OneOffJob(
        id=new_id("job"),
        service_id=service_id,
        start_command="echo hi",
        plan=Plan.STARTER,
        status=JobStatus.PENDING,
        deploy_id=new_id("dep"),
        image="docker.io/library/alpine@sha256:" + "a" * 64,
        created_at=T0,
    )
    return dataclasses.replace(job, **changes)


def make_outbox(**changes: Any) -> OutboxRecord:
    record = OutboxRecord(
        id=new_id("obx"),
        effects=(encode_effect(RunJob("begin", "dep-1")), encode_effect(Notify("srv-1", "evt-1"))),
        created_at=T0,
        due_at=T0,
    )
    return dataclasses.replace(record, **changes)


def make_webhook(owner_id: str, **changes: Any) -> Webhook:
    webhook = Webhook(
        id=new_id("whk"),
        owner_id=owner_id,
        name="ops",
        url="https://hooks.acme.test/render",
        secret="whsec_c2VjcmV0",
        enabled=True,
        event_filter=(),
    )
    return dataclasses.replace(webhook, **changes)


def make_delivery(webhook_id: str, **changes: Any) -> WebhookDelivery:
    delivery = WebhookDelivery(
        id=new_id("whe"),
        webhook_id=webhook_id,
        event_id=new_id("evt"),
        event_type="deploy_ended",
        sent_at=T0,
        status_code=200,
        attempts=1,
        delivered=True,
    )
    return dataclasses.replace(delivery, **changes)


# Every field away from its default, datetimes with microseconds and a non-UTC offset.
_CEST = timezone(timedelta(hours=2))
_LATER = datetime(2024, 6, 30, 23, 59, 59, 999999, tzinfo=_CEST)
FULL_ENTITIES: dict[str, Callable[[], Entity]] = {
    "owner": lambda: make_owner(type="user"),
    "api_key": lambda: make_api_key(
        "tea-1", created_at=_LATER, last_used_at=_LATER + timedelta(minutes=1)
    ),
    "credential": lambda: make_credential(
        "tea-1",
        registry=RegistryKind.GOOGLE_ARTIFACT,
        username="_json_key",
        updated_at=_LATER,
        created_at=_LATER - timedelta(days=1),
    ),
    "service": lambda: make_service(
        "tea-1",
        type=ServiceType.CRON_JOB,
        credential_id="rgc-1",
        plan=Plan.PRO_ULTRA,
        region=Region.FRANKFURT,
        docker_command="sh -c 'echo hi'",
        pre_deploy_command="./migrate",
        health_check_path="/healthz",
        port=8080,
        max_shutdown_delay_seconds=300,
        schedule="*/10 * * * *",
        env_vars=(EnvVar("A", "1"), EnvVar("B", 'ü "quoted"\n')),
        suspended=True,
        created_at=_LATER,
        updated_at=_LATER + timedelta(microseconds=1),
        live_deploy_id="dep-live",
        active_deploy_id="dep-active",
        queued_deploy_id="dep-queued",
        active_run_id="run-1",
        pending_tick=True,
        local_port=41234,
    ),
    "deploy": lambda: make_deploy(
        "srv-1",
        status=DeployStatus.PRE_DEPLOY_FAILED,
        trigger=DeployTrigger.ROLLBACK,
        credential_id="rgc-1",
        settings=DeploySettings("run", "./migrate", "/healthz", 8080, Plan.PRO),
        image_sha="sha256:" + "b" * 64,
        platform_digest="sha256:" + "c" * 64,
        started_at=_LATER,
        finished_at=_LATER + timedelta(seconds=1),
        rollback_of="dep-old",
        reason={"failure": {"nonZeroExit": 3}, "list": [1, "two", None], "ok": True},
    ),
    "event": lambda: make_event(
        "srv-1",
        type=EventType.SERVER_FAILED,
        timestamp=_LATER,
        details={"reason": {"oomKilled": {"memoryLimit": "512Mi"}}},
    ),
    "cron_run": lambda: make_run(
        "crn-1",
        status=RunStatus.UNSUCCESSFUL,
        trigger=RunTrigger.MANUAL,
        started_at=_LATER,
        finished_at=_LATER + timedelta(hours=1),
        exit_code=137,
        reason="killed",
    ),
    "job": lambda: make_job(
        "srv-1",
        start_command="sh -c 'exit 3'",
        plan=Plan.PRO_MAX,
        status=JobStatus.FAILED,
        created_at=_LATER,
        started_at=_LATER + timedelta(seconds=1),
        finished_at=_LATER + timedelta(hours=1),
        exit_code=3,
        reason="exit 3",
    ),
    "notification_settings": lambda: NotificationSettings("tea-1", NotificationsToSend.ALL),
    "notification_override": lambda: NotificationOverride("srv-1", NotificationsToSend.NONE),
    "webhook": lambda: make_webhook(
        "tea-1", enabled=False, event_filter=("deploy_ended", "server_failed")
    ),
    "webhook_delivery": lambda: make_delivery(
        "whk-1", sent_at=_LATER, status_code=None, attempts=5, delivered=False, error="timeout"
    ),
    "outbox_record": lambda: make_outbox(
        created_at=_LATER,
        due_at=_LATER + timedelta(seconds=8),
        done=1,
        attempts=4,
        last_error="ThrottlingException: Rate exceeded",
    ),
}
MINIMAL_ENTITIES: dict[str, Callable[[], Entity]] = {
    "owner": make_owner,
    "api_key": lambda: make_api_key("tea-1"),
    "credential": lambda: make_credential("tea-1"),
    "service": lambda: make_service("tea-1"),
    "deploy": lambda: make_deploy("srv-1"),
    "event": lambda: make_event("srv-1", details={}),
    "cron_run": lambda: make_run("crn-1"),
    "job": lambda: make_job("srv-1"),
    "notification_settings": lambda: NotificationSettings("tea-1"),
    "notification_override": lambda: NotificationOverride("srv-1"),
    "webhook": lambda: make_webhook("tea-1"),
    "webhook_delivery": lambda: make_delivery("whk-1"),
    "outbox_record": lambda: make_outbox(effects=()),
}


def fetch(store: Store, entity: Entity) -> Entity | None:
    """Read ``entity`` back through the store's own getter (or its list, for deliveries)."""
    match entity:
        case Owner():
            return store.get_owner(entity.id)
        case ApiKey():
            return store.get_api_key_by_hash(entity.key_hash)
        case CredentialRecord():
            return store.get_credential(entity.id)
        case Service():
            return store.get_service(entity.id)
        case Deploy():
            return store.get_deploy(entity.id)
        case Event():
            return store.get_event(entity.id)
        case CronRun():
            return store.get_run(entity.id)
        case OneOffJob():
            return store.get_job(entity.id)
        case NotificationSettings():
            return store.get_notification_settings(entity.owner_id)
        case NotificationOverride():
            return store.get_notification_override(entity.service_id)
        case Webhook():
            return store.get_webhook(entity.id)
        case WebhookDelivery():
            found = [d for d in store.list_deliveries(entity.webhook_id, 100).items]
            return next((d for d in found if d.id == entity.id), None)
        case OutboxRecord():
            return store.get_outbox(entity.id)
    raise AssertionError(f"no getter for {entity!r}")


def put_one(store: Store, entity: E) -> E:
    """Write one new entity; returns the stored copy, typed as what was written."""
    [written] = store.write(put=[entity])
    return cast(E, written)


def stored(entity: E, version: int = 1) -> E:
    """What the store holds after writing ``entity``: versioned entities get a version."""
    if hasattr(entity, "version"):
        return cast(E, dataclasses.replace(cast(Any, entity), version=version))
    return entity


# -- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FULL_ENTITIES))
@pytest.mark.parametrize("variant", ["full", "minimal"])
def test_every_entity_round_trips_exactly(store: Store, kind: str, variant: str) -> None:
    entity = (FULL_ENTITIES if variant == "full" else MINIMAL_ENTITIES)[kind]()
    [written] = store.write(put=[entity])
    assert written == stored(entity)
    read = fetch(store, entity)
    assert read == written
    assert type(read) is type(entity)
    for field in dataclasses.fields(cast(Any, read)):
        value = getattr(read, field.name)
        assert type(value) is type(getattr(entity, field.name)), field.name
        if isinstance(value, datetime):
            assert value.utcoffset() == timedelta(0), f"{field.name} is not UTC"


def test_get_of_a_missing_key_is_none(store: Store) -> None:
    assert store.get_owner("tea-missing") is None
    assert store.get_api_key_by_hash(hash_key("nope")) is None
    assert store.get_credential("rgc-missing") is None
    assert store.get_service("srv-missing") is None
    assert store.get_deploy("dep-missing") is None
    assert store.get_event("evt-missing") is None
    assert store.get_run("run-missing") is None
    assert store.get_notification_settings("tea-missing") is None
    assert store.get_notification_override("srv-missing") is None
    assert store.get_webhook("whk-missing") is None


def test_api_key_is_found_by_its_hash_or_its_id(store: Store) -> None:
    key = make_api_key("tea-1")
    other = make_api_key("tea-1")
    store.write(put=[key, other])
    assert store.get_api_key_by_hash(key.key_hash) == stored(key)
    assert store.get_api_key_by_hash(other.key_hash) == stored(other)
    assert store.get_api_key_by_hash(key.id) is None
    assert store.get_api_key(key.id) == stored(key)
    assert store.get_api_key(key.key_hash) is None
    assert store.get_api_key("rnd-missing") is None


def test_an_api_keys_last_use_is_updated_and_a_revoked_key_is_gone(store: Store) -> None:
    key = put_one(store, make_api_key("tea-1"))
    used = put_one(store, dataclasses.replace(key, last_used_at=at(60)))
    assert store.get_api_key_by_hash(key.key_hash) == used
    assert store.list_api_keys("tea-1", 10).items == [used]
    store.write(delete=[used])
    assert store.get_api_key_by_hash(key.key_hash) is None
    assert store.get_api_key(key.id) is None
    assert store.list_api_keys("tea-1", 10) == Page([], None)


# -- versions -----------------------------------------------------------------------------------


def test_versions_count_writes(store: Store) -> None:
    v1 = put_one(store, make_service("tea-1"))
    assert v1.version == 1
    v2 = put_one(store, dataclasses.replace(v1, name="renamed"))
    assert v2.version == 2
    assert store.get_service(v1.id) == v2


def test_creating_twice_is_a_concurrent_update(store: Store) -> None:
    owner = make_owner()
    store.write(put=[owner])
    with pytest.raises(ConcurrentUpdate):
        store.write(put=[dataclasses.replace(owner, name="Other")])
    assert store.get_owner(owner.id) == stored(owner)


def test_a_slug_belongs_to_one_service_until_it_is_deleted(store: Store) -> None:
    first = put_one(store, make_service("tea-1", slug="api-3kf9"))
    clash = make_service("tea-2", slug="api-3kf9")
    with pytest.raises(SlugTaken):
        store.write(put=[clash, make_deploy(clash.id)])
    assert store.get_service(clash.id) is None  # nothing half-written
    renamed = put_one(store, dataclasses.replace(first, name="renamed"))  # updates keep it
    store.write(delete=[renamed])
    assert put_one(store, clash).slug == "api-3kf9"  # freed by the delete


def test_a_stale_update_is_a_concurrent_update(store: Store) -> None:
    first = put_one(store, make_service("tea-1"))
    store.write(put=[dataclasses.replace(first, name="winner")])
    with pytest.raises(ConcurrentUpdate):
        store.write(put=[dataclasses.replace(first, name="loser")])
    current = store.get_service(first.id)
    assert current is not None
    assert (current.name, current.version) == ("winner", 2)


def test_updating_what_does_not_exist_is_a_concurrent_update(store: Store) -> None:
    with pytest.raises(ConcurrentUpdate):
        store.write(put=[make_owner(version=3)])


def test_delete_checks_the_version(store: Store) -> None:
    v1 = put_one(store, make_service("tea-1"))
    v2 = put_one(store, dataclasses.replace(v1, name="newer"))
    with pytest.raises(ConcurrentUpdate):
        store.write(delete=[v1])
    assert store.get_service(v1.id) == v2
    store.write(delete=[v2])
    assert store.get_service(v1.id) is None
    with pytest.raises(ConcurrentUpdate):
        store.write(delete=[v2])  # already gone


def test_keyed_settings_are_versioned_too(store: Store) -> None:
    settings = NotificationSettings("tea-1")
    v1 = put_one(store, settings)
    with pytest.raises(ConcurrentUpdate):
        store.write(put=[settings])
    store.write(put=[dataclasses.replace(v1, notifications_to_send=NotificationsToSend.NONE)])
    assert store.get_notification_settings("tea-1") == NotificationSettings(
        "tea-1", NotificationsToSend.NONE, version=2
    )


# -- atomicity ----------------------------------------------------------------------------------


def test_a_failed_check_writes_nothing(store: Store) -> None:
    service = put_one(store, make_service("tea-1"))
    store.write(put=[dataclasses.replace(service, name="moved on")])
    owner = make_owner()
    deploy = make_deploy(service.id)
    event = make_event(service.id)
    with pytest.raises(ConcurrentUpdate):
        store.write(put=[owner, deploy, event, dataclasses.replace(service, name="stale")])
    assert store.get_owner(owner.id) is None
    assert store.get_deploy(deploy.id) is None
    assert store.get_event(event.id) is None
    assert store.list_deploys(service.id, 10).items == []


def test_a_failed_delete_undoes_the_puts_of_the_same_write(store: Store) -> None:
    a = put_one(store, make_service("tea-1"))
    with pytest.raises(ConcurrentUpdate):
        store.write(put=[dataclasses.replace(a, name="changed")], delete=[make_owner(version=1)])
    assert store.get_service(a.id) == a


def test_puts_and_deletes_of_one_write_all_apply(store: Store) -> None:
    old = put_one(store, make_deploy("srv-1"))
    new = make_deploy("srv-1")
    result = store.write(put=[new], delete=[old])
    assert result == [stored(new)]
    assert store.get_deploy(old.id) is None
    assert store.get_deploy(new.id) == stored(new)


# -- append-only --------------------------------------------------------------------------------


def test_events_and_deliveries_are_insert_only(store: Store) -> None:
    event = make_event("srv-1")
    delivery = make_delivery("whk-1")
    assert store.write(put=[event, delivery]) == [event, delivery]
    with pytest.raises(ConcurrentUpdate):
        store.write(put=[dataclasses.replace(event, details={"changed": True})])
    with pytest.raises(ConcurrentUpdate):
        store.write(put=[dataclasses.replace(delivery, attempts=2)])
    with pytest.raises(TypeError):
        store.write(delete=[event])
    assert store.get_event(event.id) == event
    assert store.list_deliveries("whk-1", 10).items == [delivery]


# -- lists --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListCase:
    """One paginated list: how to add its i-th item (at time ``t``) and how to read a page."""

    add: Callable[[Store, int, datetime], Entity]
    page: Callable[[Store, int, str | None], Page[Any]]
    newest_first: bool  # else: creation order

    def expected(self, items: Sequence[Any]) -> list[str]:
        """Ids in the order the list must return ``items`` (given in creation order)."""
        if not self.newest_first:
            if isinstance(items[0], Service | ApiKey | OutboxRecord):  # by created_at, ties by id
                return [s.id for s in sorted(items, key=_time_key)]
            return [item.id for item in items]
        return [i.id for i in sorted(items, key=_time_key, reverse=True)]


def _id(item: Any) -> str:
    return str(item.id)


def _time_key(item: Any) -> tuple[datetime, str]:
    for name in ("created_at", "timestamp", "started_at", "sent_at"):
        if hasattr(item, name):
            return getattr(item, name), item.id
    raise AssertionError(item)


LIST_CASES: dict[str, ListCase] = {
    "api_keys": ListCase(
        add=lambda s, i, t: put_one(s, make_api_key("tea-1", created_at=t)),
        page=lambda s, limit, cursor: s.list_api_keys("tea-1", limit, cursor),
        newest_first=False,
    ),
    "owners": ListCase(
        add=lambda s, i, t: put_one(s, make_owner(name=f"o{i}")),
        page=lambda s, limit, cursor: s.list_owners(limit, cursor),
        newest_first=False,
    ),
    "credentials": ListCase(
        add=lambda s, i, t: put_one(s, make_credential("tea-1", updated_at=t)),
        page=lambda s, limit, cursor: s.list_credentials("tea-1", limit, cursor),
        newest_first=False,
    ),
    "services": ListCase(
        add=lambda s, i, t: put_one(s, make_service("tea-1", created_at=t)),
        page=lambda s, limit, cursor: s.list_services("tea-1", limit, cursor),
        newest_first=False,
    ),
    "webhooks": ListCase(
        add=lambda s, i, t: put_one(s, make_webhook("tea-1")),
        page=lambda s, limit, cursor: s.list_webhooks("tea-1", limit, cursor),
        newest_first=False,
    ),
    "deploys": ListCase(
        add=lambda s, i, t: put_one(s, make_deploy("srv-1", created_at=t)),
        page=lambda s, limit, cursor: s.list_deploys("srv-1", limit, cursor),
        newest_first=True,
    ),
    "unfinished_deploys": ListCase(
        add=lambda s, i, t: put_one(
            s, make_deploy(f"srv-{i % 3}", created_at=t, status=DeployStatus.QUEUED)
        ),
        page=lambda s, limit, cursor: s.list_unfinished_deploys(limit, cursor),
        newest_first=True,
    ),
    "events": ListCase(
        add=lambda s, i, t: put_one(s, make_event("srv-1", timestamp=t)),
        page=lambda s, limit, cursor: s.list_events("srv-1", limit, cursor),
        newest_first=True,
    ),
    "runs": ListCase(
        add=lambda s, i, t: put_one(s, make_run("crn-1", started_at=t)),
        page=lambda s, limit, cursor: s.list_runs("crn-1", limit, cursor),
        newest_first=True,
    ),
    "deliveries": ListCase(
        add=lambda s, i, t: put_one(s, make_delivery("whk-1", sent_at=t)),
        page=lambda s, limit, cursor: s.list_deliveries("whk-1", limit, cursor),
        newest_first=True,
    ),
    "unfinished_runs": ListCase(
        add=lambda s, i, t: put_one(s, make_run(f"crn-{i % 3}", started_at=t)),
        page=lambda s, limit, cursor: s.list_unfinished_runs(limit, cursor),
        newest_first=True,
    ),
    "jobs": ListCase(
        add=lambda s, i, t: put_one(s, make_job("srv-1", created_at=t)),
        page=lambda s, limit, cursor: s.list_jobs("srv-1", limit, cursor),
        newest_first=True,
    ),
    "unfinished_jobs": ListCase(
        add=lambda s, i, t: put_one(s, make_job(f"srv-{i % 3}", created_at=t)),
        page=lambda s, limit, cursor: s.list_unfinished_jobs(limit, cursor),
        newest_first=True,
    ),
    "outbox": ListCase(
        add=lambda s, i, t: put_one(s, make_outbox(created_at=t, due_at=t)),
        page=lambda s, limit, cursor: s.list_outbox(limit, cursor),
        newest_first=False,
    ),
}


def _walk(case: ListCase, store: Store, limit: int, between: Callable[[int], None]) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    for page_number in range(1000):
        page = case.page(store, limit, cursor)
        ids.extend(item.id for item in page.items)
        if page.next_cursor is None:
            assert len(page.items) <= limit
            return ids
        assert len(page.items) == limit
        between(page_number)
        cursor = page.next_cursor
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("name", sorted(LIST_CASES))
def test_cursor_walk_returns_every_item_once_in_order(store: Store, name: str) -> None:
    case = LIST_CASES[name]
    # Three items per timestamp, so ties are broken by id; creation order is not time order.
    originals = [case.add(store, i, at((i * 7 % 23) // 3)) for i in range(23)]
    later: list[Entity] = []

    def insert_more(page_number: int) -> None:
        for j in range(2):
            later.append(case.add(store, 100 + 2 * page_number + j, at(3600 + page_number)))

    ids = _walk(case, store, 5, insert_more)
    assert len(ids) == len(set(ids)), "an item came twice"
    original_ids = {_id(item) for item in originals}
    assert [i for i in ids if i in original_ids] == case.expected(originals)
    assert set(ids) <= original_ids | {_id(item) for item in later}
    if not case.newest_first:  # items created during the walk come at its end
        assert set(ids) == original_ids | {_id(item) for item in later}


@pytest.mark.parametrize("name", sorted(LIST_CASES))
def test_pages_and_the_last_page(store: Store, name: str) -> None:
    case = LIST_CASES[name]
    assert case.page(store, 10, None) == Page([], None)
    items = [case.add(store, i, at(i)) for i in range(4)]
    whole = case.page(store, 4, None)
    assert whole.next_cursor is None
    assert [item.id for item in whole.items] == case.expected(items)
    assert whole.items == [fetch(store, item) for item in whole.items]
    first = case.page(store, 3, None)
    assert first.next_cursor is not None
    rest = case.page(store, 3, first.next_cursor)
    assert rest.next_cursor is None
    assert [i.id for i in first.items + rest.items] == case.expected(items)


@pytest.mark.parametrize("name", sorted(LIST_CASES))
@pytest.mark.parametrize("limit", [0, -1, 101])
def test_a_limit_out_of_range_is_invalid_input(store: Store, name: str, limit: int) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        LIST_CASES[name].page(store, limit, None)


def test_limits_at_the_bounds_are_accepted(store: Store) -> None:
    assert store.list_owners(1).items == []
    assert store.list_owners(100).items == []


@pytest.mark.parametrize(
    "cursor",
    ["not a cursor!", "", "abc", "W10", "eyJhIjoxfQ", "%%%", "x" * 5000],
    ids=["garbage", "empty", "not-json", "empty-list", "object", "percent", "huge"],
)
@pytest.mark.parametrize("name", sorted(LIST_CASES))
def test_a_malformed_cursor_is_invalid_input(store: Store, name: str, cursor: str) -> None:
    case = LIST_CASES[name]
    case.add(store, 0, T0)
    with pytest.raises(InvalidInput, match="cursor"):
        case.page(store, 5, cursor)


def test_a_cursor_of_another_list_is_invalid_input(store: Store) -> None:
    for i in range(3):
        store.write(
            put=[make_event("srv-1", timestamp=at(i)), make_deploy("srv-1", created_at=at(i))]
        )
    events_cursor = store.list_events("srv-1", 1).next_cursor
    assert events_cursor is not None
    with pytest.raises(InvalidInput, match="cursor"):
        store.list_deploys("srv-1", 1, events_cursor)


def test_services_using_a_credential(store: Store) -> None:
    users = [
        put_one(store, make_service("tea-1", credential_id="rgc-a", created_at=at(i)))
        for i in range(3)
    ]
    store.write(put=[make_service("tea-1", credential_id="rgc-b"), make_service("tea-1")])
    assert store.list_services_using_credential("rgc-a", 10) == users
    assert store.list_services_using_credential("rgc-a", 2) == users[:2]
    assert store.list_services_using_credential("rgc-none", 10) == []
    first = users[0]
    store.write(put=[dataclasses.replace(first, credential_id="rgc-b")])
    assert store.list_services_using_credential("rgc-a", 10) == users[1:]
    with pytest.raises(InvalidInput, match="limit"):
        store.list_services_using_credential("rgc-a", 0)


def test_unfinished_deploys_follow_status_changes(store: Store) -> None:
    deploys = {
        status: put_one(store, make_deploy(f"srv-{status.value}", status=status, created_at=at(i)))
        for i, status in enumerate(DeployStatus)
    }
    unfinished = store.list_unfinished_deploys(100).items
    assert {d.status for d in unfinished} == {s for s in DeployStatus if not s.finished}
    newest_first = reversed(list(deploys.values()))
    assert [d.id for d in unfinished] == [d.id for d in newest_first if not d.status.finished]
    queued = deploys[DeployStatus.QUEUED]
    store.write(put=[dataclasses.replace(queued, status=DeployStatus.CANCELED)])
    assert queued.id not in {d.id for d in store.list_unfinished_deploys(100).items}
    live = deploys[DeployStatus.LIVE]
    store.write(put=[dataclasses.replace(live, status=DeployStatus.UPDATE_IN_PROGRESS)])
    assert live.id in {d.id for d in store.list_unfinished_deploys(100).items}


# -- filtered lists -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterCase:
    """A filtered list: ``add(store, i, t)`` adds the i-th item at time ``t`` (every third one
    matches the filter); ``page`` reads it with the filter."""

    add: Callable[[Store, int, datetime], Entity]
    page: Callable[[Store, int, str | None], Page[Any]]
    newest_first: bool
    creation_order: bool = False  # listed as written (no time sort key)


def _wanted(i: int) -> bool:
    return i % 3 == 0


def _pick(i: int, criterion: int, hit: V, miss: V) -> V:
    """Item ``i``'s value for a two-criterion filter's first or second ``criterion``: items 1,
    4, 7… miss the first, 2, 5, 8… the second, so exactly the ``_wanted`` ones match both."""
    return miss if i % 3 == criterion else hit


FILTER_CASES: dict[str, FilterCase] = {
    "services by name": FilterCase(
        add=lambda s, i, t: put_one(
            s, make_service("tea-1", name="web" if _wanted(i) else f"w{i}", created_at=t)
        ),
        page=lambda s, n, c: s.list_services(
            "tea-1", n, c, ServiceFilter(names=frozenset({"web"}))
        ),
        newest_first=False,
    ),
    "services by type and suspension": FilterCase(
        add=lambda s, i, t: put_one(
            s,
            make_service(
                "tea-1",
                type=_pick(i, 1, ServiceType.CRON_JOB, ServiceType.WEB_SERVICE),
                suspended=_pick(i, 2, True, False),
                created_at=t,
            ),
        ),
        page=lambda s, n, c: s.list_services(
            "tea-1",
            n,
            c,
            ServiceFilter(
                types=frozenset({ServiceType.CRON_JOB, ServiceType.BACKGROUND_WORKER}),
                suspended=frozenset({True}),
            ),
        ),
        newest_first=False,
    ),
    "services by region and update time": FilterCase(
        add=lambda s, i, t: put_one(
            s,
            make_service(
                "tea-1",
                region=_pick(i, 1, Region.FRANKFURT, Region.OHIO),
                updated_at=_pick(i, 2, at(10_000), at(-10_000)),
                created_at=t,
            ),
        ),
        page=lambda s, n, c: s.list_services(
            "tea-1",
            n,
            c,
            ServiceFilter(
                regions=frozenset({Region.FRANKFURT}), updated=TimeRange.between(at(0), None)
            ),
        ),
        newest_first=False,
    ),
    "credentials by type and creation time": FilterCase(
        add=lambda s, i, t: put_one(
            s,
            make_credential(
                "tea-1",
                registry=_pick(i, 1, RegistryKind.GITHUB, RegistryKind.DOCKER),
                created_at=_pick(i, 2, at(5), None),
                updated_at=t,
            ),
        ),
        page=lambda s, n, c: s.list_credentials(
            "tea-1",
            n,
            c,
            CredentialFilter(
                registries=frozenset({RegistryKind.GITHUB}), created=TimeRange.between(at(4), None)
            ),
        ),
        newest_first=False,
        creation_order=True,
    ),
    "deploys by status": FilterCase(
        add=lambda s, i, t: put_one(
            s,
            make_deploy(
                "srv-1",
                status=DeployStatus.LIVE if _wanted(i) else DeployStatus.DEACTIVATED,
                created_at=t,
            ),
        ),
        page=lambda s, n, c: s.list_deploys(
            "srv-1", n, c, DeployFilter(statuses=frozenset({DeployStatus.LIVE}))
        ),
        newest_first=True,
    ),
    "deploys by finish time": FilterCase(
        add=lambda s, i, t: put_one(
            s, make_deploy("srv-1", finished_at=at(5) if _wanted(i) else None, created_at=t)
        ),
        page=lambda s, n, c: s.list_deploys(
            "srv-1", n, c, DeployFilter(finished=TimeRange.between(at(4), at(6)))
        ),
        newest_first=True,
    ),
    "events by type": FilterCase(
        add=lambda s, i, t: put_one(
            s,
            make_event(
                "srv-1",
                type=EventType.DEPLOY_ENDED if _wanted(i) else EventType.SERVER_FAILED,
                timestamp=t,
            ),
        ),
        page=lambda s, n, c: s.list_events(
            "srv-1", n, c, EventFilter(types=frozenset({EventType.DEPLOY_ENDED}))
        ),
        newest_first=True,
    ),
    "runs by status": FilterCase(
        add=lambda s, i, t: put_one(
            s,
            make_run(
                "crn-1",
                status=RunStatus.CANCELED if _wanted(i) else RunStatus.SUCCESSFUL,
                started_at=t,
            ),
        ),
        page=lambda s, n, c: s.list_runs(
            "crn-1", n, c, RunFilter(statuses=frozenset({RunStatus.CANCELED}))
        ),
        newest_first=True,
    ),
    "jobs by status and start time": FilterCase(
        add=lambda s, i, t: put_one(
            s,
            make_job(
                "srv-1",
                status=_pick(i, 1, JobStatus.SUCCEEDED, JobStatus.FAILED),
                started_at=_pick(i, 2, at(5), at(50)),
                created_at=t,
            ),
        ),
        page=lambda s, n, c: s.list_jobs(
            "srv-1",
            n,
            c,
            JobFilter(
                statuses=frozenset({JobStatus.SUCCEEDED}), started=TimeRange.between(at(4), at(6))
            ),
        ),
        newest_first=True,
    ),
}


def _filtered_walk(case: FilterCase, store: Store, limit: int) -> list[str]:
    """Every id of the filtered list; every page but the last is full."""
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        page = case.page(store, limit, cursor)
        ids.extend(item.id for item in page.items)
        if page.next_cursor is None:
            return ids
        assert len(page.items) == limit, "a filtered page came back short"
        cursor = page.next_cursor
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("name", sorted(FILTER_CASES))
def test_a_filtered_walk_returns_exactly_the_matches_in_full_pages(store: Store, name: str) -> None:
    case = FILTER_CASES[name]
    items = [case.add(store, i, at((i * 7 % 23) // 3)) for i in range(23)]
    wanted = [item for i, item in enumerate(items) if _wanted(i)]
    ordered = (
        wanted if case.creation_order else sorted(wanted, key=_time_key, reverse=case.newest_first)
    )
    assert [item.id for item in case.page(store, 100, None).items] == [i.id for i in ordered]
    for limit in (1, 2, 3):
        assert _filtered_walk(case, store, limit) == [i.id for i in ordered]


@pytest.mark.parametrize("name", sorted(FILTER_CASES))
def test_a_filtered_page_is_full_when_the_matches_come_after_many_others(
    store: Store, name: str
) -> None:
    """Matches far down the key range (after more than a page of non-matching items, and past
    what one store read returns) still fill the page: the filter is applied while reading."""
    case = FILTER_CASES[name]
    count = 3 * 60  # 120 non-matching items: more than one read of the store's (101)
    read_order = [i for i in range(count) if not _wanted(i)] + [
        i for i in range(count) if _wanted(i)
    ]
    items = {
        i: case.add(store, i, at(count - rank if case.newest_first else rank))
        for rank, i in enumerate(read_order)
    }
    wanted = [items[i] for i in read_order if _wanted(i)]
    first = case.page(store, 2, None)
    assert [item.id for item in first.items] == [item.id for item in wanted[:2]]
    assert first.next_cursor is not None
    assert _filtered_walk(case, store, 4) == [item.id for item in wanted]


def test_an_empty_choice_matches_nothing(store: Store) -> None:
    put_one(store, make_service("tea-1"))
    put_one(store, make_deploy("srv-1"))
    put_one(store, make_event("srv-1"))
    assert store.list_services("tea-1", 10, None, ServiceFilter(types=frozenset())).items == []
    assert store.list_deploys("srv-1", 10, None, DeployFilter(statuses=frozenset())).items == []
    assert store.list_events("srv-1", 10, None, EventFilter(types=frozenset())).items == []
    # Render's runtime filter: every service runs an image; an environment holds none
    assert (
        store.list_services("tea-1", 10, None, ServiceFilter(runtimes=frozenset({"docker"}))).items
        == []
    )
    assert (
        len(
            store.list_services(
                "tea-1", 10, None, ServiceFilter(runtimes=frozenset({"image"}))
            ).items
        )
        == 1
    )
    assert (
        store.list_services(
            "tea-1", 10, None, ServiceFilter(environment_ids=frozenset({"evm-1"}))
        ).items
        == []
    )


TIME_LISTS: dict[
    str,
    tuple[Callable[[Store, datetime], Entity], Callable[[Store, TimeRange, str | None], Page[Any]]],
] = {
    "services": (
        lambda s, t: put_one(s, make_service("tea-1", created_at=t)),
        lambda s, r, c: s.list_services("tea-1", 2, c, ServiceFilter(created=r)),
    ),
    "deploys": (
        lambda s, t: put_one(s, make_deploy("srv-1", created_at=t)),
        lambda s, r, c: s.list_deploys("srv-1", 2, c, DeployFilter(created=r)),
    ),
    "events": (
        lambda s, t: put_one(s, make_event("srv-1", timestamp=t)),
        lambda s, r, c: s.list_events("srv-1", 2, c, EventFilter(time=r)),
    ),
    "runs": (
        lambda s, t: put_one(s, make_run("crn-1", started_at=t)),
        lambda s, r, c: s.list_runs("crn-1", 2, c, RunFilter(started=r)),
    ),
    "jobs": (
        lambda s, t: put_one(s, make_job("srv-1", created_at=t)),
        lambda s, r, c: s.list_jobs("srv-1", 2, c, JobFilter(created=r)),
    ),
    "deliveries": (
        lambda s, t: put_one(s, make_delivery("whk-1", sent_at=t)),
        lambda s, r, c: s.list_deliveries("whk-1", 2, c, DeliveryFilter(sent=r)),
    ),
}


@pytest.mark.parametrize("name", sorted(TIME_LISTS))
def test_a_time_range_on_the_sort_key_is_exact_at_its_bounds(store: Store, name: str) -> None:
    add, page = TIME_LISTS[name]
    by_second = {i: [add(store, at(i)), add(store, at(i))] for i in range(8)}

    def walk(span: TimeRange) -> set[str]:
        ids: list[str] = []
        cursor: str | None = None
        while True:
            got = page(store, span, cursor)
            ids.extend(item.id for item in got.items)
            if got.next_cursor is None:
                return set(ids)
            assert len(got.items) == 2
            cursor = got.next_cursor

    def seconds(*wanted: int) -> set[str]:
        return {item.id for i in wanted for item in by_second[i]}

    assert walk(TimeRange.between(at(2), at(6))) == seconds(3, 4, 5)  # strictly between
    assert walk(TimeRange.inclusive(at(2), at(6))) == seconds(2, 3, 4, 5, 6)
    assert walk(TimeRange.between(at(5), None)) == seconds(6, 7)
    assert walk(TimeRange.between(None, at(2))) == seconds(0, 1)
    # a time given in another zone, and a naive one (UTC), mean the same instant
    cest = timezone(timedelta(hours=2))
    assert walk(TimeRange.between(at(5).astimezone(cest), None)) == seconds(6, 7)
    assert walk(TimeRange.between(None, at(2).replace(tzinfo=None))) == seconds(0, 1)
    assert walk(TimeRange.between(at(6), at(2))) == set()  # an empty range
    assert walk(TimeRange.inclusive(at(3), at(3))) == seconds(3)


def test_the_finish_range_leaves_out_what_has_not_finished(store: Store) -> None:
    done = put_one(store, make_deploy("srv-1", finished_at=at(5)))
    put_one(store, make_deploy("srv-1"))
    assert store.list_deploys(
        "srv-1", 10, None, DeployFilter(finished=TimeRange.between(None, at(9)))
    ).items == [done]


# -- claims -------------------------------------------------------------------------------------


# -- the outbox and unfinished runs --------------------------------------------------------------


def test_unfinished_runs_follow_status_changes(store: Store) -> None:
    runs = {
        status: put_one(store, make_run(f"crn-{status.value}", status=status, started_at=at(i)))
        for i, status in enumerate(RunStatus)
    }
    pending = runs[RunStatus.PENDING]
    assert [r.id for r in store.list_unfinished_runs(100).items] == [pending.id]
    store.write(put=[dataclasses.replace(pending, status=RunStatus.SUCCESSFUL)])
    assert store.list_unfinished_runs(100).items == []
    canceled = runs[RunStatus.CANCELED]
    store.write(put=[dataclasses.replace(canceled, status=RunStatus.PENDING)])
    assert [r.id for r in store.list_unfinished_runs(100).items] == [canceled.id]


def test_unfinished_jobs_follow_status_changes(store: Store) -> None:
    jobs = {
        status: put_one(store, make_job(f"srv-{status.value}", status=status, created_at=at(i)))
        for i, status in enumerate(JobStatus)
    }
    unfinished = [jobs[JobStatus.RUNNING].id, jobs[JobStatus.PENDING].id]  # newest first
    assert [j.id for j in store.list_unfinished_jobs(100).items] == unfinished
    store.write(put=[dataclasses.replace(jobs[JobStatus.RUNNING], status=JobStatus.CANCELED)])
    assert [j.id for j in store.list_unfinished_jobs(100).items] == [jobs[JobStatus.PENDING].id]


def test_an_outbox_record_is_written_with_its_state_change_or_not_at_all(store: Store) -> None:
    service = put_one(store, make_service("tea-1"))
    record = make_outbox()
    with pytest.raises(ConcurrentUpdate):
        store.write(put=[dataclasses.replace(service, version=0), record])  # a lost race
    assert store.get_outbox(record.id) is None
    assert store.list_outbox(100).items == []
    store.write(put=[dataclasses.replace(service, name="renamed"), record])
    assert store.get_outbox(record.id) == stored(record)
    assert [r.id for r in store.list_outbox(100).items] == [record.id]


def test_an_outbox_record_advances_with_a_version_check_and_leaves_when_deleted(
    store: Store,
) -> None:
    record = put_one(store, make_outbox())
    advanced = put_one(store, dataclasses.replace(record, done=1, attempts=0))
    with pytest.raises(ConcurrentUpdate):  # another dispatcher advanced it first
        store.write(put=[dataclasses.replace(record, attempts=1)])
    store.write(delete=[advanced])
    assert store.get_outbox(record.id) is None
    assert store.list_outbox(100).items == []


def test_claim_once(store: Store) -> None:
    assert store.claim_once("ecs-event-1", 3600) is True
    assert store.claim_once("ecs-event-1", 3600) is False
    assert store.claim_once("ecs-event-2", 3600) is True


def test_an_expired_claim_can_be_claimed_again(store: Store) -> None:
    assert store.claim_once("short", 1) is True
    assert store.claim_once("short", 1) is False
    time.sleep(1.1)
    assert store.claim_once("short", 1) is True
    assert store.claim_once("short", 1) is False


def test_exactly_one_thread_claims(store: Store) -> None:
    results = _in_threads(20, lambda i: store.claim_once("race", 3600))
    assert sorted(results) == [False] * 19 + [True]


# -- concurrency --------------------------------------------------------------------------------


def _in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads started together; re-raise the first error."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def test_read_modify_write_with_retry_loses_no_update(store: Store) -> None:
    service = put_one(store, make_service("tea-1"))

    def append_env_var(i: int) -> int:
        for attempt in range(1000):
            current = store.get_service(service.id)
            assert current is not None
            changed = dataclasses.replace(
                current, env_vars=(*current.env_vars, EnvVar(f"K{i}", str(i)))
            )
            try:
                store.write(put=[changed])
                return attempt
            except ConcurrentUpdate:
                continue
        raise AssertionError("never won")

    _in_threads(20, append_env_var)
    final = store.get_service(service.id)
    assert final is not None
    assert sorted(v.key for v in final.env_vars) == sorted(f"K{i}" for i in range(20))
    assert final.version == 21


def test_exactly_one_of_racing_creates_wins(store: Store) -> None:
    owner_id = new_id("tea")

    def create(i: int) -> bool:
        try:
            store.write(put=[Owner(id=owner_id, name=f"owner {i}", email="x@acme.test")])
        except ConcurrentUpdate:
            return False
        return True

    results = _in_threads(50, create)
    assert results.count(True) == 1
    winner = results.index(True)
    assert store.get_owner(owner_id) == Owner(owner_id, f"owner {winner}", "x@acme.test", version=1)
