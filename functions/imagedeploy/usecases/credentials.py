"""Registry credentials: reusable logins whose token is write-only (kept in the SecretStore,
never returned). Deleting one a service uses is refused with the services named."""

from __future__ import annotations

import dataclasses

from pydantic import SecretStr

from imagedeploy.domain.accounts import CredentialRecord
from imagedeploy.domain.errors import Conflict, InvalidInput, NotFound
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.listing import ANY_CREDENTIAL, CredentialFilter
from imagedeploy.domain.registries import RegistryKind
from imagedeploy.ports import Page, Ports
from imagedeploy.usecases.unit_of_work import retry_on_conflict, unit_of_work

MAX_FIELD = 512
MAX_TOKEN = 64 * 1024  # a Google service-account JSON key is a few KB


def _check(name: str, username: str, token: str | None) -> None:
    for label, value in (("name", name), ("username", username)):
        if not value.strip():
            raise InvalidInput(f"registry credential {label} must not be empty")
        if len(value) > MAX_FIELD:
            raise InvalidInput(f"registry credential {label} is longer than {MAX_FIELD} characters")
    if token is not None and not token:
        raise InvalidInput("authToken must not be empty: give the registry token or password")
    if token is not None and len(token) > MAX_TOKEN:
        raise InvalidInput(f"authToken is longer than {MAX_TOKEN} characters")


def get_credential(ports: Ports, credential_id: str) -> CredentialRecord:
    record = ports.store.get_credential(credential_id)
    if record is None:
        raise NotFound(f"registry credential {credential_id} not found")
    return record


def list_credentials(
    ports: Ports,
    owner_id: str,
    limit: int,
    cursor: str | None,
    where: CredentialFilter = ANY_CREDENTIAL,
) -> Page[CredentialRecord]:
    return ports.store.list_credentials(owner_id, limit, cursor, where)


def create_credential(
    ports: Ports, owner_id: str, name: str, registry: RegistryKind, username: str, token: SecretStr
) -> CredentialRecord:
    _check(name, username, token.get_secret_value())
    if ports.store.get_owner(owner_id) is None:
        raise NotFound(f"owner {owner_id} not found; list owners with GET /v1/owners")
    now = ports.clock.now()
    record = CredentialRecord(
        id=new_id("rgc"),
        owner_id=owner_id,
        name=name,
        registry=registry,
        username=username,
        updated_at=now,
        created_at=now,
    )
    # The secret first: a record must never point at a missing token. If the record write
    # fails, the orphan secret is removed.
    ports.secrets.put(record.id, username, token)
    try:
        with unit_of_work(ports) as tx:
            stored = tx.put(record)
    except BaseException:
        ports.secrets.delete(record.id)
        raise
    return stored


@retry_on_conflict
def update_credential(
    ports: Ports,
    credential_id: str,
    *,
    name: str | None = None,
    registry: RegistryKind | None = None,
    username: str | None = None,
    token: SecretStr | None = None,
) -> CredentialRecord:
    """Applies to the next deploy, scale-out, restart or cron run (each loads it afresh)."""
    record = get_credential(ports, credential_id)
    updated = dataclasses.replace(
        record,
        name=record.name if name is None else name,
        registry=record.registry if registry is None else registry,
        username=record.username if username is None else username,
        updated_at=ports.clock.now(),
    )
    _check(updated.name, updated.username, None if token is None else token.get_secret_value())
    if token is not None:
        ports.secrets.put(credential_id, updated.username, token)
    with unit_of_work(ports) as tx:
        stored = tx.put(updated)
    return stored


def delete_credential(ports: Ports, credential_id: str) -> None:
    _delete_record(ports, credential_id)
    ports.secrets.delete(credential_id)


@retry_on_conflict
def _delete_record(ports: Ports, credential_id: str) -> None:
    record = get_credential(ports, credential_id)
    users = ports.store.list_services_using_credential(credential_id, limit=10)
    if users:
        names = ", ".join(f"{s.name} ({s.id})" for s in users)
        raise Conflict(
            f"registry credential {record.name} is used by {names}; give those services "
            "another credential first"
        )
    # Version-checked: a service created with this credential meanwhile bumps its version.
    with unit_of_work(ports) as tx:
        tx.delete(record)
