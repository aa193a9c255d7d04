"""Notification rules (docs/architecture.md §10): which events are failures, whether a
service's settings let an event out, which webhooks want it, the webhook payload, and webhook
input validation.

- A **failure** is a deploy that ended ``failed`` (for any reason: pull, pre-deploy, rollout,
  timeout), an ``image_pull_failed``, a ``server_failed``, or a cron run that ended
  ``unsuccessful``. ``pre_deploy_ended`` with ``failed`` is not one by itself: the deploy it
  belongs to ends ``failed`` too, and one failure is notified once.
- The workspace says ``all``, ``failure`` or ``none``; a service's override ``default`` follows
  the workspace, anything else replaces it.
- A webhook wants an event when it is enabled and its ``eventFilter`` is empty (every type) or
  names the event's type.
- The payload is Render's: ``{"type", "timestamp", "data": {"id", "serviceId"}}``, where
  ``data.id`` is the event's id (``GET /v1/events/{id}`` has its details).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from imagedeploy.domain.accounts import NotificationsToSend, Webhook
from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.timestamps import rfc3339

__all__ = [
    "EMITTED_EVENT_TYPES",
    "KNOWN_EVENT_TYPES",
    "MAX_NAME",
    "MAX_URL",
    "WebhookSpec",
    "effective_setting",
    "is_failure",
    "new_webhook_secret",
    "parse_override_setting",
    "parse_workspace_setting",
    "should_notify",
    "validate_enabled",
    "validate_event_filter",
    "validate_webhook",
    "validate_webhook_name",
    "validate_webhook_url",
    "webhook_body",
    "webhook_payload",
    "webhook_wants",
    "webhooks_to_notify",
]

MAX_NAME: Final = 255
MAX_URL: Final = 2048
SECRET_PREFIX: Final = "whsec_"  # noqa: S105  (a format prefix, not a secret)
SECRET_BYTES: Final = 32  # Standard Webhooks: 24 to 64 bytes

# The event types imagedeploy emits, in the order a user would read them.
EMITTED_EVENT_TYPES: Final[tuple[str, ...]] = tuple(t.value for t in EventType)

# Render's webhook event types (``webhookEventWithCursor.webhookEvent.eventType`` in Render's
# OpenAPI document). A filter naming one of the types imagedeploy never emits (builds,
# Postgres...) is accepted, so a script written against Render keeps working; it just never
# matches anything here.
_RENDER_ONLY_EVENT_TYPES: Final = frozenset(
    {
        "autoscaling_config_changed",
        "autoscaling_ended",
        "autoscaling_started",
        "branch_deleted",
        "build_ended",
        "build_started",
        "commit_ignored",
        "disk_created",
        "disk_updated",
        "disk_deleted",
        "job_run_ended",
        "maintenance_mode_enabled",
        "maintenance_mode_uri_updated",
        "maintenance_ended",
        "maintenance_started",
        "pipeline_minutes_exhausted",
        "plan_changed",
        "server_hardware_failure",
        "zero_downtime_redeploy_ended",
        "zero_downtime_redeploy_started",
        "edge_cache_enabled",
        "edge_cache_disabled",
        "edge_cache_purged",
        "postgres_available",
        "postgres_backup_completed",
        "postgres_backup_failed",
        "postgres_backup_started",
        "postgres_cluster_leader_changed",
        "postgres_created",
        "postgres_disk_size_changed",
        "postgres_disk_autoscaling_enabled_changed",
        "postgres_ha_status_changed",
        "postgres_restarted",
        "postgres_unavailable",
        "postgres_upgrade_failed",
        "postgres_upgrade_started",
        "postgres_upgrade_succeeded",
        "postgres_restore_failed",
        "postgres_restore_succeeded",
        "postgres_read_replicas_changed",
        "postgres_pitr_checkpoint_started",
        "postgres_pitr_checkpoint_failed",
        "postgres_pitr_checkpoint_completed",
        "postgres_read_replica_stale",
        "postgres_wal_archive_failed",
        "key_value_available",
        "key_value_config_restart",
        "key_value_unhealthy",
    }
)
KNOWN_EVENT_TYPES: Final = frozenset(EMITTED_EVENT_TYPES) | _RENDER_ONLY_EVENT_TYPES

_WORKSPACE_SETTINGS: Final = (
    NotificationsToSend.ALL,
    NotificationsToSend.FAILURE,
    NotificationsToSend.NONE,
)
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)", re.ASCII)
_DEPLOY_FAILED_STATUS_CODE: Final = 4  # Render's numeric ``status`` of a failed deploy_ended


# -- settings ------------------------------------------------------------------------------------


def is_failure(event: Event) -> bool:
    """Whether ``event`` is a failure notification (see the module docstring)."""
    details: Mapping[str, Any] = event.details
    match event.type:
        case EventType.IMAGE_PULL_FAILED | EventType.SERVER_FAILED:
            return True
        case EventType.DEPLOY_ENDED:
            return (
                details.get("deployStatus") == "failed"
                or details.get("status") == _DEPLOY_FAILED_STATUS_CODE
            )
        case EventType.CRON_JOB_RUN_ENDED:
            return details.get("status") == "unsuccessful"
        case _:
            return False


def effective_setting(
    workspace_setting: NotificationsToSend,
    override: NotificationsToSend = NotificationsToSend.DEFAULT,
) -> NotificationsToSend:
    """What applies to one service: its override, or the workspace's when it says ``default``.
    A workspace can only say all/failure/none; ``default`` there reads as the default,
    ``failure``."""
    chosen = workspace_setting if override is NotificationsToSend.DEFAULT else override
    return NotificationsToSend.FAILURE if chosen is NotificationsToSend.DEFAULT else chosen


def should_notify(
    event: Event,
    workspace_setting: NotificationsToSend,
    override: NotificationsToSend = NotificationsToSend.DEFAULT,
) -> bool:
    """Whether the settings let ``event`` out: ``all`` every event, ``failure`` failures only,
    ``none`` nothing."""
    match effective_setting(workspace_setting, override):
        case NotificationsToSend.ALL:
            return True
        case NotificationsToSend.FAILURE:
            return is_failure(event)
        case _:
            return False


def parse_workspace_setting(value: str | NotificationsToSend) -> NotificationsToSend:
    """A workspace's ``notificationsToSend``: ``all``, ``failure`` or ``none``."""
    return _parse_setting(value, _WORKSPACE_SETTINGS, "the workspace")


