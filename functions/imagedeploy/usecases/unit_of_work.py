"""The unit of work: what one use case changes, committed in ONE conditional store write.

::

    @retry_on_conflict
    def suspend(ports, service_id):
        with unit_of_work(ports) as tx:
            service = tx.put(dataclasses.replace(get_service(ports, service_id), suspended=True))
            tx.record(service, EventType.SERVICE_SUSPENDED, {})   # an event, and its notification
            tx.effect(Suspend(service_id))                       # a runtime command
        return service

``tx.put`` returns the entity as it will be stored (its version bumped), so nothing re-reads or
type-checks what the write returns. Effects (jobs, runtime commands, notifications) become one
``OutboxRecord`` written in the same store write (SQLite: one transaction; DynamoDB: one
``TransactWriteItems``); after the commit a single ``outbox`` job is enqueued for it, and the
dispatcher (``usecases.outbox``) executes the effects with retries. If that enqueue is lost, the
reconcile pass finds the record and enqueues it again: no effect is lost between a state change
and the call that acts on it.

A version conflict at commit raises ``ConcurrentUpdate``; ``@retry_on_conflict`` runs the whole
use case again (it re-reads), backing off a little (full jitter, at most ~50 ms) so that many
writers racing for one record (50 hooks at once for one service) spread out.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from imagedeploy.domain.deploy_machine import EventDraft
from imagedeploy.domain.errors import ConcurrentUpdate
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.outbox import Effect, Notify, OutboxRecord, encode_effect
from imagedeploy.domain.services import Service
from imagedeploy.ports import Entity, Job, Ports

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Entity)
P = ParamSpec("P")
R = TypeVar("R")

MAX_ATTEMPTS = 50  # conditional-write retries before giving up with ConcurrentUpdate
OUTBOX_JOB = "outbox"  # the job kind that dispatches one outbox record
DELIVERY_JOB = "webhook_delivery"  # the same, for a record of webhook deliveries


def dispatch_job(record: OutboxRecord) -> Job:
    """The job that dispatches ``record``: webhook deliveries have a kind of their own, so
    that ``serve`` runs them in their own threads (a slow receiver holds up no deploy)."""
    return Job(DELIVERY_JOB if record.delivers_webhooks else OUTBOX_JOB, record.id)


def retry_on_conflict(use_case: Callable[P, R]) -> Callable[P, R]:
    """Run ``use_case`` again, from its first read, when its commit loses a version race."""

    @functools.wraps(use_case)
    def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return use_case(*args, **kwargs)
            except ConcurrentUpdate:
                if attempt == MAX_ATTEMPTS:
                    raise
                logger.debug("conditional write lost a race, retrying", extra={"attempt": attempt})
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))  # noqa: S311
        raise AssertionError("unreachable")

    return retried


class UnitOfWork:
    """Collects a use case's writes and effects; ``unit_of_work`` commits them."""

    def __init__(self, ports: Ports) -> None:
        self._ports = ports
        self._puts: dict[tuple[type, str], Entity] = {}
        self._deletes: list[Entity] = []
        self._effects: list[Effect] = []
        self.record_id: str | None = None  # the outbox record written by the commit, if any

    def put(self, entity: E) -> E:
        """Write ``entity`` (version-checked); returns it as stored. A later put of the same
        entity in this unit replaces the earlier one (one write per entity)."""
        self._puts[(type(entity), _key(entity))] = entity
        if hasattr(entity, "version"):  # events and deliveries are append-only
            stored: E = dataclasses.replace(entity, version=entity.version + 1)  # type: ignore[arg-type]
            return stored
        return entity

    def delete(self, entity: Entity) -> None:
        self._deletes.append(entity)

    def effect(self, *effects: Effect) -> None:
        self._effects.extend(effects)

    def record(self, service: Service, type_: EventType, details: dict[str, Any]) -> Event:
        """Append an event of ``service`` and notify of it."""
        event = Event(new_id("evt"), service.id, type_, self._ports.clock.now(), dict(details))
        self.put(event)
        self.effect(Notify(service.id, event.id))
        return event

    def record_drafts(self, service: Service, drafts: Iterable[EventDraft]) -> list[Event]:
        return [self.record(service, d.type, dict(d.details)) for d in drafts]

    @property
    def empty(self) -> bool:
        return not self._puts and not self._deletes and not self._effects

    def commit(self) -> None:
        if self.empty:
            return
        puts = list(self._puts.values())
        record: OutboxRecord | None = None
        if self._effects:
            now = self._ports.clock.now()
            record = OutboxRecord(
                id=new_id("obx"),
                effects=tuple(encode_effect(e) for e in self._effects),
                created_at=now,
                due_at=now,
            )
            puts.append(record)
            self.record_id = record.id
        self._ports.store.write(put=puts, delete=self._deletes)
        if record is not None:
            try:
                self._ports.jobs.enqueue(dispatch_job(record))
            except Exception:  # the record is stored: reconcile enqueues it again
                logger.exception("could not enqueue an outbox record; reconcile will")


def _key(entity: Entity) -> str:
    for name in ("id", "owner_id", "service_id", "key_hash"):
        value = getattr(entity, name, None)
        if isinstance(value, str):
            return value
    raise TypeError(f"{type(entity).__name__} has no key")


@contextmanager
def unit_of_work(ports: Ports) -> Iterator[UnitOfWork]:
    """Yield a unit of work and commit it when the block ends without an exception."""
    tx = UnitOfWork(ports)
    yield tx
    tx.commit()
