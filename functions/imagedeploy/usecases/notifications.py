"""Notifications (docs/architecture.md §10): who is told of an event, decided once here for both
homes and every channel, and Render's ``/v1/notification-settings`` and ``/v1/webhooks``.

- ``notify`` (the outbox's ``Notify`` effect) reads the settings once: when they let the event
  out it is broadcast (``ports.notifier``: SNS on AWS) and one ``DeliverWebhook`` effect is
  committed per webhook that wants it, each in an outbox record of its own (durable: a delivery
  pending when ``serve`` stops is made after its restart). ``deliver`` (that effect) delivers
  through ``ports.webhooks`` and records the outcome in the delivery log. Adapters only
  deliver.
- The workspace setting is ``failure`` until someone changes it, per-service overrides
  ``default`` until set; webhook CRUD makes a fresh Standard Webhooks signing secret. Every
  write is a read-modify-write settled by version checks (``retry_on_conflict``); the rules
  themselves live in ``domain.notifications``."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from imagedeploy.domain.accounts import (
    NotificationOverride,
    NotificationSettings,
    NotificationsToSend,
    Webhook,
    WebhookDelivery,
)
from imagedeploy.domain.errors import InvalidInput, NotFound
from imagedeploy.domain.events import Event
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.listing import ANY_DELIVERY, DeliveryFilter
from imagedeploy.domain.notifications import (
    new_webhook_secret,
    parse_override_setting,
    parse_workspace_setting,
    should_notify,
    validate_enabled,
    validate_event_filter,
    validate_webhook,
    validate_webhook_name,
    validate_webhook_url,
    webhook_wants,
    webhooks_to_notify,
)
from imagedeploy.domain.outbox import DeliverWebhook
from imagedeploy.domain.services import Service
from imagedeploy.ports import Page, Ports
from imagedeploy.usecases.common import get_service
from imagedeploy.usecases.unit_of_work import retry_on_conflict, unit_of_work

logger = logging.getLogger(__name__)

WEBHOOK_JOB = "webhook"  # one delivery, as an earlier version enqueued it
_WEBHOOK_PAGE = 100


# -- who is told, and the deliveries -------------------------------------------------------------


def notify(ports: Ports, service_id: str, event_id: str) -> None:
    """Tell whoever the settings say of the event: broadcast it and enqueue one ``webhook``
    job per webhook that wants it. Nothing when the settings keep it in."""
    service = ports.store.get_service(service_id)
    event = ports.store.get_event(event_id)
    if service is None or event is None:
        return
    workspace, own = _settings(ports, service)
    if not should_notify(event, workspace, own):
        return  # the webhooks need not be read
    ports.notifier.notify(service, event)
    _enqueue_webhooks(ports, service, event, workspace, own)


def notify_webhooks(ports: Ports, event_id: str) -> None:
    """The webhook half of ``notify`` (the ``notify`` job an earlier version enqueued)."""
    event = ports.store.get_event(event_id)
    service = ports.store.get_service(event.service_id) if event else None
    if service is not None and event is not None:
        _enqueue_webhooks(ports, service, event, *_settings(ports, service))


def deliver_webhook(ports: Ports, subject: str) -> None:
    """The ``webhook`` job (``<event id>/<webhook id>``) an earlier version enqueued."""
    event_id, _, webhook_id = subject.partition("/")
    deliver(ports, event_id, webhook_id)


def deliver(ports: Ports, event_id: str, webhook_id: str) -> None:
    """The ``DeliverWebhook`` effect: deliver, and log how it went. A webhook deleted or
    disabled meanwhile gets nothing."""
    event = ports.store.get_event(event_id)
    webhook = ports.store.get_webhook(webhook_id)
    if event is None or webhook is None or not webhook_wants(webhook, event):
        return
    delivery = ports.webhooks.deliver(webhook, event, new_id("whe"))
    ports.store.write(put=[delivery])


def _settings(ports: Ports, service: Service) -> tuple[NotificationsToSend, NotificationsToSend]:
    """The workspace's setting (``failure`` when never set) and the service's override."""
    settings = ports.store.get_notification_settings(service.owner_id)
    override = ports.store.get_notification_override(service.id)
    workspace = settings.notifications_to_send if settings else NotificationsToSend.FAILURE
    own = override.notifications_to_send if override else NotificationsToSend.DEFAULT
    return workspace, own


def _enqueue_webhooks(
    ports: Ports,
    service: Service,
    event: Event,
    workspace: NotificationsToSend,
    own: NotificationsToSend,
) -> None:
    cursor: str | None = None
    while True:
        page = ports.store.list_webhooks(service.owner_id, _WEBHOOK_PAGE, cursor)
        for webhook in webhooks_to_notify(event, workspace, own, page.items):
            with unit_of_work(ports) as tx:
                tx.effect(DeliverWebhook(event.id, webhook.id))
        cursor = page.next_cursor
        if cursor is None:
            return


# -- workspace settings --------------------------------------------------------------------------


def _check_owner(ports: Ports, owner_id: str) -> None:
    if ports.store.get_owner(owner_id) is None:
        raise NotFound(f"owner {owner_id} not found; list owners with GET /v1/owners")


def get_notification_settings(ports: Ports, owner_id: str) -> NotificationSettings:
    """The workspace's settings; ``failure`` (version 0) when none were ever stored."""
    _check_owner(ports, owner_id)
    stored = ports.store.get_notification_settings(owner_id)
    return stored if stored is not None else NotificationSettings(owner_id)


