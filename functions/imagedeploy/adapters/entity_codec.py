"""Entity <-> JSON codecs for the stored ``data`` column.

Each entity has one small, explicit ``EntityCodec``: the fields JSON cannot hold as they are
(datetimes, enums, tuples, nested dataclasses) each name a converter; every other field must be
JSON-native (str, int, float, bool, ``X | None`` of those, ``dict[str, Any]``). That rule is
checked when the codec is built, i.e. at import: a field added to an entity with a type the
codec does not handle fails loudly instead of silently decoding as the wrong type (a ``StrEnum``
decoded as ``str`` would even compare equal, so a round-trip test alone would not notice).

``version`` is not part of the JSON: it lives in its own column, which is what conditional
writes compare, so there is exactly one place it can be read from.

Decoding tolerates schema evolution: keys of fields that no longer exist are dropped, and fields
missing from old rows take their dataclass defaults.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from imagedeploy.domain.accounts import (
    ApiKey,
    CredentialRecord,
    NotificationOverride,
    NotificationSettings,
    NotificationsToSend,
    Owner,
    Webhook,
    WebhookDelivery,
)
from imagedeploy.domain.cron import CronRun, RunStatus, RunTrigger
from imagedeploy.domain.deploys import Deploy, DeploySettings, DeployStatus, DeployTrigger
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.jobs import JobStatus, OneOffJob
from imagedeploy.domain.outbox import OutboxRecord
from imagedeploy.domain.registries import RegistryKind
from imagedeploy.domain.services import EnvVar, Plan, Region, Service, ServiceType

E = TypeVar("E")

_JSON_NATIVE: frozenset[object] = frozenset(
    {
        str,
        int,
        float,
        bool,
        str | None,
        int | None,
        float | None,
        bool | None,
        dict[str, Any],
    }
)


@dataclass(frozen=True, slots=True)
class Converter:
    """How one field goes to JSON and back."""

    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def encode_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds, fixed width: string order is time order, which the
    sort-key columns rely on. Naive datetimes are refused: their instant is unknowable."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store needs timezone-aware UTC times")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def decode_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text)


DATETIME = Converter(encode_datetime, decode_datetime)


def optional(inner: Converter) -> Converter:
    return Converter(
        lambda v: None if v is None else inner.encode(v),
        lambda v: None if v is None else inner.decode(v),
    )


def enum(cls: type[Enum]) -> Converter:
    return Converter(lambda v: v.value, cls)


def tuple_of(inner: Converter) -> Converter:
    return Converter(
        lambda v: [inner.encode(item) for item in v],
        lambda v: tuple(inner.decode(item) for item in v),
    )


IDENTITY = Converter(lambda v: v, lambda v: v)


class EntityCodec(Generic[E]):
    """Converts one dataclass to a JSON-compatible dict and back (``version`` excluded)."""

    def __init__(self, cls: type[E], converters: Mapping[str, Converter] | None = None) -> None:
        self.cls = cls
        self.converters = dict(converters or {})
        hints = typing.get_type_hints(cls)
        self._fields = [f.name for f in dataclasses.fields(cls) if f.name != "version"]  # type: ignore[arg-type]
        unknown = set(self.converters) - set(self._fields)
        if unknown:
            raise TypeError(f"{cls.__name__} codec names fields it does not have: {unknown}")
        for name in self._fields:
            if name not in self.converters and hints[name] not in _JSON_NATIVE:
                raise TypeError(
                    f"{cls.__name__}.{name}: {hints[name]} is not JSON-native; "
                    "give it a converter in its codec"
                )

    def to_dict(self, entity: E) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self._fields:
            value = getattr(entity, name)
            converter = self.converters.get(name)
            out[name] = converter.encode(value) if converter else value
        return out

    def from_dict(self, data: Mapping[str, Any], **extra: Any) -> E:
        kwargs: dict[str, Any] = {}
        for name in self._fields:
            if name in data:
                converter = self.converters.get(name)
                kwargs[name] = converter.decode(data[name]) if converter else data[name]
        return self.cls(**kwargs, **extra)

    def encode(self, entity: E) -> str:
        return json.dumps(self.to_dict(entity), separators=(",", ":"), sort_keys=True)

    def decode(self, text: str, **extra: Any) -> E:
        return self.from_dict(json.loads(text), **extra)

    def as_converter(self) -> Converter:
        """This codec as a field converter, for dataclasses nested in an entity."""
        return Converter(self.to_dict, self.from_dict)


OWNER = EntityCodec(Owner)
API_KEY = EntityCodec(ApiKey, {"created_at": DATETIME, "last_used_at": optional(DATETIME)})
CREDENTIAL = EntityCodec(
    CredentialRecord,
    {"registry": enum(RegistryKind), "updated_at": DATETIME, "created_at": optional(DATETIME)},
)
_ENV_VAR = EntityCodec(EnvVar)
SERVICE = EntityCodec(
    Service,
    {
        "type": enum(ServiceType),
        "plan": enum(Plan),
        "region": enum(Region),
        "env_vars": tuple_of(_ENV_VAR.as_converter()),
        "created_at": DATETIME,
        "updated_at": DATETIME,
    },
)
_DEPLOY_SETTINGS = EntityCodec(DeploySettings, {"plan": enum(Plan)})
DEPLOY = EntityCodec(
    Deploy,
    {
        "status": enum(DeployStatus),
        "trigger": enum(DeployTrigger),
        "settings": _DEPLOY_SETTINGS.as_converter(),
        "created_at": DATETIME,
        "updated_at": DATETIME,
        "started_at": optional(DATETIME),
        "finished_at": optional(DATETIME),
    },
)
EVENT = EntityCodec(Event, {"type": enum(EventType), "timestamp": DATETIME})
CRON_RUN = EntityCodec(
    CronRun,
    {
        "status": enum(RunStatus),
        "trigger": enum(RunTrigger),
        "started_at": DATETIME,
        "finished_at": optional(DATETIME),
    },
)
ONE_OFF_JOB = EntityCodec(
    OneOffJob,
    {
        "plan": enum(Plan),
        "status": enum(JobStatus),
        "created_at": DATETIME,
        "started_at": optional(DATETIME),
        "finished_at": optional(DATETIME),
    },
)
NOTIFICATION_SETTINGS = EntityCodec(
    NotificationSettings, {"notifications_to_send": enum(NotificationsToSend)}
)
NOTIFICATION_OVERRIDE = EntityCodec(
    NotificationOverride, {"notifications_to_send": enum(NotificationsToSend)}
)
WEBHOOK = EntityCodec(Webhook, {"event_filter": tuple_of(IDENTITY)})
WEBHOOK_DELIVERY = EntityCodec(WebhookDelivery, {"sent_at": DATETIME})
OUTBOX_RECORD = EntityCodec(
    OutboxRecord,
    {"effects": tuple_of(IDENTITY), "created_at": DATETIME, "due_at": DATETIME},
)
