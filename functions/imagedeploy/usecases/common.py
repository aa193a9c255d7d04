"""Helpers shared by the use cases: loading things or 404ing, and a service's registry
credential."""

from __future__ import annotations

import logging

from imagedeploy.domain.errors import NotFound
from imagedeploy.domain.registries import RegistryCredential
from imagedeploy.domain.services import Service
from imagedeploy.ports import Ports

logger = logging.getLogger(__name__)


def get_service(ports: Ports, service_id: str) -> Service:
    service = ports.store.get_service(service_id)
    if service is None:
        raise NotFound(f"service {service_id} not found; list services with GET /v1/services")
    return service


def load_credential(ports: Ports, credential_id: str | None) -> RegistryCredential | None:
    """The login a deploy pulls with; a credential deleted or emptied since is anonymous."""
    if credential_id is None:
        return None
    record = ports.store.get_credential(credential_id)
    token = ports.secrets.get(credential_id)
    if record is None or token is None:
        return None
    return RegistryCredential(record.registry, record.username, token)