@retry_on_conflict
def patch_notification_settings(
    ports: Ports, owner_id: str, *, notifications_to_send: str | None = None
) -> NotificationSettings:
    """Change what the workspace is notified of (``all``/``failure``/``none``); a field left
    ``None`` keeps its value."""
    wanted = (
        None if notifications_to_send is None else parse_workspace_setting(notifications_to_send)
    )

    current = get_notification_settings(ports, owner_id)
    if wanted is None or wanted is current.notifications_to_send:
        return current
    with unit_of_work(ports) as tx:
        return tx.put(dataclasses.replace(current, notifications_to_send=wanted))


# -- per-service overrides -----------------------------------------------------------------------


def get_notification_override(ports: Ports, service_id: str) -> NotificationOverride:
    """The service's override; ``default`` (version 0) when none was ever stored. 404 for a
    service that does not exist."""
    get_service(ports, service_id)
    stored = ports.store.get_notification_override(service_id)
    return stored if stored is not None else NotificationOverride(service_id)


@retry_on_conflict
def patch_notification_override(
    ports: Ports, service_id: str, *, notifications_to_send: str | None = None
) -> NotificationOverride:
    """Change one service's override (``default``/``all``/``failure``/``none``)."""
    wanted = (
        None if notifications_to_send is None else parse_override_setting(notifications_to_send)
    )

    current = get_notification_override(ports, service_id)
    if wanted is None or wanted is current.notifications_to_send:
        return current
    with unit_of_work(ports) as tx:
        return tx.put(dataclasses.replace(current, notifications_to_send=wanted))


# -- webhooks ------------------------------------------------------------------------------------


def _check_target(ports: Ports, url: str) -> None:
    """Refuse now a URL the notifier would refuse at every delivery (the egress policy)."""
    why = ports.webhook_targets.refusal(url)
    if why is not None:
        raise InvalidInput(f"url: webhooks cannot be sent to this URL: {why}")


def get_webhook(ports: Ports, webhook_id: str) -> Webhook:
    webhook = ports.store.get_webhook(webhook_id)
    if webhook is None:
        raise NotFound(f"webhook {webhook_id} not found; list webhooks with GET /v1/webhooks")
    return webhook


def list_webhooks(
    ports: Ports, owner_id: str, limit: int, cursor: str | None = None
) -> Page[Webhook]:
    """The workspace's webhooks, oldest first."""
    return ports.store.list_webhooks(owner_id, limit, cursor)


def create_webhook(
    ports: Ports,
    owner_id: str,
    name: str,
    url: str,
    enabled: bool,
    event_filter: Iterable[str],
) -> Webhook:
    """A new webhook with a fresh signing secret (``whsec_...``), returned to its owner as
    Render returns it."""
    spec = validate_webhook(name, url, enabled, event_filter)
    _check_target(ports, spec.url)
    _check_owner(ports, owner_id)
    webhook = Webhook(
        id=new_id("whk"),
        owner_id=owner_id,
        name=spec.name,
        url=spec.url,
        secret=new_webhook_secret(),
        enabled=spec.enabled,
        event_filter=spec.event_filter,
    )
    with unit_of_work(ports) as tx:
        stored = tx.put(webhook)
    logger.info(
        "webhook created",
        extra={"webhook_id": stored.id, "owner_id": owner_id, "enabled": stored.enabled},
    )
    return stored


def update_webhook(
    ports: Ports,
    webhook_id: str,
    *,
    name: str | None = None,
    url: str | None = None,
    enabled: bool | None = None,
    event_filter: Iterable[str] | None = None,
) -> Webhook:
    """Render's PATCH: each field given replaces the stored one; the secret never changes."""
    new_name = None if name is None else validate_webhook_name(name)
    new_url = None if url is None else validate_webhook_url(url)
    if new_url is not None:
        _check_target(ports, new_url)
    new_enabled = None if enabled is None else validate_enabled(enabled)
    new_filter = None if event_filter is None else validate_event_filter(event_filter)

    return _replace_webhook(ports, webhook_id, new_name, new_url, new_enabled, new_filter)


@retry_on_conflict
def _replace_webhook(
    ports: Ports,
    webhook_id: str,
    name: str | None,
    url: str | None,
    enabled: bool | None,
    event_filter: tuple[str, ...] | None,
) -> Webhook:
    current = get_webhook(ports, webhook_id)
    updated = dataclasses.replace(
        current,
        name=current.name if name is None else name,
        url=current.url if url is None else url,
        enabled=current.enabled if enabled is None else enabled,
        event_filter=current.event_filter if event_filter is None else event_filter,
    )
    if updated == current:
        return current
    with unit_of_work(ports) as tx:
        return tx.put(updated)


def delete_webhook(ports: Ports, webhook_id: str) -> None:
    """Delete the webhook (404 if it is gone); deliveries already queued for it may still be
    attempted, and its delivery log stays in the store (append-only)."""

    _delete_webhook(ports, webhook_id)
    logger.info("webhook deleted", extra={"webhook_id": webhook_id})


@retry_on_conflict
def _delete_webhook(ports: Ports, webhook_id: str) -> None:
    with unit_of_work(ports) as tx:
        tx.delete(get_webhook(ports, webhook_id))


def list_webhook_events(
    ports: Ports,
    webhook_id: str,
    limit: int,
    cursor: str | None = None,
    where: DeliveryFilter = ANY_DELIVERY,
) -> Page[WebhookDelivery]:
    """The delivery log of one webhook (Render's ``GET /v1/webhooks/{id}/events``), newest
    first; 404 for an unknown webhook."""
    get_webhook(ports, webhook_id)
    return ports.store.list_deliveries(webhook_id, limit, cursor, where)
