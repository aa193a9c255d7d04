"""Helpers for integration tests of the registry client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pydantic import SecretStr

from imagedeploy.domain.registries import RegistryCredential, RegistryKind
from imagedeploy.registry import RegistryClient
from imagedeploy.settings import LOOPBACK_NETWORKS, Settings
from tests.support.regclient import Credentials


def loopback_settings(**overrides: object) -> Settings:
    """Settings as the local default has them: loopback registries allowed, short budgets so a
    failing test fails fast."""
    values: dict[str, object] = {
        "registry_allowed_networks": LOOPBACK_NETWORKS,
        "registry_request_timeout_seconds": 5.0,
        "registry_retry_budget_seconds": 20.0,
    }
    values.update(overrides)
    return Settings.model_validate(values)


def credential_for(
    creds: Credentials | None, kind: RegistryKind = RegistryKind.DOCKER
) -> RegistryCredential | None:
    if creds is None:
        return None
    return RegistryCredential(kind, creds.username, SecretStr(creds.password))


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
