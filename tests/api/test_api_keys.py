"""``/v1/api-keys`` (ours; Render has none) over the real resolver and SQLite store: keys named
and dated, the key shown once, stored hashed, last use recorded at most once a minute, revoked
keys refused, the last key kept."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from devkit.apigw import API_KEY, Api
from devkit.world import OWNER
from imagedeploy.domain.accounts import hash_key

pytestmark = pytest.mark.integration


def test_a_created_key_is_shown_once_works_and_is_stored_hashed(api: Api) -> None:
    created = api.call("POST", "/v1/api-keys", {"name": "  ci deploys "})
    assert created.status == 201, created.text
    body = created.json
    secret = body["key"]
    assert secret.startswith("rnd_") and len(secret) > 40
    assert body["name"] == "ci deploys"
    assert body["ownerId"] == OWNER
    assert body["createdAt"].endswith("Z")
    assert body["lastUsedAt"] is None

    shown = api.call("GET", f"/v1/api-keys/{body['id']}")
    assert shown.status == 200
    assert "key" not in shown.json and shown.json["name"] == "ci deploys"
    listed = api.call("GET", "/v1/api-keys").json
    assert sorted(item["apiKey"]["name"] for item in listed) == ["ci deploys", "test"]
    assert all("key" not in item["apiKey"] and item["cursor"] for item in listed)

    assert api.call("GET", "/v1/owners", key=secret).status == 200
    with closing(sqlite3.connect(api.world.store.path)) as db:
        dump = "\n".join(db.iterdump())
    assert secret not in dump
    assert hash_key(secret) in dump


def test_last_use_is_recorded_at_most_once_a_minute(api: Api) -> None:
    key_id = api.call("POST", "/v1/api-keys", {"name": "probe"}).json["id"]
    secret_body = api.call("POST", "/v1/api-keys", {"name": "user"}).json
    user_id, user_key = secret_body["id"], secret_body["key"]
    assert api.call("GET", f"/v1/api-keys/{key_id}").json["lastUsedAt"] is None

    api.call("GET", "/v1/owners", key=user_key)
    first = api.call("GET", f"/v1/api-keys/{user_id}").json["lastUsedAt"]
    assert first is not None
    stored = api.world.store.get_api_key(user_id)
    assert stored is not None
    version = stored.version

    api.world.clock.advance(30)
    api.call("GET", "/v1/owners", key=user_key)
    again = api.world.store.get_api_key(user_id)
    assert again is not None and again.version == version  # not written again within a minute
    assert api.call("GET", f"/v1/api-keys/{user_id}").json["lastUsedAt"] == first

    api.world.clock.advance(31)
    api.call("GET", "/v1/owners", key=user_key)
    later = api.call("GET", f"/v1/api-keys/{user_id}").json["lastUsedAt"]
    assert later > first


def test_a_revoked_key_is_refused_and_the_last_key_is_kept(api: Api) -> None:
    other = api.call("POST", "/v1/api-keys", {"name": "temporary"}).json
    assert api.call("DELETE", f"/v1/api-keys/{other['id']}").status == 204
    refused = api.call("GET", "/v1/owners", key=other["key"])
    assert refused.status == 401
    assert "imagedeploy keys create" in refused.json["message"]
    assert api.call("GET", f"/v1/api-keys/{other['id']}").status == 404

    [only] = api.call("GET", "/v1/api-keys").json
    last = api.call("DELETE", f"/v1/api-keys/{only['apiKey']['id']}")
    assert last.status == 409
    assert "last key" in last.json["message"]
    assert api.call("GET", "/v1/owners", key=API_KEY).status == 200


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\there"])
def test_a_bad_name_is_400(api: Api, name: str) -> None:
    reply = api.call("POST", "/v1/api-keys", {"name": name})
    assert reply.status == 400, reply.text
    assert reply.json["id"] == "invalid_input"
    assert len(api.call("GET", "/v1/api-keys").json) == 1
