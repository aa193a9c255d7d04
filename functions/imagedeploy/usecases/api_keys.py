"""A workspace's API keys: create (the key is returned once; only its hash is stored), list,
revoke, and authenticate a request (recording the key's last use at most once a minute).

They take the store and a clock rather than all the ports, so the ``imagedeploy keys`` command
can use them on a data directory without the rest of ``serve``.
"""

from __future__ import annotations

import dataclasses
import logging

from imagedeploy.domain.accounts import (
    ApiKey,
    Owner,
    hash_key,
    last_use_is_stale,
    new_api_key,
    validate_key_name,
)
from imagedeploy.domain.errors import (
    Conflict,
    ImagedeployError,
    NotFound,
    Unauthenticated,
)
from imagedeploy.domain.ids import new_id
from imagedeploy.ports import Clock, Page, Store
from imagedeploy.usecases.unit_of_work import retry_on_conflict

logger = logging.getLogger(__name__)


def ensure_workspace(store: Store, clock: Clock) -> str | None:
    """On ``serve``'s first start: create the workspace and its first API key, and return the
    key (shown once; only its hash is stored). Later starts return None."""
    if store.list_owners(1).items:
        return None
    owner = Owner(new_id("tea"), "My Workspace", "owner@localhost")
    secret = new_api_key()
    key = ApiKey(new_id("rnd"), owner.id, "first key", hash_key(secret), clock.now())
    store.write(put=[owner, key])
    return secret


def create_key(store: Store, clock: Clock, owner_id: str, name: str) -> tuple[ApiKey, str]:
    """A new key of ``owner_id``: the stored record and the key itself (shown once)."""
    if store.get_owner(owner_id) is None:
        raise NotFound(f"owner {owner_id} not found; list owners with GET /v1/owners")
    secret = new_api_key()
    key = ApiKey(new_id("rnd"), owner_id, validate_key_name(name), hash_key(secret), clock.now())
    [stored] = store.write(put=[key])
    assert isinstance(stored, ApiKey)
    logger.info("API key created", extra={"key_id": key.id, "owner_id": owner_id})
    return stored, secret


def list_keys(store: Store, owner_id: str, limit: int, cursor: str | None) -> Page[ApiKey]:
    return store.list_api_keys(owner_id, limit, cursor)


def get_key(store: Store, owner_id: str, key_id: str) -> ApiKey:
    key = store.get_api_key(key_id)
    if key is None or key.owner_id != owner_id:
        raise NotFound(f"API key {key_id} not found; list keys with GET /v1/api-keys")
    return key


def revoke_key(store: Store, owner_id: str, key_id: str, *, keep_last: bool) -> ApiKey:
    """Delete the key; requests with it fail from now on. ``keep_last``: refuse to revoke the
    workspace's last key (over the API, that would lock everyone out; the ``keys`` command on the
    server may, since it can create a new one)."""
    revoked = _delete_key(store, owner_id, key_id, keep_last)
    logger.info("API key revoked", extra={"key_id": key_id, "owner_id": owner_id})
    return revoked


@retry_on_conflict
def _delete_key(store: Store, owner_id: str, key_id: str, keep_last: bool) -> ApiKey:
    # No effects follow a revocation, so one conditional store write is the whole unit of work.
    key = get_key(store, owner_id, key_id)
    if keep_last and len(store.list_api_keys(owner_id, 2).items) < 2:
        raise Conflict(
            f"API key {key_id} is the workspace's last key: create another one first "
            "(POST /v1/api-keys), or revoke it on the server with `imagedeploy keys revoke`"
        )
    store.write(delete=[key])
    return key


def authenticate(store: Store, clock: Clock, presented: str) -> ApiKey:
    """The key a request presents, with its last use recorded (best effort: a lost race or a
    full disk must not fail a request that only reads)."""
    key = store.get_api_key_by_hash(hash_key(presented))
    if key is None:
        raise Unauthenticated(
            "this API key is not valid (revoked, or never created); create one with "
            "`imagedeploy keys create` or POST /v1/api-keys"
        )
    now = clock.now()
    if last_use_is_stale(key, now):
        try:
            store.write(put=[dataclasses.replace(key, last_used_at=now)])
        except ImagedeployError as exc:
            logger.debug("API key last use not recorded", extra={"reason": exc.code})
    return key
