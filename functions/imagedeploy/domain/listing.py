"""What a list may be narrowed to: one frozen filter per list, the rule decided here once.

Each filter splits into what a store can answer from its index and what it checks per item:

- ``key_range``: a time range on the list's own sort key (a service's or deploy's creation
  time, an event's timestamp, a delivery's send time, a run's start). Stores turn it into the
  bounds of the key range they read, so it narrows the read itself.
- ``matches(item)``: everything else (names, types, statuses, other times). Stores apply it to
  the items of the key range *as they read them*, before counting the page, and keep reading
  until the page is full or the range ends; a page is never short because non-matching items
  came first, and cursors stay the sort key of the last item returned.

A set-valued criterion is ``None`` when not asked for; an empty set matches nothing (a value
Render documents that no stored item can have, e.g. ``type=static_site``).

Times are half-open ranges ``[start, end)``. Render's "created after t" is ``start = t + 1µs``
(stored times have microsecond resolution, so that is exactly "later than t"), "created before
t" is ``end = t``; an event list's ``startTime``/``endTime`` are both inclusive.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Protocol, TypeVar

from imagedeploy.domain.accounts import CredentialRecord, Owner, WebhookDelivery
from imagedeploy.domain.cron import CronRun, RunStatus
from imagedeploy.domain.deploys import Deploy, DeployStatus
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.jobs import JobStatus, OneOffJob
from imagedeploy.domain.registries import RegistryKind
from imagedeploy.domain.services import Region, Service, ServiceType

T_contra = TypeVar("T_contra", contravariant=True)

_TICK = timedelta(microseconds=1)  # the resolution stored times have
IMAGE_RUNTIME = "image"  # every service's runtime (Render's ``runtime``/``env``)


def _utc(moment: datetime) -> datetime:
    """A naive time is taken as UTC (as the wire format does)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``start <= t < end``; a missing bound is open. ``start >= end`` matches nothing."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def between(cls, after: datetime | None, before: datetime | None) -> TimeRange:
        """Render's ``…After``/``…Before`` pair: strictly later than ``after``, strictly
        earlier than ``before``."""
        return cls(
            None if after is None else _utc(after) + _TICK,
            None if before is None else _utc(before),
        )

    @classmethod
    def inclusive(cls, start: datetime | None, end: datetime | None) -> TimeRange:
        """``start <= t <= end`` (an event list's ``startTime``/``endTime``)."""
        return cls(
            None if start is None else _utc(start),
            None if end is None else _utc(end) + _TICK,
        )

    @property
    def unbounded(self) -> bool:
        return self.start is None and self.end is None

    @property
    def empty(self) -> bool:
        return self.start is not None and self.end is not None and self.start >= self.end

    def contains(self, moment: datetime | None) -> bool:
        """Whether ``moment`` is in the range; a missing time (not finished yet) is in no
        bounded range."""
        if self.unbounded:
            return True
        if moment is None:
            return False
        moment = _utc(moment)
        return (self.start is None or moment >= self.start) and (
            self.end is None or moment < self.end
        )


ALL_TIMES = TimeRange()


class ListFilter(Protocol[T_contra]):
    """What a store needs of a filter."""

    @property
    def key_range(self) -> TimeRange:
        """The range of the list's time sort key to read."""
        ...

    @property
    def unfiltered(self) -> bool:
        """``matches`` is true of every item (the store skips checking)."""
        ...

    def matches(self, item: T_contra) -> bool: ...


def _within(value: object, allowed: Collection[object] | None) -> bool:
    return allowed is None or value in allowed


class _KeyedFilter:
    """What every list filter shares: ``key_range`` is the field named by ``_KEY`` (the list's
    time sort key; "" for a list with none), ``unfiltered`` is true when no other field is set."""

    __slots__ = ()
    _KEY: ClassVar[str]

    @property
    def unfiltered(self) -> bool:
        """No criterion set besides the key range: every item of the range matches."""
        return all(
            getattr(self, f.name) in (None, ALL_TIMES)
            for f in fields(self)  # type: ignore[arg-type]  # every subclass is a dataclass
            if f.name != self._KEY
        )

    @property
    def key_range(self) -> TimeRange:
        key_range: TimeRange = getattr(self, self._KEY) if self._KEY else ALL_TIMES
        return key_range


@dataclass(frozen=True, slots=True)
class ServiceFilter(_KeyedFilter):
    """``GET /services``: Render's ``name``, ``type``, ``env``, ``region``, ``suspended``,
    ``environmentId`` and ``created…``/``updated…`` (``ownerId`` picks the partition: the use
    case answers it)."""

    _KEY: ClassVar[str] = "created"

    names: frozenset[str] | None = None  # exact names
    types: frozenset[ServiceType] | None = None
    runtimes: frozenset[str] | None = None  # Render's ``env``: every service here is "image"
    regions: frozenset[Region] | None = None
    suspended: frozenset[bool] | None = None
    environment_ids: frozenset[str] | None = None  # no service belongs to an environment
    created: TimeRange = ALL_TIMES  # the list's sort key
    updated: TimeRange = ALL_TIMES

    def matches(self, service: Service) -> bool:
        return (
            _within(service.name, self.names)
            and _within(service.type, self.types)
            and _within(IMAGE_RUNTIME, self.runtimes)
            and _within(service.region, self.regions)
            and _within(service.suspended, self.suspended)
            and self.environment_ids is None
            and self.updated.contains(service.updated_at)
        )


