"""imagedeploy's own ``RegistryClient`` pointed at the local registries: loopback settings with
short budgets, and the test ``Credentials`` as the domain's ``RegistryCredential``."""

from __future__ import annotations

from pydantic import SecretStr

from devkit.regclient import Credentials
from imagedeploy.domain.registries import RegistryCredential, RegistryKind
from imagedeploy.settings import LOOPBACK_NETWORKS, Settings


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
