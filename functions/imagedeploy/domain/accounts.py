"""The workspace (Render's "owner"), API keys, stored registry credentials, notification
settings and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.registries import RegistryKind

# An API key's last use is written at most this often: a record, not a write per request.
LAST_USE_RESOLUTION = timedelta(minutes=1)
MAX_KEY_NAME = 100
API_KEY_PREFIX = "rnd_"


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
    created_at: datetime | None = None  # None: created before creation times were kept


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


def new_api_key() -> str:
    """A new API key (what the caller sends as ``Authorization: Bearer <key>``)."""
    return API_KEY_PREFIX + new_secret_key(32)


def validate_key_name(name: str) -> str:
    """A non-blank name of at most ``MAX_KEY_NAME`` printable characters, stripped."""
    stripped = name.strip() if isinstance(name, str) else ""
    if not stripped:
        raise InvalidInput("API key name must not be empty: say who or what uses the key")
    if len(stripped) > MAX_KEY_NAME:
        raise InvalidInput(f"API key name is longer than {MAX_KEY_NAME} characters")
    if any(not ch.isprintable() for ch in stripped):
        raise InvalidInput("API key name must not contain control characters")
    return stripped


def last_use_is_stale(key: ApiKey, now: datetime) -> bool:
    """Whether a use at ``now`` should be written (at most once per ``LAST_USE_RESOLUTION``)."""
    return key.last_used_at is None or now - key.last_used_at >= LAST_USE_RESOLUTION


def hash_key(key: str) -> str:
    # surrogatepass: a key from a malformed header must hash (and then not match), not crash
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key against its stored hash."""
    return hmac.compare_digest(hash_key(key), stored_hash)