@dataclass(frozen=True, slots=True)
class DeployFilter(_KeyedFilter):
    """``GET /services/{id}/deploys``: ``status`` and ``created…``/``updated…``/
    ``finished…``."""

    _KEY: ClassVar[str] = "created"

    statuses: frozenset[DeployStatus] | None = None
    created: TimeRange = ALL_TIMES  # the list's sort key
    updated: TimeRange = ALL_TIMES
    finished: TimeRange = ALL_TIMES

    def matches(self, deploy: Deploy) -> bool:
        return (
            _within(deploy.status, self.statuses)
            and self.updated.contains(deploy.updated_at)
            and self.finished.contains(deploy.finished_at)
        )


@dataclass(frozen=True, slots=True)
class EventFilter(_KeyedFilter):
    """``GET /services/{id}/events``: ``type`` and ``startTime``/``endTime``."""

    _KEY: ClassVar[str] = "time"

    types: frozenset[EventType] | None = None
    time: TimeRange = ALL_TIMES  # the list's sort key

    def matches(self, event: Event) -> bool:
        return _within(event.type, self.types)


@dataclass(frozen=True, slots=True)
class DeliveryFilter(_KeyedFilter):
    """``GET /webhooks/{id}/events``: ``sentBefore``/``sentAfter``."""

    _KEY: ClassVar[str] = "sent"

    sent: TimeRange = ALL_TIMES  # the list's sort key

    def matches(self, delivery: WebhookDelivery) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class RunFilter(_KeyedFilter):
    """A cron job's runs (an extension), with the vocabulary of Render's job lists:
    ``status``, ``started…`` (the sort key) and ``finished…``."""

    _KEY: ClassVar[str] = "started"

    statuses: frozenset[RunStatus] | None = None
    started: TimeRange = ALL_TIMES  # the list's sort key
    finished: TimeRange = ALL_TIMES

    def matches(self, run: CronRun) -> bool:
        return _within(run.status, self.statuses) and self.finished.contains(run.finished_at)


@dataclass(frozen=True, slots=True)
class JobFilter(_KeyedFilter):
    """``GET /services/{id}/jobs``: ``status`` and ``created…`` (the sort key)/``started…``/
    ``finished…``."""

    _KEY: ClassVar[str] = "created"

    statuses: frozenset[JobStatus] | None = None
    created: TimeRange = ALL_TIMES  # the list's sort key
    started: TimeRange = ALL_TIMES
    finished: TimeRange = ALL_TIMES

    def matches(self, job: OneOffJob) -> bool:
        return (
            _within(job.status, self.statuses)
            and self.started.contains(job.started_at)
            and self.finished.contains(job.finished_at)
        )


@dataclass(frozen=True, slots=True)
class CredentialFilter(_KeyedFilter):
    """``GET /registrycredentials``: ``name``, ``username``, ``type`` and ``created…``/
    ``updated…``. The list is in creation order (no time sort key): every criterion is checked
    per item. A credential stored before creation times were kept has none, so a ``created…``
    bound leaves it out."""

    _KEY: ClassVar[str] = ""

    names: frozenset[str] | None = None
    usernames: frozenset[str] | None = None
    registries: frozenset[RegistryKind] | None = None
    created: TimeRange = ALL_TIMES
    updated: TimeRange = ALL_TIMES

    def matches(self, record: CredentialRecord) -> bool:
        return (
            _within(record.name, self.names)
            and _within(record.username, self.usernames)
            and _within(record.registry, self.registries)
            and self.created.contains(record.created_at)
            and self.updated.contains(record.updated_at)
        )


@dataclass(frozen=True, slots=True)
class OwnerFilter:
    """``GET /owners``: ``name`` and ``email`` (exact)."""

    names: frozenset[str] | None = None
    emails: frozenset[str] | None = None

    def matches(self, owner: Owner) -> bool:
        return _within(owner.name, self.names) and _within(owner.email, self.emails)


# The unfiltered lists (defaults of the Store port's list methods).
ANY_SERVICE = ServiceFilter()
ANY_DEPLOY = DeployFilter()
ANY_EVENT = EventFilter()
ANY_DELIVERY = DeliveryFilter()
ANY_RUN = RunFilter()
ANY_JOB = JobFilter()
ANY_CREDENTIAL = CredentialFilter()