def parse_override_setting(value: str | NotificationsToSend) -> NotificationsToSend:
    """A service override's ``notificationsToSend``: ``default``, ``all``, ``failure``, ``none``."""
    return _parse_setting(
        value, (NotificationsToSend.DEFAULT, *_WORKSPACE_SETTINGS), "a service override"
    )


def _parse_setting(
    value: object, allowed: tuple[NotificationsToSend, ...], whose: str
) -> NotificationsToSend:
    for setting in allowed:
        if value == setting.value:
            return setting
    names = ", ".join(s.value for s in allowed)
    raise InvalidInput(
        f"notificationsToSend {value!r} is not a setting of {whose}; use one of: {names}"
    )


# -- webhooks ------------------------------------------------------------------------------------


def webhook_wants(webhook: Webhook, event: Event) -> bool:
    """Enabled, and the filter is empty (every type) or names the event's type."""
    return webhook.enabled and (
        not webhook.event_filter or event.type.value in webhook.event_filter
    )


def webhooks_to_notify(
    event: Event,
    workspace_setting: NotificationsToSend,
    override: NotificationsToSend,
    webhooks: Iterable[Webhook],
) -> list[Webhook]:
    """The webhooks ``event`` goes to: none unless the settings let it out, then every webhook
    that wants it. The one place that combines the two rules."""
    if not should_notify(event, workspace_setting, override):
        return []
    return [webhook for webhook in webhooks if webhook_wants(webhook, event)]


