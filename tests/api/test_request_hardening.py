"""Requests crafted to break the API get a clear 4xx, and slow registries a quick 503
(issue 8: findings 2, 3, 9 and 13): crafted cursors, bodies JSON cannot hold, another
workspace's event, a registry that is down during verify or an image change, and the check a
server makes before it reads a large body (``ImagedeployResolver.admit_body``)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from devkit.apigw import API_KEY, Api
from devkit.world import IMAGE, OWNER
from imagedeploy.api import errors
from imagedeploy.api.app import ImagedeployResolver
from imagedeploy.domain.accounts import ApiKey, Owner, hash_key
from imagedeploy.domain.errors import ImagePullError, NotFound, PullFailureReason, Unauthenticated
from imagedeploy.domain.service_rules import validate_create
from imagedeploy.domain.services import ServiceType
from imagedeploy.usecases import services
from tests.api.test_render_compat import Client, error, go_live, unchanged

pytestmark = pytest.mark.unit

OTHER_OWNER = "tea-0000000000000000000b"


@pytest.fixture
def client(api: Api) -> Client:
    return Client(api)


def crafted_cursor(payload: str) -> str:
    return "c1." + base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


CURSORS = {
    "deeply-nested": crafted_cursor("[" * 100_000),
    "nested": crafted_cursor("[" * 1_500),
    "huge-int": crafted_cursor('["x",' + "9" * 5_000 + "]"),
    "store-garbage": crafted_cursor('["' + "[" * 600 + '",0]'),  # reaches the store's decoder
    "long": "c1." + "A" * 10_000,
}


@pytest.mark.parametrize("name", CURSORS)
def test_crafted_cursors_are_400_on_every_list(client: Client, name: str) -> None:
    created = client.world.create()
    service_id = created.service.id
    go_live(client.world, created.deploy.id)
    paths = [
        "/v1/services",
        f"/v1/services/{service_id}/deploys",
        f"/v1/services/{service_id}/events",
        f"/v1/services/{service_id}/env-vars",
    ]
    if name != "store-garbage":  # the one-item owners list has no store cursor to decode
        paths.append("/v1/owners")
    for path in paths:
        reply = client.call("GET", path, query={"cursor": CURSORS[name]})
        assert "cursor" in error(reply, 400, "invalid_input"), path


def test_another_workspaces_event_is_a_plain_404(client: Client) -> None:
    world = client.world
    world.store.write(
        put=[
            Owner(OTHER_OWNER, "Other team", "other@example.com"),
            ApiKey(
                "rnd-00000000000000000002", OTHER_OWNER, "k", hash_key("rnd_x"), datetime.now(UTC)
            ),
        ]
    )
    theirs = services.create_service(
        world.ports,
        OTHER_OWNER,
        validate_create(ServiceType.WEB_SERVICE, "their-web", f"{IMAGE}:1.0"),
    )
    go_live(world, theirs.deploy.id)
    event_id = world.store.list_events(theirs.service.id, 1).items[0].id
    message = error(client.call("GET", f"/v1/events/{event_id}"), 404, "not_found")
    assert theirs.service.id not in message and "srv-" not in message
    unknown = error(client.call("GET", "/v1/events/evt-vvvvvvvvvvvvvvvvvvvv"), 404, "not_found")
    assert message == unknown.replace("evt-vvvvvvvvvvvvvvvvvvvv", event_id)  # indistinguishable


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"name": ' + "9" * 5_000 + "}", "more than 4300 digits"),
        ('{"name": "web",}', "not valid JSON: "),
        ("[" * 100_000, "too deeply"),
    ],
    ids=["huge-int", "syntax", "deeply-nested"],
)
def test_bodies_json_cannot_hold_are_named_accurately(client: Client, raw: str, says: str) -> None:
    with unchanged(client.world):
        message = error(client.call("POST", "/v1/services", raw_body=raw), 400, "invalid_input")
    assert says in message
    assert "UTF-8" not in message


def test_a_body_that_is_not_utf8_says_so(client: Client) -> None:
    reply = client.http(
        "POST",
        "/v1/services",
        headers={"authorization": f"Bearer {API_KEY}", "content-type": "application/json"},
        body=b'{"name": "\xff"}',
    )
    assert error(reply, 400, "invalid_input") == "the request body is not valid UTF-8"


# -- a registry that is down or too slow: 503, retry later ------------------------------------

DOWN = ImagePullError(
    PullFailureReason.REGISTRY_UNAVAILABLE,
    "could not reach registry.example.com (ReadTimeout); gave up after 1 attempt(s)",
)


def test_verify_against_a_registry_that_does_not_answer_is_503_with_retry_after(
    client: Client,
) -> None:
    client.world.registry.results[f"{IMAGE}:slow"] = DOWN
    reply = client.call("POST", "/v1/images/verify", {"imageUrl": f"{IMAGE}:slow"})
    message = error(reply, 503, "image_pull_failed")
    assert "registry_unavailable" in message and "ReadTimeout" in message
    assert reply.headers["retry-after"] == str(errors.RETRY_UNAVAILABLE_SECONDS)


def test_an_image_change_while_the_registry_is_down_is_503_and_changes_nothing(
    client: Client,
) -> None:
    created = client.world.create()
    go_live(client.world, created.deploy.id)
    client.world.registry.results[f"{IMAGE}:slow"] = DOWN
    image = {"ownerId": OWNER, "imagePath": f"{IMAGE}:slow"}
    with unchanged(client.world):
        reply = client.call("PATCH", f"/v1/services/{created.service.id}", {"image": image})
        message = error(reply, 503, "image_pull_failed")
    assert f"{IMAGE}:slow" in message and reply.headers["retry-after"]


# -- the head check before a large body is read -----------------------------------------------


def test_admit_body_wants_the_credentials_the_route_wants(client: Client) -> None:
    resolver = client.api.resolver
    assert isinstance(resolver, ImagedeployResolver)
    created = client.world.create()
    service_id, hook_key = created.service.id, created.hook_key
    bearer = {"authorization": f"Bearer {API_KEY}"}
    assert resolver.admit_body("/v1/services", "", bearer) is None
    assert resolver.admit_body("/v1/services", "", {"authorization": "bearer " + API_KEY}) is None
    for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": f"Basic {API_KEY}"}):
        assert isinstance(resolver.admit_body("/v1/services", "", headers), Unauthenticated)
    assert resolver.admit_body(f"/deploy/{service_id}", f"key={hook_key}", {}) is None
    for query in ("", "key=wrong", f"imgURL=x&key={hook_key}x"):
        refused = resolver.admit_body(f"/deploy/{service_id}", query, bearer)
        assert isinstance(refused, NotFound) and service_id not in refused.message
    assert isinstance(resolver.admit_body("/elsewhere", "", bearer), NotFound)
