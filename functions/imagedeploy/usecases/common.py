"""Helpers shared by the use cases: retrying conditional writes, loading things or 404ing,
recording events, and a service's registry credential."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from imagedeploy.domain.deploy_machine import EventDraft
from imagedeploy.domain.errors import ConcurrentUpdate, NotFound
from imagedeploy.domain.events import Event
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.registries import RegistryCredential
from imagedeploy.domain.services import Service
from imagedeploy.usecases.context import Ports

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_ATTEMPTS = 50  # conditional-write retries before giving up with ConcurrentUpdate


def retrying(operation: Callable[[], T]) -> T:
    """Run a read-modify-write until its conditional write wins (optimistic concurrency).

    Losers back off a little (full jitter, at most ~50 ms) so that many writers racing for one
    record (50 hooks at once for one service) spread out instead of colliding again and again.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return operation()
        except ConcurrentUpdate:
            if attempt == MAX_ATTEMPTS:
                raise
            logger.debug("conditional write lost a race, retrying", extra={"attempt": attempt})
            time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))  # noqa: S311 - jitter
    raise AssertionError("unreachable")


def get_service(ports: Ports, service_id: str) -> Service:
    service = ports.store.get_service(service_id)
    if service is None:
        raise NotFound(f"service {service_id} not found; list services with GET /v1/services")
    return service


def events_from(service_id: str, drafts: Iterable[EventDraft], now: datetime) -> list[Event]:
    return [Event(new_id("evt"), service_id, d.type, now, dict(d.details)) for d in drafts]


def notify_all(ports: Ports, service: Service, events: Iterable[Event]) -> None:
    for event in events:
        ports.notifier.notify(service, event)


def load_credential(ports: Ports, credential_id: str | None) -> RegistryCredential | None:
    """The login a deploy pulls with; a credential deleted or emptied since is anonymous."""
    if credential_id is None:
        return None
    record = ports.store.get_credential(credential_id)
    token = ports.secrets.get(credential_id)
    if record is None or token is None:
        return None
    return RegistryCredential(record.registry, record.username, token)