def webhook_payload(event: Event) -> dict[str, Any]:
    """Render's webhook payload for ``event``."""
    return {
        "type": event.type.value,
        "timestamp": rfc3339(event.timestamp),
        "data": {"id": event.id, "serviceId": event.service_id},
    }


def webhook_body(event: Event) -> str:
    """The exact body a delivery sends and signs: compact JSON, ASCII only (so the characters
    signed and the bytes sent are the same whatever encoding a receiver assumes)."""
    return json.dumps(webhook_payload(event), separators=(",", ":"), ensure_ascii=True)


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """A webhook's user-given settings, validated."""

    name: str
    url: str
    enabled: bool
    event_filter: tuple[str, ...]


def validate_webhook(
    name: str, url: str, enabled: bool, event_filter: Iterable[str]
) -> WebhookSpec:
    """Every check of a webhook's settings; the first problem is raised as ``InvalidInput``."""
    return WebhookSpec(
        name=validate_webhook_name(name),
        url=validate_webhook_url(url),
        enabled=validate_enabled(enabled),
        event_filter=validate_event_filter(event_filter),
    )


def validate_enabled(enabled: object) -> bool:
    """``enabled`` is a boolean, nothing that merely looks like one."""
    if not isinstance(enabled, bool):
        raise InvalidInput(f"enabled must be true or false, not {enabled!r}")
    return enabled


def validate_webhook_name(name: str) -> str:
    """A non-blank name of at most 255 characters, without surrounding whitespace."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("webhook name must not be empty: give it a name people recognize")
    stripped = name.strip()
    if len(stripped) > MAX_NAME:
        raise InvalidInput(f"webhook name is longer than {MAX_NAME} characters")
    if any(not ch.isprintable() for ch in stripped):
        raise InvalidInput("webhook name must not contain control characters")
    return stripped


def validate_webhook_url(url: str) -> str:
    """An absolute ``https://`` or ``http://`` URL with a host name or IP address, no user name
    or password, at most 2048 characters. Whether the host may be contacted (public address) is
    checked when delivering, since DNS answers change."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("webhook url must not be empty: give the https:// URL to POST to")
    url = url.strip()
    if len(url) > MAX_URL:
        raise InvalidInput(f"webhook url is longer than {MAX_URL} characters")
    if not url.isascii() or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise InvalidInput(
            "webhook url must not contain spaces, control or non-ASCII characters; "
            "percent-encode them (and write an internationalized host name in punycode)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"webhook url {url!r} is not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in ("https", "http"):
        raise InvalidInput(
            f"webhook url {url!r} must start with https:// (or http://); webhooks are POSTed "
            "over HTTP"
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "webhook url must not contain a user name or password; verify deliveries with the "
            "webhook's signing secret instead"
        )
    host = parts.hostname or ""
    if not _valid_host(host):
        raise InvalidInput(
            f"webhook url {url!r} has no valid host; write it as https://host.example.com/path"
        )
    if port == 0:
        raise InvalidInput(f"webhook url {url!r} has port 0; use a port from 1 to 65535")
    return url


def _valid_host(host: str) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def validate_event_filter(event_filter: Iterable[str]) -> tuple[str, ...]:
    """Known event types, each once, in the order given; empty means every type."""
    if isinstance(event_filter, str) or not isinstance(event_filter, Iterable):
        raise InvalidInput("eventFilter must be a list of event types ([] for every type)")
    values = list(event_filter)
    unknown = [v for v in values if not isinstance(v, str) or v not in KNOWN_EVENT_TYPES]
    if unknown:
        listed = ", ".join(repr(value) for value in unknown)
        raise InvalidInput(
            f"eventFilter has unknown event type(s) {listed}; imagedeploy sends: "
            f"{', '.join(EMITTED_EVENT_TYPES)} (or give [] for every type)"
        )
    return tuple(dict.fromkeys(values))
