"""Fixtures for integration tests of the registry client (helpers in ``devkit.registry_client``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from devkit.registry_client import loopback_settings
from imagedeploy.registry import RegistryClient


@pytest.fixture
def make_client() -> Iterator[Callable[..., RegistryClient]]:
    """Factory for RegistryClients (closed after the test); keyword args override settings,
    ``client_kwargs`` go to the constructor (clock, sleep, ...)."""
    clients: list[RegistryClient] = []

    def make(client_kwargs: dict[str, object] | None = None, **overrides: object) -> RegistryClient:
        client = RegistryClient(loopback_settings(**overrides), **(client_kwargs or {}))  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
