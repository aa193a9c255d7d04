"""The workspace (Render's "owner"), API keys, stored registry credentials, notification
settings and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from imagedeploy.domain.registries import RegistryKind


@dataclass(frozen=True, slots=True)
class Owner:
    id: str
    name: str
    email: str
    type: str = "team"
    version: int = 0


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    owner_id: str
    name: str
    key_hash: str  # sha256 hex of the key; the key is shown once and never stored
    created_at: datetime
    last_used_at: datetime | None = None  # recorded at most once per LAST_USE_RESOLUTION
    version: int = 0


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """A registry credential as stored: everything but the token (kept in the SecretStore)."""

    id: str
    owner_id: str
    name: str
    registry: RegistryKind
    username: str
    updated_at: datetime
    version: int = 0


class NotificationsToSend(StrEnum):
    ALL = "all"
    FAILURE = "failure"
    NONE = "none"
    DEFAULT = "default"  # per-service override only: follow the workspace


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    owner_id: str
    notifications_to_send: NotificationsToSend = NotificationsToSend.FAILURE
    version: int = 0


@dataclass(frozen=True, slots=True)
class NotificationOverride:
    service_id: str
    notifications_to_send: NotificationsToSend = NotificationsToSend.DEFAULT
    version: int = 0


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    owner_id: str
    name: str
    url: str
    secret: str  # Standard Webhooks signing secret ("whsec_..."); shown to its owner, like Render
    enabled: bool
    event_filter: tuple[str, ...]  # empty: every event type
    version: int = 0


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One attempt (or series of attempts) to deliver one event to one webhook."""

    id: str
    webhook_id: str
    event_id: str
    event_type: str
    sent_at: datetime
    status_code: int | None  # None: no HTTP answer (timeout, refused)
    attempts: int
    delivered: bool
    error: str = ""


def new_secret_key(nbytes: int = 32) -> str:
    """A random key for deploy hooks and API keys (URL-safe, ``nbytes`` of entropy)."""
    return secrets.token_urlsafe(nbytes)


def hash_key(key: str) -> str:
    # surrogatepass: a key from a malformed header must hash (and then not match), not crash
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key against its stored hash."""
    return hmac.compare_digest(hash_key(key), stored_hash)
