"""Reading logs, in both homes: who may read which service's lines, and masking them.

Every resource of a query must be a service of the caller's workspace (else 404, as for any
other resource of another workspace), and ``ownerId`` must be the caller's workspace. Lines are
masked (``domain.log_masking``) on the way out in both homes; ``serve``'s collector also masks
them before they are stored (``service_masker``).
"""

from __future__ import annotations

from imagedeploy.domain.errors import NotFound
from imagedeploy.domain.log_masking import NO_MASK, Masker, masker
from imagedeploy.domain.logs import LogPage, LogQuery, parse_label
from imagedeploy.domain.services import Service
from imagedeploy.ports import LogReader, Ports


def service_masker(ports: Ports, service: Service) -> Masker:
    """The masker of ``service``: its secret env values and its registry token."""
    tokens: list[str] = []
    if service.credential_id:
        token = ports.secrets.get(service.credential_id)
        if token is not None:
            tokens.append(token.get_secret_value())
    return masker({v.key: v.value for v in service.env_vars}, tokens)


def masker_of(ports: Ports, service_id: str) -> Masker:
    """The masker of the service ``service_id``; none for a service that is gone."""
    service = ports.store.get_service(service_id)
    return NO_MASK if service is None else service_masker(ports, service)


def readable_services(ports: Ports, caller_owner_id: str, query: LogQuery) -> list[Service]:
    """404 unless the caller may read every resource of ``query``; those services."""
    if query.owner_id != caller_owner_id:
        raise NotFound(f"workspace {query.owner_id} not found")
    services: list[Service] = []
    for resource in query.resources:
        service = ports.store.get_service(resource)
        if service is None or service.owner_id != caller_owner_id:
            raise NotFound(f"resource {resource} not found: give the id of one of your services")
        services.append(service)
    return services


def check_access(ports: Ports, caller_owner_id: str, query: LogQuery) -> dict[str, Masker]:
    """404 unless the caller may read every resource of ``query``; their maskers (each may
    read a secret: callers that show no lines want ``readable_services``)."""
    return {
        s.id: service_masker(ports, s) for s in readable_services(ports, caller_owner_id, query)
    }


def list_logs(ports: Ports, reader: LogReader, caller_owner_id: str, query: LogQuery) -> LogPage:
    return reader.query(query, check_access(ports, caller_owner_id, query))


def label_values(
    ports: Ports, reader: LogReader, caller_owner_id: str, query: LogQuery, label: str
) -> list[str]:
    readable_services(ports, caller_owner_id, query)  # values are not masked: no maskers
    return reader.values(query, parse_label(label))
