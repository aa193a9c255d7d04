"""Ports built on first use, for cold starts: the registry client and the webhook sender pull
in httpx (and the registry code), which only the worker's preflight and webhook jobs use. The
API, ECS events, cron and reconcile functions never build them unless a call needs one (an API
request that verifies an image does; the deploy hook does not)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from imagedeploy.domain.accounts import Webhook, WebhookDelivery
    from imagedeploy.domain.events import Event
    from imagedeploy.domain.reference import ImageReference
    from imagedeploy.domain.registries import RegistryCredential
    from imagedeploy.ports import Registry, WebhookSender
    from imagedeploy.registry.client import PreflightResult

T = TypeVar("T")


class _Once(Generic[T]):
    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._made: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
        return self._made


class LazyRegistry:
    """A ``Registry`` made by ``make`` on its first operation."""

    def __init__(self, make: Callable[[], Registry]) -> None:
        self._registry = _Once(make)

    def inspect(
        self, ref: ImageReference, credential: RegistryCredential | None = None
    ) -> PreflightResult:
        return self._registry.get().inspect(ref, credential)

    def check_digest_exists(
        self, ref: ImageReference, credential: RegistryCredential | None = None
    ) -> None:
        self._registry.get().check_digest_exists(ref, credential)

    def with_budget(self, seconds: float) -> Registry:
        return LazyRegistry(lambda: self._registry.get().with_budget(seconds))


class LazyWebhooks:
    """A ``WebhookSender`` made by ``make`` on its first delivery."""

    def __init__(self, make: Callable[[], WebhookSender]) -> None:
        self._sender = _Once(make)

    def deliver(self, webhook: Webhook, event: Event, delivery_id: str) -> WebhookDelivery:
        return self._sender.get().deliver(webhook, event, delivery_id)


if TYPE_CHECKING:
    _registry: type[Registry] = LazyRegistry
    _webhooks: type[WebhookSender] = LazyWebhooks
