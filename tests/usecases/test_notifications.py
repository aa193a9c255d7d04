"""Notification settings, overrides and webhooks through the use cases, on the real SQLite
store: defaults, PATCH semantics, 404s, validation that changes nothing, version conflicts
settled by retrying, and the delivery log."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from devkit.world import OWNER, World
from imagedeploy.domain.accounts import (
    NotificationOverride,
    NotificationSettings,
    NotificationsToSend,
    WebhookDelivery,
)
from imagedeploy.domain.deploy_machine import Phase, PullFailed
from imagedeploy.domain.errors import ConcurrentUpdate, InvalidInput, NotFound, PullFailureReason
from imagedeploy.domain.events import EventType
from imagedeploy.ports import Entity
from imagedeploy.usecases import deploys
from imagedeploy.usecases import notifications as n
from imagedeploy.usecases.unit_of_work import DELIVERY_JOB, MAX_ATTEMPTS
from imagedeploy.usecases.worker import run_job

pytestmark = pytest.mark.unit

URL = "https://hooks.example.com/render"


class RacingStore:
    """Delegates to the real store; before the first ``write`` of the types it watches, runs
    ``meddle`` (another writer getting in first), so the use case's write loses the version
    check once and ``retry_on_conflict`` has to read again."""

    def __init__(self, world: World, meddle: object, times: int = 1) -> None:
        self._store = world.store
        self._meddle = meddle
        self._times = times
        self.writes = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def write(self, put: Sequence[Entity] = (), delete: Sequence[Entity] = ()) -> list[Entity]:
        self.writes += 1
        if self._times > 0:
            self._times -= 1
            self._meddle()  # type: ignore[operator]
        return self._store.write(put=put, delete=delete)


def racing(world: World, meddle: object, times: int = 1) -> tuple[World, RacingStore]:
    store = RacingStore(world, meddle, times)
    ports = dataclasses.replace(world.ports, store=store)  # type: ignore[arg-type]
    return dataclasses.replace(world, ports=ports), store


class TestWorkspaceSettings:
    def test_default_is_failure(self, world: World) -> None:
        settings = n.get_notification_settings(world.ports, OWNER)
        assert settings == NotificationSettings(OWNER, NotificationsToSend.FAILURE, version=0)

    def test_patch_and_read_back(self, world: World) -> None:
        patched = n.patch_notification_settings(world.ports, OWNER, notifications_to_send="all")
        assert patched.notifications_to_send is NotificationsToSend.ALL
        assert patched.version == 1
        assert n.get_notification_settings(world.ports, OWNER) == patched
        again = n.patch_notification_settings(world.ports, OWNER, notifications_to_send="none")
        assert (again.notifications_to_send, again.version) == (NotificationsToSend.NONE, 2)

    def test_empty_or_same_patch_writes_nothing(self, world: World) -> None:
        assert n.patch_notification_settings(world.ports, OWNER).version == 0
        same = n.patch_notification_settings(world.ports, OWNER, notifications_to_send="failure")
        assert same.version == 0
        assert world.store.get_notification_settings(OWNER) is None

    def test_bad_value_changes_nothing(self, world: World) -> None:
        with pytest.raises(InvalidInput, match="all, failure, none"):
            n.patch_notification_settings(world.ports, OWNER, notifications_to_send="default")
        assert world.store.get_notification_settings(OWNER) is None

    def test_unknown_owner(self, world: World) -> None:
        with pytest.raises(NotFound, match="owner tea-"):
            n.get_notification_settings(world.ports, "tea-zzzzzzzzzzzzzzzzzzzz")
        with pytest.raises(NotFound):
            n.patch_notification_settings(
                world.ports, "tea-zzzzzzzzzzzzzzzzzzzz", notifications_to_send="all"
            )

    def test_lost_race_is_retried_on_fresh_data(self, world: World) -> None:
        def someone_else() -> None:
            world.store.write(put=[NotificationSettings(OWNER, NotificationsToSend.NONE)])

        raced, store = racing(world, someone_else)
        patched = n.patch_notification_settings(raced.ports, OWNER, notifications_to_send="all")
        assert store.writes == 2  # lost once, then won
        assert patched.notifications_to_send is NotificationsToSend.ALL
        assert patched.version == 2  # on top of the other writer's version 1


class TestOverrides:
    def test_default_follows_the_workspace(self, world: World) -> None:
        service = world.create().service
        assert n.get_notification_override(world.ports, service.id) == NotificationOverride(
            service.id, NotificationsToSend.DEFAULT, 0
        )

    def test_patch_each_value(self, world: World) -> None:
        service = world.create().service
        for value in ("all", "none", "failure", "default"):
            got = n.patch_notification_override(
                world.ports, service.id, notifications_to_send=value
            )
            assert got.notifications_to_send.value == value
        assert world.store.get_notification_override(service.id) == got
        assert got.version == 4

    def test_unknown_service_is_404(self, world: World) -> None:
        with pytest.raises(NotFound, match="service srv-"):
            n.get_notification_override(world.ports, "srv-zzzzzzzzzzzzzzzzzzzz")
        with pytest.raises(NotFound):
            n.patch_notification_override(
                world.ports, "srv-zzzzzzzzzzzzzzzzzzzz", notifications_to_send="all"
            )

    def test_bad_value(self, world: World) -> None:
        service = world.create().service
        with pytest.raises(InvalidInput, match="default, all, failure, none"):
            n.patch_notification_override(world.ports, service.id, notifications_to_send="some")

    def test_concurrent_patches_both_settle(self, world: World) -> None:
        service = world.create().service

        def other_patch() -> None:
            n.patch_notification_override(world.ports, service.id, notifications_to_send="none")

        raced, store = racing(world, other_patch)
        got = n.patch_notification_override(raced.ports, service.id, notifications_to_send="all")
        assert store.writes == 2
        assert (got.notifications_to_send, got.version) == (NotificationsToSend.ALL, 2)


class TestWebhooks:
    def test_create_returns_a_secret_and_stores_it(self, world: World) -> None:
        hook = n.create_webhook(world.ports, OWNER, " ops ", URL, True, ["deploy_ended"])
        assert hook.id.startswith("whk-")
        assert hook.name == "ops"
        assert hook.secret.startswith("whsec_")
        assert hook.event_filter == ("deploy_ended",)
        assert hook.version == 1
        assert n.get_webhook(world.ports, hook.id) == hook
        other = n.create_webhook(world.ports, OWNER, "two", URL, False, [])
        assert other.secret != hook.secret

    def test_invalid_input_changes_nothing(self, world: World) -> None:
        for args in (
            ("", URL, True, []),
            ("ops", "ftp://x.example", True, []),
            ("ops", URL, True, ["deploy_finished"]),
        ):
            with pytest.raises(InvalidInput):
                n.create_webhook(world.ports, OWNER, *args)
        assert n.list_webhooks(world.ports, OWNER, 10).items == []

    def test_unknown_owner(self, world: World) -> None:
        with pytest.raises(NotFound, match="owner"):
            n.create_webhook(world.ports, "tea-zzzzzzzzzzzzzzzzzzzz", "ops", URL, True, [])

    def test_list_pages_oldest_first(self, world: World) -> None:
        made = [n.create_webhook(world.ports, OWNER, f"h{i}", URL, True, []) for i in range(3)]
        first = n.list_webhooks(world.ports, OWNER, 2)
        assert first.items == made[:2]
        assert first.next_cursor is not None
        rest = n.list_webhooks(world.ports, OWNER, 2, first.next_cursor)
        assert (rest.items, rest.next_cursor) == (made[2:], None)

    def test_update_changes_only_what_is_given(self, world: World) -> None:
        hook = n.create_webhook(world.ports, OWNER, "ops", URL, True, ["deploy_ended"])
        renamed = n.update_webhook(world.ports, hook.id, name="alerts")
        assert dataclasses.replace(renamed, name="ops", version=1) == hook
        assert renamed.version == 2
        changed = n.update_webhook(
            world.ports,
            hook.id,
            url="https://other.example.com/h",
            enabled=False,
            event_filter=[],
        )
        assert (changed.url, changed.enabled, changed.event_filter) == (
            "https://other.example.com/h",
            False,
            (),
        )
        assert changed.secret == hook.secret  # PATCH never rotates the secret
        assert n.update_webhook(world.ports, hook.id) == changed  # no-op, no write

    def test_update_validates_before_writing(self, world: World) -> None:
        hook = n.create_webhook(world.ports, OWNER, "ops", URL, True, [])
        with pytest.raises(InvalidInput):
            n.update_webhook(world.ports, hook.id, name="fine", event_filter=["bogus"])
        assert n.get_webhook(world.ports, hook.id) == hook

    def test_update_and_delete_of_unknown_webhook(self, world: World) -> None:
        with pytest.raises(NotFound, match="webhook whk-"):
            n.update_webhook(world.ports, "whk-zzzzzzzzzzzzzzzzzzzz", name="x")
        with pytest.raises(NotFound):
            n.delete_webhook(world.ports, "whk-zzzzzzzzzzzzzzzzzzzz")
        with pytest.raises(NotFound):
            n.list_webhook_events(world.ports, "whk-zzzzzzzzzzzzzzzzzzzz", 10)

    def test_delete(self, world: World) -> None:
        hook = n.create_webhook(world.ports, OWNER, "ops", URL, True, [])
        n.delete_webhook(world.ports, hook.id)
        with pytest.raises(NotFound):
            n.get_webhook(world.ports, hook.id)
        with pytest.raises(NotFound):
            n.delete_webhook(world.ports, hook.id)

    def test_update_racing_another_update_keeps_both_changes(self, world: World) -> None:
        hook = n.create_webhook(world.ports, OWNER, "ops", URL, True, [])

        def other_update() -> None:
            n.update_webhook(world.ports, hook.id, enabled=False)

        raced, store = racing(world, other_update)
        got = n.update_webhook(raced.ports, hook.id, name="alerts")
        assert store.writes == 2
        assert (got.name, got.enabled, got.version) == ("alerts", False, 3)

    def test_delete_racing_an_update_reads_again(self, world: World) -> None:
        hook = n.create_webhook(world.ports, OWNER, "ops", URL, True, [])

        def other_update() -> None:
            n.update_webhook(world.ports, hook.id, name="renamed")

        raced, store = racing(world, other_update)
        n.delete_webhook(raced.ports, hook.id)
        assert store.writes == 2
        assert world.store.get_webhook(hook.id) is None

    def test_update_of_a_webhook_deleted_meanwhile_is_404(self, world: World) -> None:
        hook = n.create_webhook(world.ports, OWNER, "ops", URL, True, [])

        def someone_deletes() -> None:
            n.delete_webhook(world.ports, hook.id)

        raced, _ = racing(world, someone_deletes)
        with pytest.raises(NotFound):
            n.update_webhook(raced.ports, hook.id, name="late")

    def test_endless_conflicts_surface_as_concurrent_update(self, world: World) -> None:
        hook = n.create_webhook(world.ports, OWNER, "ops", URL, True, [])

        def always_first() -> None:
            current = world.store.get_webhook(hook.id)
            assert current is not None
            world.store.write(put=[dataclasses.replace(current, enabled=not current.enabled)])

        raced, store = racing(world, always_first, times=MAX_ATTEMPTS)
        with pytest.raises(ConcurrentUpdate):
            n.update_webhook(raced.ports, hook.id, name="never")
        assert store.writes == MAX_ATTEMPTS
        assert n.get_webhook(world.ports, hook.id).name == "ops"


class TestDeliveryLog:
    def test_newest_first_per_webhook(self, world: World) -> None:
        hook = n.create_webhook(world.ports, OWNER, "ops", URL, True, [])
        other = n.create_webhook(world.ports, OWNER, "other", URL, True, [])
        start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
        records = [
            WebhookDelivery(
                f"whe-{i:020d}",
                hook.id,
                f"evt-{i:020d}",
                "deploy_ended",
                start + timedelta(seconds=i),
                200,
                1,
                True,
            )
            for i in range(3)
        ]
        foreign = dataclasses.replace(records[0], id="whe-" + "f" * 20, webhook_id=other.id)
        world.store.write(put=[*records, foreign])
        page = n.list_webhook_events(world.ports, hook.id, 2)
        assert page.items == [records[2], records[1]]
        assert page.next_cursor is not None
        rest = n.list_webhook_events(world.ports, hook.id, 2, page.next_cursor)
        assert rest.items == [records[0]]

    def test_log_stays_in_the_store_but_the_api_404s_once_the_webhook_is_gone(
        self, world: World
    ) -> None:
        hook = n.create_webhook(world.ports, OWNER, "ops", URL, True, [])
        record = WebhookDelivery(
            "whe-" + "1" * 20,
            hook.id,
            "evt-" + "1" * 20,
            "deploy_ended",
            world.clock.now(),
            200,
            1,
            True,
        )
        world.store.write(put=[record])
        n.delete_webhook(world.ports, hook.id)
        assert world.store.list_deliveries(hook.id, 10).items == [record]  # append-only
        with pytest.raises(NotFound):
            n.list_webhook_events(world.ports, hook.id, 10)


class TestWhoIsTold:
    """``notify`` (the outbox's ``Notify`` effect) decides once, for both homes: the settings let
    the event out or not, then the broadcast and each webhook that wants it (a ``webhook`` job,
    delivered through the ``WebhookSender`` port and logged)."""

    def _fail_a_deploy(self, world: World) -> None:
        created = world.create()
        world.drain()  # preflight
        deploys.handle_signal(
            world.ports,
            created.deploy.id,
            PullFailed(Phase.ROLLOUT, PullFailureReason.NOT_FOUND, "gone"),
        )
        world.drain()

    def test_a_failed_deploy_is_told_under_the_default_setting(self, world: World) -> None:
        self._fail_a_deploy(world)
        types = {event.type for _, event in world.notifier.sent}
        assert types == {EventType.DEPLOY_ENDED, EventType.IMAGE_PULL_FAILED}

    def test_a_successful_deploy_is_told_only_when_the_workspace_says_all(
        self, world: World
    ) -> None:
        world.go_live(world.create().deploy.id)
        assert world.notifier.sent == []
        n.patch_notification_settings(world.ports, OWNER, notifications_to_send="all")
        world.go_live(world.create(name="second").deploy.id)
        types = {event.type for _, event in world.notifier.sent}
        assert {EventType.DEPLOY_STARTED, EventType.DEPLOY_ENDED} <= types

    def test_the_service_override_wins(self, world: World) -> None:
        n.patch_notification_settings(world.ports, OWNER, notifications_to_send="all")
        created = world.create()
        n.patch_notification_override(world.ports, created.service.id, notifications_to_send="none")
        self._fail_a_deploy(world)  # another service: the override is not its
        told = {service_id for service_id, _ in world.notifier.sent}
        assert created.service.id not in told
        assert told

    def test_each_webhook_that_wants_it_gets_a_delivery_job_and_a_log_entry(
        self, world: World
    ) -> None:
        every = n.create_webhook(world.ports, OWNER, "all", URL, True, [])
        starts = n.create_webhook(world.ports, OWNER, "starts", URL, True, ["deploy_started"])
        off = n.create_webhook(world.ports, OWNER, "off", URL, False, [])
        self._fail_a_deploy(world)

        assert {w for w, _ in world.webhooks.sent} == {every.id}
        assert starts.id not in {w for w, _ in world.webhooks.sent}
        log = world.store.list_deliveries(every.id, 10).items
        assert {d.event_type for d in log} == {"deploy_ended", "image_pull_failed"}
        assert all(d.delivered for d in log)
        assert world.store.list_deliveries(off.id, 10).items == []

    def test_a_webhook_deleted_before_its_job_runs_gets_nothing(self, world: World) -> None:
        hook = n.create_webhook(world.ports, OWNER, "all", URL, True, [])
        created = world.create()
        world.drain()
        deploys.handle_signal(
            world.ports,
            created.deploy.id,
            PullFailed(Phase.ROLLOUT, PullFailureReason.NOT_FOUND, "gone"),
        )
        while world.jobs.queue and world.jobs.queue[0].kind != DELIVERY_JOB:
            run_job(world.ports, world.jobs.queue.popleft())
        assert world.jobs.queue, "the failure queued a webhook delivery"
        n.delete_webhook(world.ports, hook.id)
        world.drain()
        assert world.webhooks.sent == []
