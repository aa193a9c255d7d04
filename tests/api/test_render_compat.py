"""The API is Render's public API v1, operation by operation.

Every implemented operation is driven through the real resolver (``api.call``, or the WSGI app
``serve`` runs when a test needs raw headers or a raw query string) over the use-case world, and
every body is validated against Render's own OpenAPI document for that operation and status
(``devkit/render_openapi.py``). imagedeploy's extensions (``/v1/images/verify``, cron run
lists, the deploy hook and its key, pre-deploy logs) are checked against the shapes we document.

Error paths check the status, the ``{"id", "message"}`` body, and that the refused request
changed nothing (``unchanged``). Every test of this module also checks, on the way out, that no
response and no log record carried a registry token or the API key (``client``).
"""

from __future__ import annotations

import copy
import io
import json
import logging
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from pydantic import SecretStr

from devkit.apigw import API_KEY, BASE, Api, Reply
from devkit.log_lines import log_line
from devkit.render_openapi import (
    document as render_document,
)
from devkit.render_openapi import (
    operation,
    query_parameters,
    validate_request,
    validate_response,
    validate_schema,
)
from devkit.world import AMD1, AMD2, IMAGE, OWNER, SHA1, SHA2, World
from imagedeploy.adapters.local.secrets import SECRETS_FILE
from imagedeploy.api import list_filters as lf
from imagedeploy.api.app import build_resolver
from imagedeploy.api.deps import ApiDeps, LogPage
from imagedeploy.api.wsgi import wsgi_app
from imagedeploy.domain.accounts import ApiKey, Owner, WebhookDelivery, hash_key
from imagedeploy.domain.cron import RunStatus
from imagedeploy.domain.deploy_machine import InstanceFailed, PreDeployExited
from imagedeploy.domain.deploys import DeployStatus
from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.logs import LogType, RequestFields
from imagedeploy.domain.metrics import Metric
from imagedeploy.domain.outcomes import NonZeroExit, OomKilled
from imagedeploy.domain.registries import RegistryKind
from imagedeploy.domain.service_rules import validate_create
from imagedeploy.domain.services import ServiceType
from imagedeploy.ports import Instance
from imagedeploy.usecases import (
    credentials,
    cron,
    deploys,
    instances,
    jobs,
    notifications,
    services,
)
from scripts import openapi

pytestmark = pytest.mark.unit

TOKEN = "glpat-Zx9-very-secret-token"  # a registry token that must never leak
OTHER_OWNER = "tea-0000000000000000000b"
OTHER_KEY = "rnd_other_workspace_key_3d8e"
NGINX = "docker.io/library/nginx"
TYPES = [t.value for t in ServiceType]

# Create bodies (Render ``servicePOST.serviceDetails``) setting every field each type takes.
DETAILS: dict[str, dict[str, Any]] = {
    "web_service": {
        "runtime": "image",
        "plan": "standard",
        "region": "frankfurt",
        "numInstances": 2,
        "healthCheckPath": "/healthz",
        "preDeployCommand": "./migrate --yes",
        "maxShutdownDelaySeconds": 60,
        "envSpecificDetails": {"dockerCommand": "serve --port 10000"},
    },
    "private_service": {
        "runtime": "image",
        "plan": "pro",
        "region": "ohio",
        "numInstances": 3,
        "preDeployCommand": "./migrate",
        "maxShutdownDelaySeconds": 45,
        "envSpecificDetails": {"dockerCommand": "grpc-server"},
    },
    "background_worker": {
        "runtime": "image",
        "plan": "starter",
        "region": "virginia",
        "numInstances": 1,
        "maxShutdownDelaySeconds": 120,
        "envSpecificDetails": {"dockerCommand": "worker --queue default"},
    },
    "cron_job": {
        "runtime": "image",
        "plan": "standard",
        "region": "singapore",
        "schedule": "*/10 * * * *",
        "envSpecificDetails": {"dockerCommand": "report --daily"},
    },
}
# PATCH bodies (Render ``servicePATCH``) changing something every type has and what only it has.
PATCHES: dict[str, dict[str, Any]] = {
    "web_service": {"healthCheckPath": "/ready", "maxShutdownDelaySeconds": 90},
    "private_service": {"preDeployCommand": "", "maxShutdownDelaySeconds": 10},
    "background_worker": {"envSpecificDetails": {"dockerCommand": "worker --queue high"}},
    "cron_job": {"schedule": "0 3 * * MON-FRI"},
}


# -- transport --------------------------------------------------------------------------------


@dataclass
class Client:
    """``api.call`` and the WSGI transport, recording every reply for the leak check."""

    api: Api
    replies: list[Reply] = field(default_factory=list)

    @property
    def world(self) -> World:
        return self.api.world

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
        reply = self.api.call(method, path, body, **kwargs)
        self.replies.append(reply)
        return reply

    def http(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Reply:
        """One request through ``api.wsgi`` (what ``imagedeploy serve`` runs): raw header
        values and a raw, still URL-encoded query string."""
        app = wsgi_app(self.api.resolver)
        status, answer_headers, answer = wsgi_request(app, method, path, query, headers, body)
        reply = Reply(status, answer_headers, b"".join(answer).decode())
        self.replies.append(reply)
        return reply


def wsgi_request(
    app: Any,
    method: str,
    path: str,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, dict[str, str], Iterable[bytes]]:
    """One request to a WSGI app: its status, headers (lower-case names) and body, unread."""
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(
        REQUEST_METHOD=method,
        PATH_INFO=path,
        QUERY_STRING=query,
        CONTENT_TYPE="application/json",
        CONTENT_LENGTH=str(len(body)),
    )
    environ["wsgi.input"] = io.BytesIO(body)
    for name, value in (headers or {}).items():
        environ[f"HTTP_{name.upper().replace('-', '_')}"] = value
    started: dict[str, Any] = {}

    def start_response(status: str, header_list: list[tuple[str, str]]) -> None:
        started["status"] = int(status.split()[0])
        started["headers"] = {k.lower(): v for k, v in header_list}

    answer = app(environ, start_response)
    return started["status"], started["headers"], answer


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        self.texts.append(f"{record.getMessage()} {record.__dict__!r} {exc}")


@contextmanager
def captured_logs() -> Iterator[_Records]:
    """Every log record of the test, even when ``configure_logging`` stopped propagation."""
    handler = _Records()
    loggers = [logging.getLogger(), logging.getLogger("imagedeploy")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


SECRETS = (TOKEN, "tok-s3cr3t", API_KEY, OTHER_KEY)  # tok-s3cr3t: World.credential()'s token
HOOK_KEY = re.compile(r"[?&]key=([A-Za-z0-9_-]{43})")


@pytest.fixture
def client(api: Api) -> Iterator[Client]:
    """The API of the test, and afterwards: no response and no log line held a secret."""
    with captured_logs() as logs:
        c = Client(api)
        yield c
    seen = [f"{r.status} {r.headers} {r.text}" for r in c.replies] + logs.texts
    for secret in SECRETS:
        leaks = [text[:300] for text in seen if secret in text]
        assert not leaks, f"a secret ({secret[:6]}...) leaked into a response or log: {leaks}"
    # deploy hook keys are shown once, in a response, and never logged
    hook_keys = {key for r in c.replies for key in HOOK_KEY.findall(r.text)}
    logged = [key[:6] for key in hook_keys if any(key in text for text in logs.texts)]
    assert not logged, f"deploy hook keys were logged: {logged}"


@dataclass
class Workspace:
    """Another workspace: its API key, a resource for each path parameter, its hook keys."""

    key: str
    ids: dict[str, str]
    hook_keys: dict[str, str]


@pytest.fixture
def other(client: Client) -> Workspace:
    """A second workspace with its own API key, a service of each type, deploys, events and a
    credential: none of it may be visible with the first workspace's key."""
    world = client.world
    now = datetime.now(UTC)
    world.store.write(
        put=[
            Owner(OTHER_OWNER, "Other team", "other@example.com"),
            ApiKey("rnd-00000000000000000002", OTHER_OWNER, "other", hash_key(OTHER_KEY), now),
        ]
    )
    credential = credentials.create_credential(
        world.ports, OTHER_OWNER, "theirs", RegistryKind.GITHUB, "them", SecretStr(TOKEN)
    )
    created = {
        t: services.create_service(
            world.ports,
            OTHER_OWNER,
            validate_create(
                t,
                f"their-{t.value}",
                f"{IMAGE}:1.0",
                schedule="*/5 * * * *" if t is ServiceType.CRON_JOB else None,
            ),
        )
        for t in ServiceType
    }
    for c in created.values():
        go_live(world, c.deploy.id)
    web = created[ServiceType.WEB_SERVICE]
    services.put_env_var(world.ports, web.service.id, "THEIRS", "x")
    their_job = jobs.create_job(world.ports, web.service.id, "true")
    webhook = notifications.create_webhook(
        world.ports, OTHER_OWNER, "theirs", "https://hooks.example.com/x", True, []
    )
    return Workspace(
        key=OTHER_KEY,
        ids={
            "ownerId": OTHER_OWNER,
            "serviceId": web.service.id,
            "deployId": web.deploy.id,
            "cronJobId": created[ServiceType.CRON_JOB].service.id,
            "eventId": world.store.list_events(web.service.id, 1).items[0].id,
            "registryCredentialId": credential.id,
            "envVarKey": "THEIRS",
            "webhookId": webhook.id,
            "apiKeyId": "rnd-00000000000000000002",
            "jobId": their_job.id,
        },
        hook_keys={c.service.id: c.hook_key for c in created.values()},
    )


# -- assertions -------------------------------------------------------------------------------


def ok(reply: Reply, method: str, template: str, status: int) -> Any:
    """Assert the status and that the body is what Render documents for it; return the body."""
    assert reply.status == status, f"{method} {template}: {reply.status} {reply.text[:500]}"
    validate_response(method, template, status, reply.json)
    return reply.json


def error(
    reply: Reply,
    status: int,
    error_id: str | None = None,
    *,
    render: tuple[str, str] | None = None,
) -> str:
    """Assert an error answer: ``status`` and exactly ``{"id", "message"}``, both non-empty
    strings; with ``render=(method, template)`` also Render's documented body for the status
    (or its generic ``error`` schema where Render does not document that status there).
    Returns the message."""
    assert reply.status == status, f"expected {status}, got {reply.status}: {reply.text[:500]}"
    assert reply.headers.get("content-type") == "application/json"
    body = reply.json
    assert isinstance(body, dict)
    assert set(body) == {"id", "message"}, body
    assert isinstance(body["id"], str) and body["id"], body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    if error_id is not None:
        assert body["id"] == error_id, body
    if render is not None:
        method, template = render
        if str(status) in operation(method, template)["responses"]:
            validate_response(method, template, status, body)
        else:
            validate_schema("error", body)
    message: str = body["message"]
    return message


def _everything_of(table: str) -> str:
    """A query for every row of ``table``, minus an API key's last use: bookkeeping that any
    authenticated request may write (at most once a minute), refused or not."""
    if table == "api_keys":
        return "SELECT id, owner_id, key_hash, json_remove(data, '$.last_used_at') FROM api_keys"
    return f'SELECT * FROM "{table}"'  # noqa: S608


def snapshot(world: World) -> dict[str, Any]:
    """Everything a request could change: every store row, the encrypted secrets, queued jobs,
    runtime calls and schedules."""
    with closing(sqlite3.connect(f"file:{world.store.path}?mode=ro", uri=True)) as db:
        tables = [
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        rows = {t: sorted(map(repr, db.execute(_everything_of(t)))) for t in tables}
    secrets_file = world.store.path.parent / SECRETS_FILE
    return {
        "rows": rows,
        "secrets": secrets_file.read_bytes() if secrets_file.exists() else None,
        "jobs": list(world.jobs.queue),
        "runtime": list(world.runtime.calls),
        "schedules": dict(world.scheduler.schedules),
        "notified": len(world.notifier.sent),
    }


@contextmanager
def unchanged(world: World) -> Iterator[None]:
    """The block's requests (refused ones) change no state at all."""
    before = snapshot(world)
    yield
    after = snapshot(world)
    changed = {k for k in before if before[k] != after[k]}
    if "rows" in changed:
        changed |= {f"rows.{t}" for t in before["rows"] if before["rows"][t] != after["rows"][t]}
    assert not changed, f"a refused request changed state: {sorted(changed)}"


# -- building blocks --------------------------------------------------------------------------


def service_body(
    service_type: str,
    image_path: str = f"{IMAGE}:1.0",
    credential_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A Render ``servicePOST`` body for ``service_type`` (checked against Render's schema: a
    body a Render client would send)."""
    image = {"ownerId": OWNER, "imagePath": image_path}
    if credential_id is not None:
        image["registryCredentialId"] = credential_id
    body = {
        "type": service_type,
        "name": f"my-{service_type.replace('_', '-')}",
        "ownerId": OWNER,
        "image": image,
        "serviceDetails": DETAILS[service_type],
        **extra,
    }
    validate_request("POST", "/services", body)
    return body


def create(client: Client, service_type: str, **settings: Any) -> dict[str, Any]:
    """POST /v1/services; returns Render's ``{service, deployId}`` (plus ``deployHookUrl``)."""
    reply = client.call("POST", "/v1/services", service_body(service_type, **settings))
    created: dict[str, Any] = ok(reply, "POST", "/services", 201)
    return created


def go_live(world: World, deploy_id: str) -> None:
    """Run the deploy's jobs; a pre-deploy command exits 0; the rollout becomes healthy."""
    world.drain()
    deploy = world.store.get_deploy(deploy_id)
    if deploy is not None and deploy.status is DeployStatus.PRE_DEPLOY_IN_PROGRESS:
        deploys.handle_signal(world.ports, deploy_id, PreDeployExited(0))
    world.go_live(deploy_id)
    deploy = world.store.get_deploy(deploy_id)
    assert deploy is not None and deploy.status is DeployStatus.LIVE, deploy


def live(client: Client, service_type: str = "web_service", **extra: Any) -> tuple[str, str]:
    """A service whose first deploy is live: ``(service id, deploy id)``."""
    created = create(client, service_type, **extra)
    go_live(client.world, created["deployId"])
    return created["service"]["id"], created["deployId"]


def walk(client: Client, path: str, wrapper: str, limit: int = 10) -> list[str]:
    """Page through a Render list with ``limit`` until an empty page: every item's id, in order.
    Each page is at most ``limit`` long and every item carries a cursor."""
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        query = {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        page = client.call("GET", path, query=query)
        assert page.status == 200, page.text
        items = page.json
        assert len(items) <= limit
        if not items:
            return ids
        for item in items:
            assert set(item) == {wrapper, "cursor"}, item
            ids.append(item[wrapper]["id"] if "id" in item[wrapper] else item[wrapper]["key"])
        cursor = items[-1]["cursor"]
    raise AssertionError(f"{path} did not end after 100 pages")


def deploys_of(world: World, service_id: str) -> list[Any]:
    return world.store.list_deploys(service_id, 100).items


def deploy_now(client: Client, service_id: str, body: Any = None) -> Reply:
    """POST /v1/services/{id}/deploys, after moving the clock to a fresh rate-limit window."""
    client.world.clock.advance(60)
    return client.call("POST", f"/v1/services/{service_id}/deploys", body)


# -- owners -----------------------------------------------------------------------------------


def test_owners_list_only_the_callers_workspace(client: Client, other: Workspace) -> None:
    body = ok(client.call("GET", "/v1/owners"), "GET", "/owners", 200)
    assert [item["owner"]["id"] for item in body] == [OWNER]
    assert body[0]["owner"] == {
        "id": OWNER,
        "name": "Team",
        "email": "team@example.com",
        "type": "team",
    }
    theirs = ok(client.call("GET", "/v1/owners", key=other.key), "GET", "/owners", 200)
    assert [item["owner"]["id"] for item in theirs] == [OTHER_OWNER]
    assert walk(client, "/v1/owners", "owner", limit=1) == [OWNER]


def test_owner_is_retrieved_by_id(client: Client) -> None:
    body = ok(client.call("GET", f"/v1/owners/{OWNER}"), "GET", "/owners/{ownerId}", 200)
    assert body["id"] == OWNER


# -- services ---------------------------------------------------------------------------------


@pytest.mark.parametrize("service_type", TYPES)
def test_create_service_answers_render_service_and_deploy(
    client: Client, service_type: str
) -> None:
    created = create(client, service_type, envVars=[{"key": "GREETING", "value": "hi"}])
    service, details = created["service"], created["service"]["serviceDetails"]
    asked = DETAILS[service_type]
    assert service["type"] == service_type
    assert service["id"].startswith("crn-" if service_type == "cron_job" else "srv-")
    assert service["imagePath"] == f"{IMAGE}:1.0"
    assert (details["runtime"], details["plan"], details["region"]) == (
        "image",
        asked["plan"],
        asked["region"],
    )
    docker = details["envSpecificDetails"]
    assert docker["dockerCommand"] == asked["envSpecificDetails"]["dockerCommand"]
    if service_type == "cron_job":
        assert details["schedule"] == asked["schedule"]
        assert "numInstances" not in details
    else:
        assert details["numInstances"] == asked["numInstances"]
        assert details["maxShutdownDelaySeconds"] == asked["maxShutdownDelaySeconds"]
    if service_type == "web_service":
        assert details["healthCheckPath"] == "/healthz"
        assert details["url"].startswith("http")
    # the first deploy exists and is the one named
    deploy = client.world.store.get_deploy(created["deployId"])
    assert deploy is not None and deploy.service_id == service["id"]
    # extension: the deploy hook URL with its key, shown once
    assert created["deployHookUrl"].startswith(f"{BASE}/deploy/{service['id']}?key=")
    env = client.call("GET", f"/v1/services/{service['id']}/env-vars").json
    assert [e["envVar"] for e in env] == [{"key": "GREETING", "value": "hi"}]


@pytest.mark.parametrize("service_type", TYPES)
def test_retrieve_service(client: Client, service_type: str) -> None:
    service_id, deploy_id = live(client, service_type)
    body = ok(client.call("GET", f"/v1/services/{service_id}"), "GET", "/services/{serviceId}", 200)
    assert body["id"] == service_id
    assert body["liveDeploy"] == {
        "id": deploy_id,
        "image": {"ref": f"{IMAGE}:1.0", "sha": SHA1},
    }  # extension


def test_service_with_a_registry_credential(client: Client) -> None:
    credential = ok(
        client.call(
            "POST",
            "/v1/registrycredentials",
            {
                "registry": "GITLAB",
                "name": "gitlab",
                "username": "deployer",
                "authToken": TOKEN,
                "ownerId": OWNER,
            },
        ),
        "POST",
        "/registrycredentials",
        200,
    )
    created = create(client, "web_service", credential_id=credential["id"])
    service = created["service"]
    assert service["registryCredential"] == {"id": credential["id"], "name": "gitlab"}
    docker = service["serviceDetails"]["envSpecificDetails"]
    assert docker["registryCredential"]["id"] == credential["id"]
    go_live(client.world, created["deployId"])
    deploy = ok(
        client.call("GET", f"/v1/services/{service['id']}/deploys/{created['deployId']}"),
        "GET",
        "/services/{serviceId}/deploys/{deployId}",
        200,
    )
    assert deploy["image"] == {"ref": f"{IMAGE}:1.0", "sha": SHA1, "registryCredential": "gitlab"}
    # the preflight used the credential's username (and, unseen here, its token)
    assert ("inspect", f"{IMAGE}:1.0", "deployer") in client.world.registry.calls


def test_list_services_walks_25_with_limit_10(client: Client) -> None:
    made = {client.world.create(name=f"svc-{i}").service.id for i in range(25)}
    body = ok(client.call("GET", "/v1/services"), "GET", "/services", 200)
    assert len(body) == 20  # Render's default limit
    seen = walk(client, "/v1/services", "service")
    assert len(seen) == 25 and set(seen) == made
    page = ok(client.call("GET", "/v1/services", query={"limit": "10"}), "GET", "/services", 200)
    assert len(page) == 10


@pytest.mark.parametrize("service_type", TYPES)
def test_update_service(client: Client, service_type: str) -> None:
    service_id, _ = live(client, service_type)
    deploys_before = len(deploys_of(client.world, service_id))
    patch = {"name": "renamed", "serviceDetails": {"plan": "pro", **PATCHES[service_type]}}
    validate_request("PATCH", "/services/{serviceId}", patch)
    body = ok(
        client.call("PATCH", f"/v1/services/{service_id}", patch),
        "PATCH",
        "/services/{serviceId}",
        200,
    )
    details = body["serviceDetails"]
    assert (body["name"], details["plan"]) == ("renamed", "pro")
    for name, value in PATCHES[service_type].items():
        if name == "envSpecificDetails":
            assert details[name]["dockerCommand"] == value["dockerCommand"]
        elif name == "preDeployCommand":  # Render shows it with the docker details
            assert details["envSpecificDetails"][name] == value
        else:
            assert details[name] == value
    assert len(deploys_of(client.world, service_id)) == deploys_before  # PATCH never deploys
    again = client.call("GET", f"/v1/services/{service_id}").json
    assert again["serviceDetails"] == details


def test_update_image_is_preflighted_but_not_deployed(client: Client) -> None:
    service_id, _ = live(client)
    image = {"ownerId": OWNER, "imagePath": f"{IMAGE}:2.0"}
    body = ok(
        client.call("PATCH", f"/v1/services/{service_id}", {"image": image}),
        "PATCH",
        "/services/{serviceId}",
        200,
    )
    assert body["imagePath"] == f"{IMAGE}:2.0"
    assert ("inspect", f"{IMAGE}:2.0", None) in client.world.registry.calls
    assert len(deploys_of(client.world, service_id)) == 1
    missing = {"ownerId": OWNER, "imagePath": f"{IMAGE}:9.9"}
    with unchanged(client.world):
        message = error(
            client.call("PATCH", f"/v1/services/{service_id}", {"image": missing}),
            400,
            render=("PATCH", "/services/{serviceId}"),
        )
    assert "9.9" in message


@pytest.mark.parametrize("service_type", TYPES)
def test_delete_service(client: Client, service_type: str) -> None:
    service_id, _ = live(client, service_type)
    reply = client.call("DELETE", f"/v1/services/{service_id}")
    ok(reply, "DELETE", "/services/{serviceId}", 204)
    assert reply.text == ""
    error(client.call("GET", f"/v1/services/{service_id}"), 404, "not_found")
    assert service_id not in walk(client, "/v1/services", "service")
    client.world.drain()  # the removal is a job: the API answered at once
    assert ("remove", service_id) in client.world.runtime.calls
    if service_type == "cron_job":
        assert service_id not in client.world.scheduler.schedules


VALID_WEB: dict[str, Any] = {
    "type": "web_service",
    "name": "web",
    "ownerId": OWNER,
    "image": {"ownerId": OWNER, "imagePath": f"{IMAGE}:1.0"},
    "serviceDetails": {"runtime": "image"},
}


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with ``a.b.c`` set to ``value`` (``...`` removes it)."""
    out = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = out
    for name in parents:
        node = node.setdefault(name, {})
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
    return out


BAD_CREATES = {
    "wrong type: name is a number": (_with(VALID_WEB, "name", 5), "name"),
    "wrong type: numInstances as a string": (
        _with(VALID_WEB, "serviceDetails.numInstances", "3"),
        "numInstances",
    ),
    "wrong type: body is a string": ("web_service", ""),
    "unknown enum: type": (_with(VALID_WEB, "type", "database"), "type"),
    "unknown enum: plan": (_with(VALID_WEB, "serviceDetails.plan", "huge"), "plan"),
    "unknown enum: region": (_with(VALID_WEB, "serviceDetails.region", "mars"), "region"),
    "render-only plan": (_with(VALID_WEB, "serviceDetails.plan", "free"), "free"),
    "static_site": (_with(VALID_WEB, "type", "static_site"), "static site"),
    "repo": (
        _with(VALID_WEB, "repo", "https://github.com/render-examples/flask-hello-world"),
        "repo",
    ),
    "runtime docker": (_with(VALID_WEB, "serviceDetails.runtime", "docker"), "runtime"),
    "no runtime": (_with(VALID_WEB, "serviceDetails.runtime", ...), "runtime"),
    "dockerfilePath": (
        _with(VALID_WEB, "serviceDetails.envSpecificDetails", {"dockerfilePath": "./Dockerfile"}),
        "dockerfilePath",
    ),
    "disk": (_with(VALID_WEB, "serviceDetails.disk", {"name": "d", "mountPath": "/d"}), "disk"),
    "missing image": (_with(VALID_WEB, "image", ...), "image"),
    "empty name": (_with(VALID_WEB, "name", ""), "name"),
    "numInstances 0": (_with(VALID_WEB, "serviceDetails.numInstances", 0), "numInstances"),
    "numInstances 101": (_with(VALID_WEB, "serviceDetails.numInstances", 101), "numInstances"),
    "invalid image reference": (
        _with(VALID_WEB, "image.imagePath", "Registry.example.com/UPPER/Case::"),
        "",
    ),
    "cron without schedule": (_with(VALID_WEB, "type", "cron_job"), ""),  # see the xfail below
    "invalid schedule": (
        _with(_with(VALID_WEB, "type", "cron_job"), "serviceDetails.schedule", "61 * * * *"),
        "schedule",
    ),
    "malformed credential id": (
        _with(VALID_WEB, "image.registryCredentialId", "rgc-nope"),
        "registryCredentialId",
    ),
    "unknown credential": (
        _with(VALID_WEB, "image.registryCredentialId", "rgc-vvvvvvvvvvvvvvvvvvvv"),
        "rgc-vvvvvvvvvvvvvvvvvvvv",
    ),
}


@pytest.mark.parametrize("case", BAD_CREATES)
def test_create_refuses_bad_input(client: Client, case: str) -> None:
    body, mentions = BAD_CREATES[case]
    with unchanged(client.world):
        reply = client.call("POST", "/v1/services", body)
        if case == "unknown credential":  # a reference to nothing: Render's 404
            message = error(reply, 404, "not_found", render=("POST", "/services"))
        else:
            message = error(reply, 400, render=("POST", "/services"))
    assert mentions in message


@pytest.mark.parametrize(
    "raw", ["{nope", "", "null", '"text"', "[1, 2", '{"type": "web_service",}', "\x00"]
)
def test_create_refuses_what_is_not_a_json_object(client: Client, raw: str) -> None:
    with unchanged(client.world):
        reply = client.call("POST", "/v1/services", raw_body=raw)
        error(reply, 400, "invalid_input", render=("POST", "/services"))


@pytest.mark.parametrize(
    ("image_path", "stored"),
    [
        (f"https://{IMAGE}:1.0", f"{IMAGE}:1.0"),  # Render strips a scheme
        (f"http://{IMAGE}:1.0", f"{IMAGE}:1.0"),
        ("alpine", "docker.io/library/alpine:latest"),
        ("index.docker.io/library/alpine:latest", "docker.io/library/alpine:latest"),
    ],
)
def test_image_paths_are_normalized(client: Client, image_path: str, stored: str) -> None:
    body = _with(VALID_WEB, "image.imagePath", image_path)
    service = ok(client.call("POST", "/v1/services", body), "POST", "/services", 201)["service"]
    assert service["imagePath"] == stored
    patch = {"image": {"ownerId": OWNER, "imagePath": f"https://{IMAGE}:2.0"}}
    patched = client.call("PATCH", f"/v1/services/{service['id']}", patch).json
    assert patched["imagePath"] == f"{IMAGE}:2.0"


def test_service_ignores_what_render_ignores(client: Client) -> None:
    """Fields another type documents, unknown fields and build-only toggles are ignored."""
    body = _with(VALID_WEB, "type", "background_worker")
    body = _with(body, "serviceDetails.healthCheckPath", "/ignored")  # web only
    body = _with(body, "autoDeploy", "yes")
    body = _with(body, "somethingNew", {"x": 1})
    reply = client.call("POST", "/v1/services", body)
    service = ok(reply, "POST", "/services", 201)["service"]
    assert "healthCheckPath" not in service["serviceDetails"]
    assert service["autoDeploy"] == "no"


BAD_PATCHES = {
    "repo": ({"repo": "https://github.com/x/y"}, "repo"),
    "wrong type": ({"name": 1}, "name"),
    "unknown plan": ({"serviceDetails": {"plan": "huge"}}, "plan"),
    "bad schedule": ({"serviceDetails": {"schedule": "every day"}}, "schedule"),
    "image of another owner": (
        {"image": {"ownerId": OTHER_OWNER, "imagePath": f"{IMAGE}:2.0"}},
        "ownerId",
    ),
    "maxShutdownDelaySeconds 0": (
        {"serviceDetails": {"maxShutdownDelaySeconds": 0}},
        "maxShutdownDelaySeconds",
    ),
    "not an object": ("renamed", ""),
}


@pytest.mark.parametrize("case", BAD_PATCHES)
def test_update_refuses_bad_input(client: Client, case: str) -> None:
    service_id = client.world.create(ServiceType.CRON_JOB).service.id
    body, mentions = BAD_PATCHES[case]
    with unchanged(client.world):
        message = error(
            client.call("PATCH", f"/v1/services/{service_id}", body),
            400,
            render=("PATCH", "/services/{serviceId}"),
        )
    assert mentions in message


# -- suspend, resume, restart, scale ----------------------------------------------------------


@pytest.mark.parametrize("service_type", TYPES)
def test_suspend_and_resume(client: Client, service_type: str) -> None:
    service_id, _ = live(client, service_type)
    reply = client.call("POST", f"/v1/services/{service_id}/suspend")
    ok(reply, "POST", "/services/{serviceId}/suspend", 202)
    service = client.call("GET", f"/v1/services/{service_id}").json
    assert (service["suspended"], service["suspenders"]) == ("suspended", ["user"])
    reply = client.call("POST", f"/v1/services/{service_id}/resume")
    ok(reply, "POST", "/services/{serviceId}/resume", 202)
    service = client.call("GET", f"/v1/services/{service_id}").json
    assert service["suspended"] == "not_suspended"
    latest = deploys_of(client.world, service_id)[0]
    assert latest.trigger.value == "service_resumed"


@pytest.mark.parametrize("service_type", ["web_service", "private_service", "background_worker"])
def test_restart_and_scale(client: Client, service_type: str) -> None:
    service_id, _ = live(client, service_type)
    ok(
        client.call("POST", f"/v1/services/{service_id}/restart"),
        "POST",
        "/services/{serviceId}/restart",
        200,
    )
    body = {"numInstances": 4}
    validate_request("POST", "/services/{serviceId}/scale", body)
    reply = client.call("POST", f"/v1/services/{service_id}/scale", body)
    ok(reply, "POST", "/services/{serviceId}/scale", 202)
    assert (
        client.call("GET", f"/v1/services/{service_id}").json["serviceDetails"]["numInstances"] == 4
    )
    events = [
        e["event"]["type"] for e in client.call("GET", f"/v1/services/{service_id}/events").json
    ]
    assert {"server_restarted", "instance_count_changed"} <= set(events)


@pytest.mark.parametrize(
    ("service_type", "action", "body"),
    [
        (ServiceType.CRON_JOB, "restart", None),  # a cron job is not restarted: run it
        (ServiceType.CRON_JOB, "scale", {"numInstances": 2}),  # one instance per run
        (ServiceType.BACKGROUND_WORKER, "scale", {"numInstances": 0}),
        (ServiceType.BACKGROUND_WORKER, "scale", {"numInstances": 101}),
        (ServiceType.BACKGROUND_WORKER, "scale", {"numInstances": "2"}),
        (ServiceType.BACKGROUND_WORKER, "scale", {}),
    ],
)
def test_restart_and_scale_refuse_bad_requests(
    client: Client, service_type: ServiceType, action: str, body: Any
) -> None:
    service_id = client.world.create(service_type).service.id
    with unchanged(client.world):
        reply = client.call("POST", f"/v1/services/{service_id}/{action}", body)
        error(reply, 400, render=("POST", f"/services/{{serviceId}}/{action}"))


def test_restart_and_deploy_need_a_running_service(client: Client) -> None:
    never_live = client.world.create().service.id
    with unchanged(client.world):
        error(client.call("POST", f"/v1/services/{never_live}/restart"), 409, "conflict")
    service_id, _ = live(client)
    client.call("POST", f"/v1/services/{service_id}/suspend")
    for action in ("restart", "deploys"):
        with unchanged(client.world):
            reply = client.call("POST", f"/v1/services/{service_id}/{action}")
            assert "suspended" in error(reply, 409, "conflict")


# -- env vars ---------------------------------------------------------------------------------


@pytest.mark.parametrize("service_type", TYPES)
def test_env_vars(client: Client, service_type: str) -> None:
    service_id = client.world.create(ServiceType(service_type)).service.id
    base = f"/v1/services/{service_id}/env-vars"
    body = [{"key": "A", "value": "1"}, {"key": "SECRET", "generateValue": True}]
    validate_request("PUT", "/services/{serviceId}/env-vars", body)
    put = ok(client.call("PUT", base, body), "PUT", "/services/{serviceId}/env-vars", 200)
    assert [e["envVar"]["key"] for e in put] == ["A", "SECRET"]
    generated = put[1]["envVar"]["value"]
    assert len(generated) >= 32
    listed = ok(client.call("GET", base), "GET", "/services/{serviceId}/env-vars", 200)
    assert [e["envVar"] for e in listed] == [e["envVar"] for e in put]

    one = ok(
        client.call("GET", f"{base}/A"), "GET", "/services/{serviceId}/env-vars/{envVarKey}", 200
    )
    assert one == {"key": "A", "value": "1"}
    set_one = client.call("PUT", f"{base}/B", {"value": "two"})
    assert ok(set_one, "PUT", "/services/{serviceId}/env-vars/{envVarKey}", 200) == {
        "key": "B",
        "value": "two",
    }
    reply = client.call("DELETE", f"{base}/A")
    ok(reply, "DELETE", "/services/{serviceId}/env-vars/{envVarKey}", 204)
    keys = [e["envVar"]["key"] for e in client.call("GET", base).json]
    assert keys == ["SECRET", "B"]
    error(client.call("GET", f"{base}/A"), 404, "not_found")

    replaced = client.call("PUT", base, [{"key": "ONLY", "value": "x"}]).json
    assert [e["envVar"]["key"] for e in replaced] == ["ONLY"]
    assert [d.status.value for d in deploys_of(client.world, service_id)] == ["created"]


def test_env_vars_walk_25_with_limit_10(client: Client) -> None:
    service_id = client.world.create().service.id
    keys = [f"KEY_{i:02}" for i in range(25)]
    client.call(
        "PUT", f"/v1/services/{service_id}/env-vars", [{"key": k, "value": k} for k in keys]
    )
    assert walk(client, f"/v1/services/{service_id}/env-vars", "envVar") == keys


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "", {"key": "A", "value": "1"}),  # not a list
        ("PUT", "", [{"key": "A"}]),  # neither value nor generateValue
        ("PUT", "", [{"key": "", "value": "1"}]),
        ("PUT", "", [{"key": "A", "value": 1}]),
        ("PUT", "", [{"key": "A", "generateValue": "yes"}]),
        ("PUT", "", [{"key": "PORT=1", "value": "1"}]),
        ("PUT", "/A", {}),
        ("PUT", "/A", {"value": ["x"]}),
    ],
)
def test_env_vars_refuse_bad_input(client: Client, method: str, suffix: str, body: Any) -> None:
    service_id = client.world.create().service.id
    services.put_env_vars(client.world.ports, service_id, [])
    with unchanged(client.world):
        reply = client.call(method, f"/v1/services/{service_id}/env-vars{suffix}", body)
        template = "/services/{serviceId}/env-vars" + ("/{envVarKey}" if suffix else "")
        error(reply, 400, render=(method, template))


def test_deleting_an_unset_env_var_is_404(client: Client) -> None:
    service_id = client.world.create().service.id
    with unchanged(client.world):
        error(client.call("DELETE", f"/v1/services/{service_id}/env-vars/NOPE"), 404, "not_found")


# -- deploys ----------------------------------------------------------------------------------


@pytest.mark.parametrize("service_type", TYPES)
def test_trigger_deploy_201_when_idle_202_when_busy(client: Client, service_type: str) -> None:
    service_id, _ = live(client, service_type)
    reply = deploy_now(client, service_id)
    deploy = ok(reply, "POST", "/services/{serviceId}/deploys", 201)
    assert (deploy["status"], deploy["trigger"]) == ("created", "api")
    assert deploy["image"] == {"ref": f"{IMAGE}:1.0"}  # resolved by the preflight job
    assert reply.headers["ratelimit-limit"] == "10"
    assert reply.headers["ratelimit-remaining"] == "9"
    queued = client.call("POST", f"/v1/services/{service_id}/deploys", {"imageUrl": f"{IMAGE}:2.0"})
    ok(queued, "POST", "/services/{serviceId}/deploys", 202)
    assert queued.text == ""
    assert queued.headers["ratelimit-remaining"] == "8"
    newest = deploys_of(client.world, service_id)[0]
    assert (newest.status.value, newest.image_ref) == ("queued", f"{IMAGE}:2.0")


def test_trigger_deploy_with_image_url_deploys_that_tag_once(client: Client) -> None:
    service_id, _ = live(client)
    body = {"imageUrl": f"https://{IMAGE}:2.0"}
    validate_request("POST", "/services/{serviceId}/deploys", body)
    deploy = ok(deploy_now(client, service_id, body), "POST", "/services/{serviceId}/deploys", 201)
    go_live(client.world, deploy["id"])
    got = client.call("GET", f"/v1/services/{service_id}/deploys/{deploy['id']}").json
    assert got["image"] == {"ref": f"{IMAGE}:2.0", "sha": SHA2}
    assert client.call("GET", f"/v1/services/{service_id}").json["imagePath"] == f"{IMAGE}:1.0"


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"imageUrl": "registry.example.com/other/repo:2.0"}, "repository"),
        ({"imageUrl": f"{IMAGE}@1.24"}, "after '@'"),
        ({"imageUrl": ""}, "imageUrl"),
        ({"commitId": "abc123"}, "commit"),
        ({"deployMode": "deploy_only", "imageUrl": f"{IMAGE}:2.0"}, "deployMode"),
        ({"clearCache": "sometimes"}, "clearCache"),
        ([], ""),
    ],
)
def test_trigger_deploy_refuses_bad_input(client: Client, body: Any, mentions: str) -> None:
    service_id, _ = live(client)
    with unchanged(client.world):
        message = error(
            client.call("POST", f"/v1/services/{service_id}/deploys", body),
            400,
            render=("POST", "/services/{serviceId}/deploys"),
        )
    assert mentions in message


def test_list_deploys_walks_25_with_limit_10(client: Client) -> None:
    service_id, first = live(client)
    made = [first]
    for _ in range(24):
        made.append(deploy_now(client, service_id).json["id"])
        go_live(client.world, made[-1])
    body = ok(
        client.call("GET", f"/v1/services/{service_id}/deploys"),
        "GET",
        "/services/{serviceId}/deploys",
        200,
    )
    assert len(body) == 20
    assert walk(client, f"/v1/services/{service_id}/deploys", "deploy") == made[::-1]


def test_retrieve_deploy_after_it_went_live(client: Client) -> None:
    service_id, deploy_id = live(client)
    deploy = ok(
        client.call("GET", f"/v1/services/{service_id}/deploys/{deploy_id}"),
        "GET",
        "/services/{serviceId}/deploys/{deployId}",
        200,
    )
    assert deploy["status"] == "live"
    assert deploy["image"] == {"ref": f"{IMAGE}:1.0", "sha": SHA1}
    assert {"startedAt", "finishedAt"} <= set(deploy)
    newer = deploy_now(client, service_id).json["id"]
    go_live(client.world, newer)
    old = client.call("GET", f"/v1/services/{service_id}/deploys/{deploy_id}").json
    assert old["status"] == "deactivated"


def test_cancel_deploy(client: Client) -> None:
    service_id, live_id = live(client)
    running = deploy_now(client, service_id).json["id"]
    client.world.drain()  # preflight done: update_in_progress
    canceled = ok(
        client.call("POST", f"/v1/services/{service_id}/deploys/{running}/cancel"),
        "POST",
        "/services/{serviceId}/deploys/{deployId}/cancel",
        200,
    )
    assert (canceled["id"], canceled["status"]) == (running, "canceled")
    deploy_now(client, service_id)
    queued = client.call("POST", f"/v1/services/{service_id}/deploys")  # 202: it waits
    queued_id = deploys_of(client.world, service_id)[0].id
    assert queued.status == 202
    reply = client.call("POST", f"/v1/services/{service_id}/deploys/{queued_id}/cancel")
    assert ok(reply, "POST", "/services/{serviceId}/deploys/{deployId}/cancel", 200)["status"] == (
        "canceled"
    )
    for finished in (running, live_id, queued_id):  # canceled or live: nothing to cancel
        with unchanged(client.world):
            message = error(
                client.call("POST", f"/v1/services/{service_id}/deploys/{finished}/cancel"),
                409,
                "conflict",
                render=("POST", "/services/{serviceId}/deploys/{deployId}/cancel"),
            )
        assert "cannot be canceled" in message


@pytest.mark.parametrize("service_type", TYPES)
def test_rollback_deploys_the_old_digest(client: Client, service_type: str) -> None:
    service_id, first = live(client, service_type)
    second = deploy_now(client, service_id, {"imageUrl": f"{IMAGE}:2.0"}).json["id"]
    go_live(client.world, second)
    body = {"deployId": first}
    validate_request("POST", "/services/{serviceId}/rollback", body)
    client.world.clock.advance(60)
    reply = client.call("POST", f"/v1/services/{service_id}/rollback", body)
    deploy = ok(reply, "POST", "/services/{serviceId}/rollback", 201)
    assert deploy["trigger"] == "rollback"
    assert deploy["image"]["ref"] == f"{IMAGE}@{SHA1}"
    assert reply.headers["ratelimit-limit"] == "10"
    go_live(client.world, deploy["id"])
    rolled = client.world.store.get_deploy(deploy["id"])
    assert rolled is not None and (rolled.image_sha, rolled.platform_digest) == (SHA1, AMD1)


def test_rollback_refuses_what_cannot_be_rolled_back_to(client: Client) -> None:
    service_id, _ = live(client)
    failed = deploy_now(client, service_id, {"imageUrl": f"{IMAGE}:3.0"}).json["id"]
    client.world.drain()  # not in the registry: the preflight fails
    other_service = client.world.create(name="other").service.id
    other_deploy = deploys_of(client.world, other_service)[0].id
    for deploy_id, status in ((failed, 400), (other_deploy, 404), ("dep-nope", 404)):
        with unchanged(client.world):
            error(
                client.call("POST", f"/v1/services/{service_id}/rollback", {"deployId": deploy_id}),
                status,
                render=("POST", "/services/{serviceId}/rollback"),
            )
    for body in ({}, {"deployId": ""}, {"deployId": 7}, None):
        with unchanged(client.world):
            error(client.call("POST", f"/v1/services/{service_id}/rollback", body), 400)


def test_eleventh_deploy_in_a_minute_is_429(client: Client) -> None:
    service_id, _ = live(client)
    client.world.clock.advance(60)
    for i in range(10):
        reply = client.call("POST", f"/v1/services/{service_id}/deploys")
        assert reply.status in (201, 202), reply.text
        assert reply.headers["ratelimit-remaining"] == str(9 - i)
    with unchanged(client.world):
        reply = client.call("POST", f"/v1/services/{service_id}/deploys")
        message = error(
            reply, 429, "rate_limited", render=("POST", "/services/{serviceId}/deploys")
        )
    assert "10" in message
    assert reply.headers["ratelimit-limit"] == "10"
    assert reply.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(reply.headers["ratelimit-reset"]) <= 60
    assert reply.headers["retry-after"] == reply.headers["ratelimit-reset"]
    # hooks share the limit
    key = _hook_key(client, service_id)
    hook = client.call("POST", f"/deploy/{service_id}", key=None, query={"key": key})
    error(hook, 429, "rate_limited")
    client.world.clock.advance(60)
    assert client.call("POST", f"/v1/services/{service_id}/deploys").status in (201, 202)


def test_pre_deploy_logs(client: Client) -> None:
    """Extension: ``GET .../deploys/{id}/logs`` -> ``{deployId, preDeployOutput}``."""
    service_id, deploy_id = live(client)
    plain = client.call("GET", f"/v1/services/{service_id}/deploys/{deploy_id}/logs")
    assert plain.status == 200 and plain.json == {"deployId": deploy_id, "preDeployOutput": None}
    kept = b"migrating...\ndone\n"

    def read(subject: str, offset: int, limit: int | None) -> LogPage | None:
        end = len(kept) if limit is None else offset + limit
        return LogPage(kept[offset:end].decode(), len(kept)) if subject == deploy_id else None

    api = Api(client.world, build_resolver(ApiDeps(client.world.ports, BASE, read_logs=read)))
    path = f"/v1/services/{service_id}/deploys/{deploy_id}/logs"
    with_logs = api.call("GET", path)
    assert with_logs.json == {
        "deployId": deploy_id,
        "preDeployOutput": "migrating...\ndone\n",
        "offset": 0,
        "nextOffset": None,
        "size": 18,
    }
    first = api.call("GET", path, query={"limit": "10"}).json
    assert (first["preDeployOutput"], first["nextOffset"]) == ("migrating.", 10)
    rest = api.call("GET", path, query={"offset": "10", "limit": "10"}).json
    assert (rest["preDeployOutput"], rest["nextOffset"], rest["size"]) == ("..\ndone\n", None, 18)
    error(api.call("GET", path, query={"offset": "-1"}), 400)
    error(client.call("GET", f"/v1/services/{service_id}/deploys/dep-nope/logs"), 404)


# -- events -----------------------------------------------------------------------------------


@pytest.mark.parametrize("service_type", TYPES)
def test_events_match_render_per_type(client: Client, service_type: str) -> None:
    """Every event type a service of this type can produce, listed and retrieved, in Render's
    ``serviceEvent`` shape for its type (the details are checked per type)."""
    world = client.world
    service_id, _ = live(client, service_type)
    pull_failed = deploy_now(client, service_id, {"imageUrl": f"{IMAGE}:3.0"}).json["id"]
    world.drain()  # image_pull_failed, deploy_ended failed
    failed = world.store.get_deploy(pull_failed)
    assert failed is not None and failed.status is DeployStatus.UPDATE_FAILED
    expected = {"deploy_started", "deploy_ended", "image_pull_failed"}
    expected |= {"service_suspended", "service_resumed"}
    if service_type == "cron_job":
        client.call("POST", f"/v1/services/{service_id}/suspend")
        client.call("POST", f"/v1/services/{service_id}/resume")
        go_live(world, deploys_of(world, service_id)[0].id)
        run = client.call("POST", f"/v1/cron-jobs/{service_id}/runs").json
        cron.run_ended(world.ports, run["id"], RunStatus.UNSUCCESSFUL, 3)
        client.call("POST", f"/v1/cron-jobs/{service_id}/runs")
        client.call("DELETE", f"/v1/cron-jobs/{service_id}/runs")
        expected |= {"cron_job_run_started", "cron_job_run_ended"}
    else:
        oom = InstanceFailed(OomKilled(512))
        rollout_failed = deploy_now(client, service_id, {"imageUrl": f"{IMAGE}:2.0"}).json["id"]
        world.drain()
        deploys.handle_signal(world.ports, rollout_failed, oom)  # server_failed, deploy_ended
        client.call("POST", f"/v1/services/{service_id}/suspend")
        client.call("POST", f"/v1/services/{service_id}/resume")
        go_live(world, deploys_of(world, service_id)[0].id)
        client.call("POST", f"/v1/services/{service_id}/scale", {"numInstances": 5})
        client.call("POST", f"/v1/services/{service_id}/restart")
        instances.instance_failed(world.ports, service_id, "task-1", NonZeroExit(137))
        instances.instance_available(world.ports, service_id)
        instances.instance_pull_failed(
            world.ports, service_id, f"{IMAGE}@{SHA1}", PullFailureReason.UNAUTHORIZED, "denied"
        )
        expected |= {"instance_count_changed", "server_restarted", "server_available"}
        expected |= {"server_failed"}
        if DETAILS[service_type].get("preDeployCommand"):
            expected |= {"pre_deploy_started", "pre_deploy_ended"}
    listed = ok(
        client.call("GET", f"/v1/services/{service_id}/events", query={"limit": "100"}),
        "GET",
        "/services/{serviceId}/events",
        200,
    )
    assert {item["event"]["type"] for item in listed} == expected
    for item in listed:
        event = ok(
            client.call("GET", f"/v1/events/{item['event']['id']}"),
            "GET",
            "/events/{eventId}",
            200,
        )
        assert event == item["event"]


def test_events_walk_25_with_limit_10(client: Client) -> None:
    service_id, _ = live(client)
    count = 1
    while len(events := client.world.store.list_events(service_id, 100).items) < 25:
        count += 1  # an instance_count_changed event each
        client.call("POST", f"/v1/services/{service_id}/scale", {"numInstances": count})
    assert walk(client, f"/v1/services/{service_id}/events", "event") == [e.id for e in events]


# -- cron job runs ----------------------------------------------------------------------------


def test_cron_job_runs(client: Client) -> None:
    cron_id, _ = live(client, "cron_job")
    run = ok(
        client.call("POST", f"/v1/cron-jobs/{cron_id}/runs"),
        "POST",
        "/cron-jobs/{cronJobId}/runs",
        200,
    )
    assert (run["status"], run["triggeredBy"]) == ("pending", "manual")
    second = client.call("POST", f"/v1/cron-jobs/{cron_id}/runs").json  # replaces the first
    reply = client.call("DELETE", f"/v1/cron-jobs/{cron_id}/runs")
    ok(reply, "DELETE", "/cron-jobs/{cronJobId}/runs", 204)
    # extension: GET lists runs, newest first, wrapped the Render way
    runs = client.call("GET", f"/v1/cron-jobs/{cron_id}/runs")
    assert runs.status == 200
    assert [(r["cronJobRun"]["id"], r["cronJobRun"]["status"]) for r in runs.json] == [
        (second["id"], "canceled"),
        (run["id"], "canceled"),
    ]
    for item in runs.json:
        assert set(item) == {"cronJobRun", "cursor"}
        validate_schema("cronJobRun", item["cronJobRun"])
    with unchanged(client.world):
        error(client.call("DELETE", f"/v1/cron-jobs/{cron_id}/runs"), 409, "conflict")


def test_cron_runs_refuse_what_cannot_run(client: Client) -> None:
    web_id, _ = live(client)
    not_live = client.world.create(ServiceType.CRON_JOB).service.id
    with unchanged(client.world):
        error(client.call("POST", f"/v1/cron-jobs/{web_id}/runs"), 404, "not_found")
        error(client.call("GET", f"/v1/cron-jobs/{web_id}/runs"), 404, "not_found")
        error(client.call("POST", f"/v1/cron-jobs/{not_live}/runs"), 409, "conflict")


def test_cron_runs_walk_25_with_limit_10(client: Client) -> None:
    cron_id, _ = live(client, "cron_job")
    made = [client.call("POST", f"/v1/cron-jobs/{cron_id}/runs").json["id"] for _ in range(25)]
    assert walk(client, f"/v1/cron-jobs/{cron_id}/runs", "cronJobRun") == made[::-1]


# -- one-off jobs and instances ---------------------------------------------------------------


def test_one_off_jobs(client: Client) -> None:
    service_id, _ = live(client, "background_worker")
    path = f"/v1/services/{service_id}/jobs"
    job = ok(
        client.call("POST", path, {"startCommand": "sh -c 'exit 3'", "planId": "standard"}),
        "POST",
        "/services/{serviceId}/jobs",
        201,
    )
    assert (job["serviceId"], job["status"], job["planId"]) == (service_id, "pending", "standard")
    client.world.drain()
    got = ok(
        client.call("GET", f"{path}/{job['id']}"), "GET", "/services/{serviceId}/jobs/{jobId}", 200
    )
    assert got["status"] == "running" and "startedAt" in got
    second = client.call("POST", path, {"startCommand": "sleep 60"}).json
    canceled = ok(
        client.call("POST", f"{path}/{second['id']}/cancel"),
        "POST",
        "/services/{serviceId}/jobs/{jobId}/cancel",
        200,
    )
    assert canceled["status"] == "canceled" and "finishedAt" in canceled
    listed = ok(client.call("GET", path), "GET", "/services/{serviceId}/jobs", 200)
    assert [item["job"]["id"] for item in listed] == [second["id"], job["id"]]
    only = client.call("GET", path, query={"status": "canceled,succeeded"})
    assert [item["job"]["id"] for item in ok(only, "GET", "/services/{serviceId}/jobs", 200)] == [
        second["id"]
    ]


def test_jobs_refuse_bad_requests(client: Client) -> None:
    service_id, _ = live(client)
    not_live = client.world.create(ServiceType.BACKGROUND_WORKER, name="idle").service.id
    render = ("POST", "/services/{serviceId}/jobs")
    with unchanged(client.world):
        for sid, body in (
            (service_id, {}),
            (service_id, {"startCommand": ""}),
            (service_id, {"startCommand": "true", "planId": "gigantic"}),
            (not_live, {"startCommand": "true"}),
        ):
            error(client.call("POST", f"/v1/services/{sid}/jobs", body), 400, render=render)
        reply = client.call("GET", f"/v1/services/{service_id}/jobs", query={"status": "done"})
        error(reply, 400, render=("GET", "/services/{serviceId}/jobs"))


def test_jobs_walk_25_with_limit_10(client: Client) -> None:
    service_id, _ = live(client)
    path = f"/v1/services/{service_id}/jobs"
    made = [client.call("POST", path, {"startCommand": "true"}).json["id"] for _ in range(25)]
    assert walk(client, path, "job") == made[::-1]


def test_instances(client: Client) -> None:
    service_id, _ = live(client)
    started = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    client.world.runtime.instances[service_id] = [Instance(f"{service_id}-a1b2c", started)]
    reply = client.call("GET", f"/v1/services/{service_id}/instances")
    body = ok(reply, "GET", "/services/{serviceId}/instances", 200)
    assert body == [{"id": f"{service_id}-a1b2c", "createdAt": "2026-12-01T08:00:00Z"}]


def test_credentials_owners_and_webhooks_take_renders_filters(client: Client) -> None:
    def add(name: str, registry: str, username: str) -> str:
        body = {**CREDENTIAL, "name": name, "registry": registry, "username": username}
        created = client.call("POST", "/v1/registrycredentials", body)
        assert created.status == 200, created.text
        return str(created.json["id"])

    ghcr = add("ghcr", "GITHUB", "octo")
    hub = add("hub", "DOCKER", "whale")
    path, render = "/v1/registrycredentials", ("GET", "/registrycredentials")

    def ids(**query: str) -> list[str]:
        return [c["id"] for c in ok(client.call("GET", path, query=query), *render, 200)]

    assert ids(type="GITHUB") == [ghcr]
    assert ids(name="hub,nope") == [hub]
    assert ids(username="octo", type="DOCKER") == []
    assert ids(createdBefore="2000-01-01T00:00:00Z") == []
    assert ids(updatedAfter="2000-01-01T00:00:00Z") == [ghcr, hub]
    assert ids(ownerId=OTHER_OWNER) == []
    assert ids(ownerId=OWNER) == [ghcr, hub]
    error(client.call("GET", path, query={"type": "QUAY"}), 400, render=render)

    owners = client.call("GET", "/v1/owners", query={"email": "nobody@example.com"})
    assert ok(owners, "GET", "/owners", 200) == []
    (me,) = client.call("GET", "/v1/owners").json
    named = client.call("GET", "/v1/owners", query={"name": me["owner"]["name"]})
    assert [o["owner"]["id"] for o in ok(named, "GET", "/owners", 200)] == [OWNER]

    hook = client.call("POST", "/v1/webhooks", WEBHOOK)
    assert hook.status in (200, 201), hook.text
    listed = client.call("GET", "/v1/webhooks", query={"ownerId": OWNER})
    assert len(ok(listed, "GET", "/webhooks", 200)) == 1
    assert client.call("GET", "/v1/webhooks", query={"ownerId": OTHER_OWNER}).json == []


# -- metrics ----------------------------------------------------------------------------------


def _render_path_query(path: str) -> set[str]:
    """Render's query parameter names of ``GET path``, path-level ones included (the metrics
    paths declare theirs there)."""
    document = render_document()

    item = document["paths"][path]
    names = set()
    for parameter in [*item.get("parameters", []), *item["get"].get("parameters", [])]:
        while "$ref" in parameter:
            target: Any = document
            for part in parameter["$ref"].removeprefix("#/").split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target[int(part)] if isinstance(target, list) else target[part]
            parameter = target
        if parameter["in"] == "query":
            names.add(parameter["name"])
    return names


@pytest.mark.parametrize("metric", [m.value for m in Metric])
def test_metrics_take_renders_parameters_and_answer_its_series(
    client: Client, other: Workspace, metric: str
) -> None:
    assert set(_ours(f"/metrics/{metric}")) == _render_path_query(f"/metrics/{metric}")
    service_id, _ = live(client)
    path = f"/v1/metrics/{metric}"
    query = {"resource": service_id, "resolutionSeconds": "60"}
    body = ok(client.call("GET", path, query=query), "GET", f"/metrics/{metric}", 200)
    if metric.endswith("-limit"):  # the plan's, at every bucket of the last hour
        (series,) = body
        assert series["labels"] == [{"field": "resource", "value": service_id}]
        assert len(series["values"]) in (60, 61)
    render = ("GET", f"/metrics/{metric}")
    with unchanged(client.world):
        for bad in (
            {},  # no resource
            {"resource": other.ids["serviceId"]},  # another workspace's
            {**query, "resolutionSeconds": "10"},
            {**query, "startTime": "2026-01-02T00:00:00Z", "endTime": "2026-01-01T00:00:00Z"},
            {**query, "startTime": "2020-01-01T00:00:00Z", "endTime": "2026-01-01T00:00:00Z"},
        ):
            error(client.call("GET", path, query=bad), 400, render=render)
    if metric == "cpu":
        bad = {**query, "aggregationMethod": "SUM"}
        error(client.call("GET", path, query=bad), 400, render=render)


# -- registry credentials ---------------------------------------------------------------------


CREDENTIAL = {
    "registry": "AWS_ECR",
    "name": "ecr",
    "username": "123456789012",
    "authToken": TOKEN,
    "ownerId": OWNER,
}


def test_registry_credentials_lifecycle(client: Client) -> None:
    validate_request("POST", "/registrycredentials", CREDENTIAL)
    created = ok(
        client.call("POST", "/v1/registrycredentials", CREDENTIAL),
        "POST",
        "/registrycredentials",
        200,
    )
    assert {k: created[k] for k in ("name", "registry", "username")} == {
        "name": "ecr",
        "registry": "AWS_ECR",
        "username": "123456789012",
    }
    assert "authToken" not in created
    path = f"/v1/registrycredentials/{created['id']}"
    got = ok(client.call("GET", path), "GET", "/registrycredentials/{registryCredentialId}", 200)
    assert got == created
    listed = ok(client.call("GET", "/v1/registrycredentials"), "GET", "/registrycredentials", 200)
    assert listed == [created]  # Render: a bare array

    rotated = {
        "registry": "AWS_ECR",
        "name": "ecr-2",
        "username": "123456789012",
        "authToken": TOKEN + "2",
    }
    validate_request("PATCH", "/registrycredentials/{registryCredentialId}", rotated)
    patched = ok(
        client.call("PATCH", path, rotated),
        "PATCH",
        "/registrycredentials/{registryCredentialId}",
        200,
    )
    assert patched["name"] == "ecr-2"
    stored = client.world.ports.secrets.get(created["id"])
    assert stored is not None and stored.get_secret_value() == TOKEN + "2"

    assert TOKEN not in repr(snapshot(client.world)["rows"])  # the token lives in secrets only
    reply = client.call("DELETE", path)
    ok(reply, "DELETE", "/registrycredentials/{registryCredentialId}", 204)
    error(client.call("GET", path), 404, "not_found")
    assert client.world.ports.secrets.get(created["id"]) is None


def test_registry_credentials_list_limit(client: Client) -> None:
    """Render lists credentials as a bare array without cursors: ``limit`` bounds it."""
    for i in range(25):
        client.call("POST", "/v1/registrycredentials", {**CREDENTIAL, "name": f"c{i}"})
    assert len(client.call("GET", "/v1/registrycredentials").json) == 20
    assert len(client.call("GET", "/v1/registrycredentials", query={"limit": "10"}).json) == 10
    everything = client.call("GET", "/v1/registrycredentials", query={"limit": "100"}).json
    assert sorted(c["name"] for c in everything) == sorted(f"c{i}" for i in range(25))


def test_deleting_a_credential_in_use_is_409(client: Client) -> None:
    credential_id = client.world.credential()
    service = client.world.create(name="uses-it", credential_id=credential_id).service
    with unchanged(client.world):
        message = error(
            client.call("DELETE", f"/v1/registrycredentials/{credential_id}"),
            409,
            "conflict",
            render=("DELETE", "/registrycredentials/{registryCredentialId}"),
        )
    assert service.id in message and "uses-it" in message


@pytest.mark.parametrize(
    ("method", "body", "mentions"),
    [
        ("POST", {**CREDENTIAL, "registry": "QUAY"}, "registry"),
        ("POST", {k: v for k, v in CREDENTIAL.items() if k != "authToken"}, "authToken"),
        ("POST", {**CREDENTIAL, "authToken": ""}, "authToken"),
        ("POST", {**CREDENTIAL, "username": 7}, "username"),
        ("POST", {**CREDENTIAL, "name": "   "}, "name"),
        ("PATCH", {"name": "only-a-name"}, "authToken"),
        ("PATCH", {**CREDENTIAL, "registry": "docker"}, "registry"),
    ],
)
def test_registry_credentials_refuse_bad_input(
    client: Client, method: str, body: Any, mentions: str
) -> None:
    credential_id = client.world.credential()
    path = "/v1/registrycredentials" + (f"/{credential_id}" if method == "PATCH" else "")
    template = "/registrycredentials" + ("/{registryCredentialId}" if method == "PATCH" else "")
    with unchanged(client.world):
        message = error(client.call(method, path, body), 400, render=(method, template))
    assert mentions in message
    assert TOKEN not in message


# -- images/verify (extension) ----------------------------------------------------------------


def test_image_verify(client: Client) -> None:
    good = client.call("POST", "/v1/images/verify", {"imageUrl": f"https://{IMAGE}:2.0"})
    assert good.status == 200
    assert good.json == {
        "imageUrl": f"https://{IMAGE}:2.0",
        "ok": True,
        "reference": f"{IMAGE}:2.0",
        "digest": SHA2,
        "platformDigest": AMD2,
        "platform": "linux/amd64",
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "sizeBytes": 1000,
    }
    for url, problem in ((f"{IMAGE}:9.9", "not_found"), ("UPPER::case", "invalid_reference")):
        reply = client.call("POST", "/v1/images/verify", {"imageUrl": url})
        assert reply.status == 200
        body = reply.json
        assert {k: body[k] for k in ("imageUrl", "ok", "problem")} == {
            "imageUrl": url,
            "ok": False,
            "problem": problem,
        }
        assert body["message"]
    client.world.registry.results[f"{IMAGE}:arm"] = ImagePullError(
        PullFailureReason.WRONG_PLATFORM, "image has linux/arm64 only"
    )
    arm = client.call("POST", "/v1/images/verify", {"imageUrl": f"{IMAGE}:arm"}).json
    assert (arm["ok"], arm["problem"]) == (False, "wrong_platform")


def test_image_verify_with_a_credential(client: Client, other: Workspace) -> None:
    mine = client.world.credential()
    reply = client.call(
        "POST", "/v1/images/verify", {"imageUrl": f"{IMAGE}:1.0", "registryCredentialId": mine}
    )
    assert reply.json["ok"] is True
    assert ("inspect", f"{IMAGE}:1.0", "deployer") in client.world.registry.calls
    theirs = other.ids["registryCredentialId"]
    with unchanged(client.world):
        reply = client.call(
            "POST",
            "/v1/images/verify",
            {"imageUrl": f"{IMAGE}:1.0", "registryCredentialId": theirs},
        )
        error(reply, 404, "not_found")
        error(client.call("POST", "/v1/images/verify", {}), 400, "invalid_input")
        error(client.call("POST", "/v1/images/verify", {"imageUrl": 3}), 400, "invalid_input")


# -- deploy hooks (extension routes, and the hook itself) -------------------------------------


def _hook_key(client: Client, service_id: str) -> str:
    reply = client.call("POST", f"/v1/services/{service_id}/deploy-hook/regenerate")
    assert reply.status == 200, reply.text
    url: str = reply.json["url"]
    return url.split("key=", 1)[1]


def test_deploy_hook_info_and_regenerate(client: Client) -> None:
    created = create(client, "web_service")
    service_id, old_key = created["service"]["id"], created["deployHookUrl"].split("key=")[1]
    info = client.call("GET", f"/v1/services/{service_id}/deploy-hook")
    assert info.status == 200
    assert info.json == {
        "serviceId": service_id,
        "url": f"{BASE}/deploy/{service_id}",
        "key": None,
        "regenerate": f"{BASE}/v1/services/{service_id}/deploy-hook/regenerate",
    }
    regenerated = client.call("POST", f"/v1/services/{service_id}/deploy-hook/regenerate")
    assert regenerated.status == 200
    assert set(regenerated.json) == {"serviceId", "url"}
    new_key = regenerated.json["url"].split("key=")[1]
    assert regenerated.json["url"] == f"{BASE}/deploy/{service_id}?key={new_key}"
    assert len(new_key) >= 43 and new_key != old_key
    with unchanged(client.world):
        error(client.http("GET", f"/deploy/{service_id}", query=f"key={old_key}"), 404)
    assert client.http("GET", f"/deploy/{service_id}", query=f"key={new_key}").status == 200


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("service_type", TYPES)
def test_deploy_hook_starts_a_deploy(client: Client, method: str, service_type: str) -> None:
    created = create(client, service_type)
    service_id, url = created["service"]["id"], created["deployHookUrl"]
    go_live(client.world, created["deployId"])
    query = url.split("?", 1)[1]
    reply = client.http(method, f"/deploy/{service_id}", query=query)  # no Authorization
    assert reply.status == 200, reply.text
    assert set(reply.json) == {"deploy"} and set(reply.json["deploy"]) == {"id"}
    deploy = client.world.store.get_deploy(reply.json["deploy"]["id"])
    assert deploy is not None
    assert (deploy.trigger.value, deploy.image_ref) == ("deploy_hook", f"{IMAGE}:1.0")
    assert reply.headers["ratelimit-remaining"] == "9"
    # imgURL: another tag, this once (URL-encoded as Render documents it)
    again = client.http(
        method,
        f"/deploy/{service_id}",
        query=f"{query}&imgURL=registry.example.com%2Fteam%2Fweb%3A2.0",
    )
    assert again.status == 200, again.text
    queued = client.world.store.get_deploy(again.json["deploy"]["id"])
    assert queued is not None and queued.image_ref == f"{IMAGE}:2.0"
    service = client.world.store.get_service(service_id)
    assert service is not None and service.image_path == f"{IMAGE}:1.0"


def test_deploy_hook_404s_reveal_nothing(client: Client, other: Workspace) -> None:
    created = create(client, "web_service")
    service_id, key = created["service"]["id"], created["deployHookUrl"].split("key=")[1]
    theirs = other.ids["serviceId"]
    attempts = {
        "wrong key": (service_id, "key=" + "A" * 43),
        "no key": (service_id, ""),
        "empty key": (service_id, "key="),
        "other service's key": (service_id, f"key={other.hook_keys[theirs]}"),
        "my key on their service": (theirs, f"key={key}"),
        "unknown service": ("srv-aaaaaaaaaaaaaaaaaaaa", f"key={key}"),
        "non-ascii key": (service_id, "key=%C3%A9t%C3%A9"),
    }
    messages = set()
    with unchanged(client.world):
        for service, query in attempts.values():
            for method in ("GET", "POST"):
                reply = client.http(method, f"/deploy/{service}", query=query)
                messages.add(error(reply, 404, "not_found"))
    assert len(messages) == 1  # one answer: which part was wrong is not revealed


@pytest.mark.parametrize(
    ("img_url", "mentions"),
    [
        ("registry.example.com%2Fother%2Frepo%3A2.0", "repository"),
        ("docker.io%2Flibrary%2Fweb%3A2.0", "repository"),
        ("registry.example.com%2Fteam%2Fweb%401.24", "after '@'"),
        ("", "empty"),
        ("%3A%3A%3A", "not an image reference"),
    ],
)
def test_deploy_hook_refuses_a_mismatched_img_url(
    client: Client, img_url: str, mentions: str
) -> None:
    created = create(client, "web_service")
    service_id, key = created["service"]["id"], created["deployHookUrl"].split("key=")[1]
    with unchanged(client.world):
        reply = client.http("GET", f"/deploy/{service_id}", query=f"key={key}&imgURL={img_url}")
        message = error(reply, 404, "not_found")
    assert mentions in message


def test_deploy_hook_explains_renders_nginx_at_example(client: Client) -> None:
    """Render's docs show ``imgURL=docker.io%2Flibrary%2Fnginx%401.24``: a tag after '@'."""
    client.world.registry.add(f"{NGINX}:1.23", SHA1, AMD1)
    client.world.registry.add(f"{NGINX}:1.24", SHA2, AMD2)
    created = create(client, "web_service", image_path="nginx:1.23")
    service_id, key = created["service"]["id"], created["deployHookUrl"].split("key=")[1]
    with unchanged(client.world):
        reply = client.http(
            "POST",
            f"/deploy/{service_id}",
            query=f"key={key}&imgURL=docker.io%2Flibrary%2Fnginx%401.24",
        )
        message = error(reply, 404, "not_found")
    assert "'1.24' after '@'" in message
    assert f"{NGINX}:1.24" in message  # what to write instead
    fixed = client.http(
        "POST",
        f"/deploy/{service_id}",
        query=f"key={key}&imgURL=docker.io%2Flibrary%2Fnginx%3A1.24",
    )
    assert fixed.status == 200, fixed.text


# -- notification settings and webhooks -------------------------------------------------------


def test_workspace_notification_settings(client: Client) -> None:
    path, template = (
        f"/v1/notification-settings/owners/{OWNER}",
        "/notification-settings/owners/{ownerId}",
    )
    settings = ok(client.call("GET", path), "GET", template, 200)
    assert (settings["ownerId"], settings["notificationsToSend"]) == (OWNER, "failure")
    body = {"notificationsToSend": "all", "emailEnabled": True}
    validate_request("PATCH", template, body)
    changed = ok(client.call("PATCH", path, body), "PATCH", template, 200)
    assert changed["notificationsToSend"] == "all"
    assert client.call("GET", path).json == changed
    for bad in ({"notificationsToSend": "default"}, {"notificationsToSend": "some"}, ["all"]):
        with unchanged(client.world):
            error(client.call("PATCH", path, bad), 400, render=("PATCH", template))


@pytest.mark.parametrize("service_type", TYPES)
def test_service_notification_override(client: Client, service_type: str) -> None:
    service_id = client.world.create(ServiceType(service_type)).service.id
    path = f"/v1/notification-settings/overrides/services/{service_id}"
    template = "/notification-settings/overrides/services/{serviceId}"
    override = ok(client.call("GET", path), "GET", template, 200)
    assert (override["serviceId"], override["notificationsToSend"]) == (service_id, "default")
    body = {"notificationsToSend": "none", "previewNotificationsEnabled": "false"}
    validate_request("PATCH", template, body)
    assert ok(client.call("PATCH", path, body), "PATCH", template, 200)["notificationsToSend"] == (
        "none"
    )
    with unchanged(client.world):
        error(client.call("PATCH", path, {"notificationsToSend": "loud"}), 400)


WEBHOOK = {
    "ownerId": OWNER,
    "name": "deploys",
    "url": "https://hooks.example.com/render",
    "enabled": True,
    "eventFilter": ["deploy_ended", "image_pull_failed"],
}


def test_webhooks_lifecycle(client: Client) -> None:
    validate_request("POST", "/webhooks", WEBHOOK)
    created = ok(client.call("POST", "/v1/webhooks", WEBHOOK), "POST", "/webhooks", 201)
    assert {k: created[k] for k in ("name", "url", "enabled", "eventFilter")} == {
        k: WEBHOOK[k] for k in ("name", "url", "enabled", "eventFilter")
    }
    assert created["secret"].startswith("whsec_")  # shown to its owner, as Render does
    path = f"/v1/webhooks/{created['id']}"
    assert ok(client.call("GET", path), "GET", "/webhooks/{webhookId}", 200) == created
    listed = ok(client.call("GET", "/v1/webhooks"), "GET", "/webhooks", 200)
    assert [item["webhook"] for item in listed] == [created]
    patch = {"enabled": False, "eventFilter": []}
    validate_request("PATCH", "/webhooks/{webhookId}", patch)
    patched = ok(client.call("PATCH", path, patch), "PATCH", "/webhooks/{webhookId}", 200)
    assert (patched["enabled"], patched["eventFilter"], patched["secret"]) == (
        False,
        [],
        created["secret"],
    )
    ok(client.call("DELETE", path), "DELETE", "/webhooks/{webhookId}", 204)
    error(client.call("GET", path), 404, "not_found", render=("GET", "/webhooks/{webhookId}"))


def test_webhooks_walk_25_with_limit_10(client: Client) -> None:
    made = [
        client.call("POST", "/v1/webhooks", {**WEBHOOK, "name": f"w{i}"}).json["id"]
        for i in range(25)
    ]
    assert walk(client, "/v1/webhooks", "webhook") == made  # oldest first


def test_webhook_delivery_log_walks_25_with_limit_10(client: Client) -> None:
    webhook_id = client.call("POST", "/v1/webhooks", WEBHOOK).json["id"]
    start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    deliveries = [
        WebhookDelivery(
            id=new_id("whe"),
            webhook_id=webhook_id,
            event_id=new_id("evt"),
            event_type="deploy_ended",
            sent_at=start + timedelta(seconds=i),
            status_code=None if i % 5 == 0 else 200,
            attempts=1,
            delivered=i % 5 != 0,
            error="connection refused" if i % 5 == 0 else "",
        )
        for i in range(25)
    ]
    client.world.store.write(put=deliveries)
    path = f"/v1/webhooks/{webhook_id}/events"
    ok(client.call("GET", path, query={"limit": "100"}), "GET", "/webhooks/{webhookId}/events", 200)
    assert walk(client, path, "webhookEvent") == [d.id for d in reversed(deliveries)]


@pytest.mark.parametrize(
    ("method", "body", "mentions"),
    [
        ("POST", {**WEBHOOK, "eventFilter": ["deploy_exploded"]}, "deploy_exploded"),
        ("POST", {**WEBHOOK, "url": "ftp://hooks.example.com/x"}, "url"),
        ("POST", {**WEBHOOK, "url": "https://user:pw@hooks.example.com/x"}, "url"),
        ("POST", {**WEBHOOK, "enabled": "yes"}, "enabled"),
        ("POST", {k: v for k, v in WEBHOOK.items() if k != "eventFilter"}, "eventFilter"),
        ("PATCH", {"url": "not a url"}, "url"),
        ("PATCH", {"name": ""}, "name"),
    ],
)
def test_webhooks_refuse_bad_input(client: Client, method: str, body: Any, mentions: str) -> None:
    webhook_id = client.call("POST", "/v1/webhooks", WEBHOOK).json["id"]
    path, template = "/v1/webhooks", "/webhooks"
    if method == "PATCH":
        path, template = f"{path}/{webhook_id}", "/webhooks/{webhookId}"
    with unchanged(client.world):
        message = error(client.call(method, path, body), 400, render=(method, template))
    assert mentions in message


# -- authentication ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One route: ``template`` uses OpenAPI placeholders; ``body`` is a valid request body."""

    method: str
    template: str
    body: Any = None

    def path(self, ids: Mapping[str, str]) -> str:
        return self.template.format_map(ids)

    extension: bool = False  # imagedeploy's own route, not in Render's document

    @property
    def render(self) -> tuple[str, str] | None:
        """``(method, template)`` in Render's document; None for an extension."""
        return None if self.extension else (self.method, self.template.removeprefix("/v1"))


OPERATIONS = [
    Op("GET", "/v1/owners"),
    Op("GET", "/v1/owners/{ownerId}"),
    Op("GET", "/v1/services"),
    Op("POST", "/v1/services", VALID_WEB),
    Op("GET", "/v1/services/{serviceId}"),
    Op("PATCH", "/v1/services/{serviceId}", {"name": "x"}),
    Op("DELETE", "/v1/services/{serviceId}"),
    Op("GET", "/v1/services/{serviceId}/deploys"),
    Op("POST", "/v1/services/{serviceId}/deploys", {}),
    Op("GET", "/v1/services/{serviceId}/deploys/{deployId}"),
    Op("POST", "/v1/services/{serviceId}/deploys/{deployId}/cancel"),
    Op("GET", "/v1/services/{serviceId}/deploys/{deployId}/logs", extension=True),
    Op("POST", "/v1/services/{serviceId}/rollback", {"deployId": "dep-x"}),
    Op("POST", "/v1/services/{serviceId}/suspend"),
    Op("POST", "/v1/services/{serviceId}/resume"),
    Op("POST", "/v1/services/{serviceId}/restart"),
    Op("POST", "/v1/services/{serviceId}/scale", {"numInstances": 2}),
    Op("GET", "/v1/services/{serviceId}/env-vars"),
    Op("PUT", "/v1/services/{serviceId}/env-vars", [{"key": "K", "value": "v"}]),
    Op("GET", "/v1/services/{serviceId}/env-vars/{envVarKey}"),
    Op("PUT", "/v1/services/{serviceId}/env-vars/{envVarKey}", {"value": "v"}),
    Op("DELETE", "/v1/services/{serviceId}/env-vars/{envVarKey}"),
    Op("GET", "/v1/services/{serviceId}/events"),
    Op("POST", "/v1/services/{serviceId}/jobs", {"startCommand": "echo hi"}),
    Op("GET", "/v1/services/{serviceId}/jobs"),
    Op("GET", "/v1/services/{serviceId}/jobs/{jobId}"),
    Op("POST", "/v1/services/{serviceId}/jobs/{jobId}/cancel"),
    Op("GET", "/v1/services/{serviceId}/instances"),
    *(Op("GET", f"/v1/metrics/{m.value}") for m in Metric),
    Op("GET", "/v1/events/{eventId}"),
    Op("GET", "/v1/services/{serviceId}/deploy-hook", extension=True),
    Op("POST", "/v1/services/{serviceId}/deploy-hook/regenerate", extension=True),
    Op("GET", "/v1/cron-jobs/{cronJobId}/runs", extension=True),
    Op("POST", "/v1/cron-jobs/{cronJobId}/runs"),
    Op("DELETE", "/v1/cron-jobs/{cronJobId}/runs"),
    Op("GET", "/v1/registrycredentials"),
    Op("POST", "/v1/registrycredentials", CREDENTIAL),
    Op("GET", "/v1/registrycredentials/{registryCredentialId}"),
    Op(
        "PATCH",
        "/v1/registrycredentials/{registryCredentialId}",
        {k: v for k, v in CREDENTIAL.items() if k != "ownerId"},
    ),
    Op("DELETE", "/v1/registrycredentials/{registryCredentialId}"),
    Op("POST", "/v1/images/verify", {"imageUrl": f"{IMAGE}:1.0"}, extension=True),
    Op("GET", "/v1/notification-settings/owners/{ownerId}"),
    Op("PATCH", "/v1/notification-settings/owners/{ownerId}", {"notificationsToSend": "all"}),
    Op("GET", "/v1/notification-settings/overrides/services/{serviceId}"),
    Op(
        "PATCH",
        "/v1/notification-settings/overrides/services/{serviceId}",
        {"notificationsToSend": "all"},
    ),
    Op("GET", "/v1/webhooks"),
    Op("POST", "/v1/webhooks", WEBHOOK),
    Op("GET", "/v1/webhooks/{webhookId}"),
    Op("PATCH", "/v1/webhooks/{webhookId}", {"enabled": False}),
    Op("DELETE", "/v1/webhooks/{webhookId}"),
    Op("GET", "/v1/webhooks/{webhookId}/events"),
    Op("GET", "/v1/api-keys", extension=True),
    Op("POST", "/v1/api-keys", {"name": "ci"}, extension=True),
    Op("GET", "/v1/api-keys/{apiKeyId}", extension=True),
    Op("DELETE", "/v1/api-keys/{apiKeyId}", extension=True),
    Op("GET", "/v1/logs"),
    Op("GET", "/v1/logs/values"),
    Op("GET", "/v1/logs/subscribe"),
    Op("GET", "/deploy/{serviceId}", extension=True),
    Op("POST", "/deploy/{serviceId}", extension=True),
]
V1 = [op for op in OPERATIONS if op.template.startswith("/v1/")]
WITH_IDS = [op for op in V1 if "{" in op.template]


def _op_id(op: Op) -> str:
    return f"{op.method} {op.template}"


def test_every_route_is_covered_here() -> None:
    """The operations above are exactly the resolver's routes: a new route needs tests."""
    routes = {
        (method.upper(), path)
        for path, item in openapi.generate()["paths"].items()
        for method in item
    }
    assert routes == {(op.method, op.template) for op in OPERATIONS}


NOT_A_KEY = (
    None,
    "",
    "Bearer",
    "Bearer ",
    f"Bearer {API_KEY}x",
    f"Bearer {API_KEY.upper()}",
    f"Basic {API_KEY}",
    f"Token {API_KEY}",
    API_KEY,
    "Bearer \u00e9\u00e9",
)


@pytest.mark.parametrize("op", V1, ids=_op_id)
def test_v1_needs_a_bearer_api_key(client: Client, op: Op) -> None:
    service_id = client.world.create().service.id
    ids = {
        "ownerId": OWNER,
        "serviceId": service_id,
        "cronJobId": service_id,
        "deployId": "dep-x",
        "eventId": "evt-x",
        "registryCredentialId": "rgc-x",
        "envVarKey": "K",
        "webhookId": "whk-x",
        "apiKeyId": "rnd-x",
        "jobId": "job-x",
    }
    body = b"" if op.body is None else json.dumps(op.body).encode()
    for authorization in NOT_A_KEY:
        headers = {} if authorization is None else {"authorization": authorization}
        with unchanged(client.world):
            reply = client.http(op.method, op.path(ids), headers=headers, body=body)
            error(reply, 401, "unauthorized", render=op.render)
        assert reply.headers.get("www-authenticate") == "Bearer", authorization
    # the scheme is case-insensitive, the key is not
    reply = client.http(
        op.method, op.path(ids), headers={"authorization": f"bearer {API_KEY}"}, body=body
    )
    assert reply.status != 401, reply.text


@pytest.mark.parametrize("op", WITH_IDS, ids=_op_id)
def test_unknown_ids_are_404(client: Client, op: Op) -> None:
    unknown = {
        "ownerId": "tea-vvvvvvvvvvvvvvvvvvvv",
        "serviceId": "srv-vvvvvvvvvvvvvvvvvvvv",
        "cronJobId": "crn-vvvvvvvvvvvvvvvvvvvv",
        "deployId": "dep-vvvvvvvvvvvvvvvvvvvv",
        "eventId": "evt-vvvvvvvvvvvvvvvvvvvv",
        "registryCredentialId": "rgc-vvvvvvvvvvvvvvvvvvvv",
        "envVarKey": "NOPE",
        "webhookId": "whk-vvvvvvvvvvvvvvvvvvvv",
        "apiKeyId": "rnd-vvvvvvvvvvvvvvvvvvvv",
        "jobId": "job-vvvvvvvvvvvvvvvvvvvv",
    }
    with unchanged(client.world):
        error(client.call(op.method, op.path(unknown), op.body), 404, "not_found", render=op.render)
    upsert = op.method == "PUT" and op.template.endswith("{envVarKey}")  # sets a new key: 200
    inner = ("{deployId}", "{envVarKey}", "{jobId}")
    if any(name in op.template for name in inner) and not upsert:
        unknown["serviceId"] = client.world.create().service.id  # only the inner id is unknown
        with unchanged(client.world):
            reply = client.call(op.method, op.path(unknown), op.body)
            error(reply, 404, "not_found", render=op.render)


@pytest.mark.parametrize("op", WITH_IDS, ids=_op_id)
def test_other_workspaces_resources_are_404(client: Client, other: Workspace, op: Op) -> None:
    body = op.body
    if op.template.endswith("/rollback"):
        body = {"deployId": other.ids["deployId"]}
    with unchanged(client.world):
        reply = client.call(op.method, op.path(other.ids), body)
        message = error(reply, 404, "not_found", render=op.render)
    assert "their-" not in message and "Other team" not in message  # nothing of theirs shown
    path = op.path(other.ids)
    revealed = [v for v in other.ids.values() if v not in path and v in message]
    assert not revealed, f"{message!r} names {revealed}, ids the request did not"
    # the same request with their key is not a 404: the resource exists
    theirs = client.call(op.method, op.path(other.ids), body, key=other.key)
    assert theirs.status != 404, theirs.text


def test_other_workspaces_are_invisible_in_lists_and_bodies(
    client: Client, other: Workspace
) -> None:
    mine = client.world.create().service.id
    assert walk(client, "/v1/services", "service") == [mine]
    assert client.call("GET", "/v1/registrycredentials").json == []
    with unchanged(client.world):
        for path, body in (
            (
                "/v1/services",
                _with(_with(VALID_WEB, "ownerId", OTHER_OWNER), "image.ownerId", OTHER_OWNER),
            ),
            ("/v1/registrycredentials", {**CREDENTIAL, "ownerId": OTHER_OWNER}),
            ("/v1/webhooks", {**WEBHOOK, "ownerId": OTHER_OWNER}),
        ):
            error(client.call("POST", path, body), 404, "not_found")
        # their credential on my service
        image = {**VALID_WEB["image"], "registryCredentialId": other.ids["registryCredentialId"]}
        error(client.call("POST", "/v1/services", {**VALID_WEB, "image": image}), 404)
        patch = {"image": image}
        error(client.call("PATCH", f"/v1/services/{mine}", patch), 404)


def test_unknown_routes_and_methods_answer_render_errors(client: Client) -> None:
    for method, path in (
        ("GET", "/v1/nothing-here"),
        ("GET", "/v1/services/srv-x/unknown"),
        ("PUT", "/v1/services"),
        ("GET", "/nothing-here"),  # "/" is the dashboard (imagedeploy.dashboard)
    ):
        reply = client.call(method, path)
        assert reply.status in (404, 405), reply.text
        error(reply, reply.status)


@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "c1.!!!"}, "cursor"),
    ],
)
def test_list_parameters_are_checked(client: Client, query: dict[str, str], mentions: str) -> None:
    service_id = client.world.create().service.id
    for path in (
        "/v1/services",
        f"/v1/services/{service_id}/deploys",
        f"/v1/services/{service_id}/events",
        f"/v1/services/{service_id}/env-vars",
        "/v1/owners",
    ):
        message = error(client.call("GET", path, query=query), 400, "invalid_input")
        assert mentions in message


def test_errors_never_echo_the_token(client: Client) -> None:
    """A refused credential body names the field, never the value (pydantic's ``input``)."""
    for body in (
        {**CREDENTIAL, "registry": "NOPE"},
        {**CREDENTIAL, "authToken": [TOKEN]},
        {**CREDENTIAL, "authToken": {"token": TOKEN}},
    ):
        reply = client.call("POST", "/v1/registrycredentials", body)
        assert TOKEN not in error(reply, 400)
    # the client fixture checks every reply and log line of the test, too


def test_wire_timestamps_and_ids_follow_the_conventions(client: Client) -> None:
    created = create(client, "cron_job")
    service = created["service"]
    assert re.fullmatch(r"crn-[0-9a-v]{20}", service["id"]), service["id"]
    assert re.fullmatch(r"dep-[0-9a-v]{20}", created["deployId"])
    for stamp in (service["createdAt"], service["updatedAt"]):
        assert stamp.endswith("Z")


# -- regression tests of bugs found by this suite; the last one is a known gap -----------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/services", [VALID_WEB]),
        ("PATCH", "/v1/services/{id}", [{"name": "renamed"}]),
        ("PUT", "/v1/services/{id}/env-vars/A", [{"value": "1"}]),
        ("POST", "/v1/services/{id}/scale", [{"numInstances": 3}]),
    ],
)
def test_an_array_is_not_an_object_body(client: Client, method: str, path: str, body: Any) -> None:
    service_id = client.world.create().service.id
    with unchanged(client.world):
        reply = client.call(method, path.format(id=service_id), body)
        error(reply, 400, "invalid_input")


@pytest.mark.parametrize(
    ("method", "path", "body", "mentions"),
    [
        ("POST", "/v1/services", _with(VALID_WEB, "type", "cron_job"), "schedule"),
        ("PUT", "/v1/services/{id}/env-vars/A", {}, "value"),
    ],
)
def test_a_missing_field_is_named(
    client: Client, method: str, path: str, body: Any, mentions: str
) -> None:
    service_id = client.world.create().service.id
    message = error(client.call(method, path.format(id=service_id), body), 400)
    assert mentions in message


@pytest.mark.parametrize(
    ("method", "path", "body", "query"),
    [
        ("POST", "/v1/services", {"type": 5}, None),
        ("GET", "/v1/services", None, {"limit": "0"}),
        ("PUT", "/v1/services/srv-x/env-vars", {"not": "a list"}, None),
    ],
)
def test_authentication_comes_before_validation(
    client: Client, method: str, path: str, body: Any, query: dict[str, str] | None
) -> None:
    error(client.call(method, path, body, query=query, key=None), 401, "unauthorized")


def test_env_var_list_refuses_another_lists_cursor(client: Client) -> None:
    service_id = client.world.create().service.id
    client.world.create(name="second")
    services_cursor = client.call("GET", "/v1/services", query={"limit": "1"}).json[0]["cursor"]
    reply = client.call(
        "GET", f"/v1/services/{service_id}/env-vars", query={"cursor": services_cursor}
    )
    assert "cursor" in error(reply, 400, "invalid_input")


@pytest.mark.parametrize("raw", ["[" * 100_000, '{"a":' * 50_000])
def test_deeply_nested_json_is_400(client: Client, raw: str) -> None:
    with unchanged(client.world):
        error(client.call("POST", "/v1/services", raw_body=raw), 400, "invalid_input")


def test_a_body_that_is_not_utf8_is_400(client: Client) -> None:
    service_id = client.world.create().service.id
    with unchanged(client.world):
        reply = client.http(
            "PUT",
            f"/v1/services/{service_id}/env-vars",
            headers={"authorization": f"Bearer {API_KEY}"},
            body=b'[{"key": "A", "value": "\xff"}]',
        )
        error(reply, 400, "invalid_input")


def test_any_item_cursor_works_with_the_largest_limit(client: Client) -> None:
    made = [client.world.create(name=f"svc-{i}").service.id for i in range(30)]
    first = client.call("GET", "/v1/services", query={"limit": "10"}).json
    reply = client.call("GET", "/v1/services", query={"limit": "100", "cursor": first[4]["cursor"]})
    assert reply.status == 200, reply.text
    rest = walk(client, "/v1/services", "service", limit=100)  # sanity: all 30 from the start
    assert [item["service"]["id"] for item in reply.json] == rest[5:] and len(rest) == len(made)


# -- list filters -----------------------------------------------------------------------------
#
# Every filter Render documents on a list we serve narrows it (in the store: a page is full
# when matches exist further on), takes arrays as Render does, and refuses values outside
# Render's vocabulary with a 400 naming the parameter and what it takes.


@pytest.mark.parametrize(
    ("path", "query", "wrapper", "field", "wanted"),
    [
        ("/v1/services", {"name": "cron"}, "service", "name", "cron"),
        ("/v1/services", {"type": "cron_job"}, "service", "type", "cron_job"),
        ("/v1/services/{web}/deploys", {"status": "live"}, "deploy", "status", "live"),
        (
            "/v1/services/{web}/events",
            {"type": "deploy_started"},
            "event",
            "type",
            "deploy_started",
        ),
    ],
)
def test_list_filters_render_documents_are_applied(
    client: Client, path: str, query: dict[str, str], wrapper: str, field: str, wanted: str
) -> None:
    web, _ = live(client)
    deploy_now(client, web)  # a second deploy, not live
    client.world.create(ServiceType.CRON_JOB, name="cron")
    items = client.call("GET", path.format(web=web), query=query).json
    assert items and all(item[wrapper][field] == wanted for item in items), items


@dataclass
class Scene:
    """Services of every type made a minute apart (the worker suspended), the web service with
    a live deploy and a newer failed one, and times to filter by."""

    web: str
    cron: str
    times: dict[str, str]  # name -> an RFC 3339 time


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def scene(client: Client) -> Scene:
    world = client.world
    times = {"start": _stamp(world.clock.now())}
    ids = {}
    for service_type in TYPES:
        world.clock.advance(60)
        ids[service_type] = live(client, service_type)[0]
        times[service_type] = _stamp(world.clock.now())
    client.call("POST", f"/v1/services/{ids['background_worker']}/suspend")
    world.drain()
    world.clock.advance(60)
    times["before_second_deploy"] = _stamp(world.clock.now())
    deploy_now(client, ids["web_service"])
    world.drain()
    deploy_id = world.store.list_deploys(ids["web_service"], 1).items[0].id
    deploys.handle_signal(world.ports, deploy_id, PreDeployExited(0))
    world.drain()
    deploys.handle_signal(world.ports, deploy_id, InstanceFailed(NonZeroExit(1)))
    world.drain()
    # three runs of the cron job: each new one cancels the one before
    cron = ids["cron_job"]
    client.call("POST", f"/v1/cron-jobs/{cron}/runs")
    world.clock.advance(60)
    client.call("POST", f"/v1/cron-jobs/{cron}/runs")
    world.clock.advance(60)
    times["between_runs"] = _stamp(world.clock.now())
    world.clock.advance(60)
    client.call("POST", f"/v1/cron-jobs/{cron}/runs")
    return Scene(ids["web_service"], cron, times)


def _items(client: Client, path: str, query: Mapping[str, str], wrapper: str) -> list[Any]:
    reply = client.call("GET", path, query={"limit": "100", **query})
    assert reply.status == 200, reply.text
    return [item[wrapper] for item in reply.json]


# (path, wrapper, query, what every returned item is, in Render's JSON)
FILTERS: list[tuple[str, str, dict[str, str], Any]] = [
    ("/v1/services", "service", {"name": "my-cron-job"}, lambda s, t: s["name"] == "my-cron-job"),
    (
        "/v1/services",
        "service",
        {"name": "my-cron-job,my-web-service"},
        lambda s, t: s["name"] in ("my-cron-job", "my-web-service"),
    ),
    (
        "/v1/services",
        "service",
        {"type": "cron_job,background_worker"},
        lambda s, t: s["type"] in ("cron_job", "background_worker"),
    ),
    ("/v1/services", "service", {"type": "static_site"}, lambda s, t: False),
    ("/v1/services", "service", {"env": "image"}, lambda s, t: True),
    ("/v1/services", "service", {"env": "docker,node"}, lambda s, t: False),
    (
        "/v1/services",
        "service",
        {"region": "frankfurt,ohio"},
        lambda s, t: s["serviceDetails"]["region"] in ("frankfurt", "ohio"),
    ),
    (
        "/v1/services",
        "service",
        {"suspended": "suspended"},
        lambda s, t: s["suspended"] == "suspended",
    ),
    (
        "/v1/services",
        "service",
        {"suspended": "not_suspended"},
        lambda s, t: s["suspended"] == "not_suspended",
    ),
    ("/v1/services", "service", {"environmentId": "evm-1"}, lambda s, t: False),
    ("/v1/services", "service", {"ownerId": OWNER}, lambda s, t: True),
    ("/v1/services", "service", {"ownerId": OTHER_OWNER}, lambda s, t: False),
    (
        "/v1/services",
        "service",
        {"createdAfter": "{private_service}"},
        lambda s, t: s["createdAt"] > t["private_service"],
    ),
    (
        "/v1/services",
        "service",
        {"createdBefore": "{private_service}"},
        lambda s, t: s["createdAt"] < t["private_service"],
    ),
    (
        "/v1/services",
        "service",
        {"updatedAfter": "{cron_job}"},
        lambda s, t: s["updatedAt"] > t["cron_job"],
    ),
    (
        "/v1/services",
        "service",
        {"updatedBefore": "{web_service}", "createdAfter": "{start}"},
        lambda s, t: t["start"] < s["createdAt"] and s["updatedAt"] < t["web_service"],
    ),
    (
        "/v1/services/{web}/deploys",
        "deploy",
        {"status": "update_failed"},
        lambda d, t: d["status"] == "update_failed",
    ),
    (
        "/v1/services/{web}/deploys",
        "deploy",
        {"status": "live,update_failed"},
        lambda d, t: d["status"] in ("live", "update_failed"),
    ),
    ("/v1/services/{web}/deploys", "deploy", {"status": "build_failed"}, lambda d, t: False),
    (
        "/v1/services/{web}/deploys",
        "deploy",
        {"createdAfter": "{before_second_deploy}"},
        lambda d, t: d["createdAt"] > t["before_second_deploy"],
    ),
    (
        "/v1/services/{web}/deploys",
        "deploy",
        {"createdBefore": "{before_second_deploy}"},
        lambda d, t: d["createdAt"] < t["before_second_deploy"],
    ),
    (
        "/v1/services/{web}/deploys",
        "deploy",
        {"updatedAfter": "{before_second_deploy}"},
        lambda d, t: d["updatedAt"] > t["before_second_deploy"],
    ),
    (
        "/v1/services/{web}/deploys",
        "deploy",
        {"updatedBefore": "{before_second_deploy}"},
        lambda d, t: d["updatedAt"] < t["before_second_deploy"],
    ),
    (
        "/v1/services/{web}/deploys",
        "deploy",
        {"finishedAfter": "{before_second_deploy}"},
        lambda d, t: d.get("finishedAt", "") > t["before_second_deploy"],
    ),
    (
        "/v1/services/{web}/deploys",
        "deploy",
        {"finishedBefore": "{before_second_deploy}"},
        lambda d, t: "finishedAt" in d and d["finishedAt"] < t["before_second_deploy"],
    ),
    (
        "/v1/services/{web}/events",
        "event",
        {"type": "deploy_ended"},
        lambda e, t: e["type"] == "deploy_ended",
    ),
    (
        "/v1/services/{web}/events",
        "event",
        {"type": "deploy_started,server_failed"},
        lambda e, t: e["type"] in ("deploy_started", "server_failed"),
    ),
    ("/v1/services/{web}/events", "event", {"type": "disk_created"}, lambda e, t: False),
    (
        "/v1/services/{web}/events",
        "event",
        {"startTime": "{before_second_deploy}"},
        lambda e, t: e["timestamp"] >= t["before_second_deploy"],
    ),
    (
        "/v1/services/{web}/events",
        "event",
        {"endTime": "{before_second_deploy}"},
        lambda e, t: e["timestamp"] <= t["before_second_deploy"],
    ),
    (
        "/v1/cron-jobs/{cron}/runs",
        "cronJobRun",
        {"status": "canceled"},
        lambda r, t: r["status"] == "canceled",
    ),
    (
        "/v1/cron-jobs/{cron}/runs",
        "cronJobRun",
        {"status": "pending"},
        lambda r, t: r["status"] == "pending",
    ),
    (
        "/v1/cron-jobs/{cron}/runs",
        "cronJobRun",
        {"startedAfter": "{between_runs}"},
        lambda r, t: r["startedAt"] > t["between_runs"],
    ),
    (
        "/v1/cron-jobs/{cron}/runs",
        "cronJobRun",
        {"finishedBefore": "{between_runs}"},
        lambda r, t: r.get("finishedAt", "~") < t["between_runs"],
    ),
]


def _filter_id(case: tuple[str, str, dict[str, str], Any]) -> str:
    return f"{case[0].split('/')[-1]}-{'-'.join(case[2])}={'|'.join(case[2].values())}"


@pytest.mark.parametrize("case", FILTERS, ids=[_filter_id(c) for c in FILTERS])
def test_each_filter_narrows_its_list_as_render_documents(
    client: Client, scene: Scene, case: tuple[str, str, dict[str, str], Any]
) -> None:
    template, wrapper, query, wanted = case
    path = template.format(web=scene.web, cron=scene.cron)
    everything = _items(client, path, {}, wrapper)
    expected = [item for item in everything if wanted(item, scene.times)]
    reply = client.call("GET", path, query={k: v.format(**scene.times) for k, v in query.items()})
    assert reply.status == 200, reply.text
    got = [item[wrapper] for item in reply.json]
    assert [i["id"] for i in got] == [i["id"] for i in expected], (query, got)
    if "cron-jobs" not in template:  # Render's own operations: its response schema
        validate_response(
            "GET", template.removeprefix("/v1").replace("{web}", "{serviceId}"), 200, reply.json
        )


def test_the_filters_each_narrow_something(client: Client, scene: Scene) -> None:
    """The scene is rich enough that no filter of ``FILTERS`` is a no-op by accident: every
    list has items each filter keeps and items it drops, but for the deliberate all/none ones."""
    deliberate = (
        {"type": "static_site"},
        {"env": "image"},
        {"env": "docker,node"},
        {"environmentId": "evm-1"},
        {"ownerId": OWNER},
        {"ownerId": OTHER_OWNER},
        {"status": "build_failed"},
        {"status": "live,update_failed"},  # both deploys, one of each
        {"type": "disk_created"},
    )
    for template, wrapper, query, wanted in FILTERS:
        everything = _items(client, template.format(web=scene.web, cron=scene.cron), {}, wrapper)
        kept = [item for item in everything if wanted(item, scene.times)]
        trivial = len(kept) in (0, len(everything))
        assert trivial == (query in deliberate), (template, query, len(kept), len(everything))


@pytest.mark.parametrize(
    ("path", "raw", "field", "wanted"),
    [
        ("/v1/services", "type=cron_job&type=web_service", "type", {"cron_job", "web_service"}),
        ("/v1/services", "type=cron_job,web_service", "type", {"cron_job", "web_service"}),
        ("/v1/services", "type=cron_job%2Cweb_service", "type", {"cron_job", "web_service"}),
        ("/v1/services", "name=my-cron-job&name=&limit=5", "name", {"my-cron-job"}),
        (
            "/v1/services/{web}/deploys",
            "status=live&status=update_failed",
            "status",
            {"live", "update_failed"},
        ),
        (
            "/v1/services/{web}/events",
            "type=deploy_started&type=deploy_ended",
            "type",
            {"deploy_started", "deploy_ended"},
        ),
    ],
)
def test_arrays_are_repeated_or_comma_separated(
    client: Client, scene: Scene, path: str, raw: str, field: str, wanted: set[str]
) -> None:
    wrapper = {"services": "service", "deploys": "deploy", "events": "event"}[path.split("/")[-1]]
    reply = client.http(
        "GET",
        path.format(web=scene.web),
        query=raw,
        headers={"authorization": f"Bearer {API_KEY}"},
    )
    assert reply.status == 200, reply.text
    assert {item[wrapper][field] for item in reply.json} == wanted


@pytest.mark.parametrize(
    ("path", "parameter", "allowed"),
    [
        ("/v1/services", "type", "static_site, web_service, private_service"),
        ("/v1/services", "env", "docker"),
        ("/v1/services", "region", "frankfurt"),
        ("/v1/services", "suspended", "not_suspended"),
        ("/v1/services/{web}/deploys", "status", "pre_deploy_failed"),
        ("/v1/services/{web}/events", "type", "zero_downtime_redeploy_started"),
        ("/v1/cron-jobs/{cron}/runs", "status", "unsuccessful"),
    ],
)
def test_an_unknown_enum_value_is_400_naming_the_parameter_and_the_values(
    client: Client, scene: Scene, path: str, parameter: str, allowed: str
) -> None:
    url = path.format(web=scene.web, cron=scene.cron)
    with unchanged(client.world):
        for value in ("nope", "WEB_SERVICE", f"{allowed.split(', ')[0]},nope"):
            message = error(client.call("GET", url, query={parameter: value}), 400, "invalid_input")
            assert f"parameter {parameter} " in message and allowed in message, message


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/v1/services", "createdBefore"),
        ("/v1/services", "updatedAfter"),
        ("/v1/services/{web}/deploys", "finishedAfter"),
        ("/v1/services/{web}/events", "startTime"),
        ("/v1/webhooks/{webhook}/events", "sentBefore"),
        ("/v1/cron-jobs/{cron}/runs", "startedBefore"),
    ],
)
def test_a_time_that_is_not_one_is_400_naming_the_parameter(
    client: Client, scene: Scene, path: str, parameter: str
) -> None:
    webhook = client.call("POST", "/v1/webhooks", WEBHOOK).json["id"]
    url = path.format(web=scene.web, cron=scene.cron, webhook=webhook)
    for value in ("yesterday", "2026-13-01T00:00:00Z"):
        message = error(client.call("GET", url, query={parameter: value}), 400, "invalid_input")
        assert parameter in message, message


def test_a_filtered_page_is_full_when_matches_come_later(client: Client) -> None:
    """Thirty services, then three named alike: with ``limit=2`` the first page holds two of
    them (the filter is applied in the store, not to a page already cut), and paging by item
    cursors finds all three."""
    for i in range(30):
        client.world.create(name=f"svc-{i}")
    named = [client.world.create(name="wanted").service.id for _ in range(3)]
    first = client.call("GET", "/v1/services", query={"name": "wanted", "limit": "2"}).json
    assert [item["service"]["id"] for item in first] == named[:2]
    rest = client.call(
        "GET", "/v1/services", query={"name": "wanted", "limit": "2", "cursor": first[0]["cursor"]}
    ).json
    assert [item["service"]["id"] for item in rest] == named[1:]


def test_webhook_events_are_filtered_by_send_time(client: Client) -> None:
    webhook_id = client.call("POST", "/v1/webhooks", WEBHOOK).json["id"]
    start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    deliveries = [
        WebhookDelivery(
            new_id("whe"),
            webhook_id,
            new_id("evt"),
            "deploy_ended",
            start + timedelta(minutes=i),
            200,
            1,
            True,
        )
        for i in range(6)
    ]
    client.world.store.write(put=deliveries)
    path = f"/v1/webhooks/{webhook_id}/events"
    query = {
        "sentAfter": _stamp(start + timedelta(minutes=1)),
        "sentBefore": _stamp(start + timedelta(minutes=4)),
    }
    reply = client.call("GET", path, query=query)
    ok(reply, "GET", "/webhooks/{webhookId}/events", 200)
    assert [item["webhookEvent"]["id"] for item in reply.json] == [d.id for d in deliveries[2:4]][
        ::-1
    ]


# Our list operations and their filter parameters; the cron runs list is our extension and
# takes the parameters of Render's job list.
FILTERED_OPERATIONS = {
    "/services": "/services",
    "/services/{serviceId}/deploys": "/services/{serviceId}/deploys",
    "/services/{serviceId}/events": "/services/{serviceId}/events",
    "/webhooks/{webhookId}/events": "/webhooks/{webhookId}/events",
    "/cron-jobs/{cronJobId}/runs": "/services/{serviceId}/jobs",
    "/services/{serviceId}/jobs": "/services/{serviceId}/jobs",
    "/registrycredentials": "/registrycredentials",
    "/owners": "/owners",
    "/webhooks": "/webhooks",
}


def _ours(path: str) -> dict[str, Any]:
    document = openapi.generate()
    return {
        p["name"]: p
        for p in document["paths"][f"/v1{path}"]["get"].get("parameters", [])
        if p["in"] == "query"
    }


def _renders(path: str) -> dict[str, Any]:
    return query_parameters("GET", path)


@pytest.mark.parametrize("path", sorted(FILTERED_OPERATIONS))
def test_every_filter_parameter_is_one_render_documents(path: str) -> None:
    ours, renders = _ours(path), _renders(FILTERED_OPERATIONS[path])
    assert set(ours) <= set(renders), sorted(set(ours) - set(renders))
    if path != "/cron-jobs/{cronJobId}/runs":
        # everything Render documents is taken, but its previews switch (we have no previews)
        assert set(renders) - set(ours) <= {"includePreviews"}, sorted(set(renders) - set(ours))


def _enum(schema: dict[str, Any]) -> list[str]:
    if "$ref" in schema:  # #/components/schemas/<name>
        return _enum(render_document()["components"]["schemas"][schema["$ref"].split("/")[-1]])
    if "anyOf" in schema:
        return [v for option in schema["anyOf"] for v in _enum(option)]
    if schema.get("type") == "array":
        return _enum(schema["items"])
    enum: list[str] = schema["enum"]
    return enum


@pytest.mark.parametrize(
    ("path", "parameter", "ours"),
    [
        ("/services", "type", lf.SERVICE_TYPES),
        ("/services", "env", lf.RUNTIMES),
        ("/services", "region", lf.REGIONS),
        ("/services", "suspended", lf.SUSPENDED),
        ("/services/{serviceId}/deploys", "status", lf.DEPLOY_STATUSES),
        ("/services/{serviceId}/events", "type", lf.EVENT_TYPES),
        ("/services/{serviceId}/jobs", "status", lf.JOB_STATUSES),
        ("/registrycredentials", "type", lf.CREDENTIAL_TYPES),
    ],
)
def test_enum_filters_take_exactly_renders_values(
    path: str, parameter: str, ours: tuple[str, ...]
) -> None:
    assert sorted(ours) == sorted(_enum(_renders(path)[parameter]["schema"]))


# -- logs -----------------------------------------------------------------------------------------

LOG_OPERATIONS = ("/logs", "/logs/values", "/logs/subscribe")


@pytest.fixture
def logged(client: Client) -> str:
    """A live web service with app, build and request lines kept; its id."""
    web, _ = live(client, env_vars=[{"key": "DB_PASSWORD", "value": "hunter2-pw"}])
    assert client.api.logs is not None
    now = client.world.clock.now()
    client.api.logs.append(
        [
            log_line(web, now - timedelta(seconds=40), "migrating", type=LogType.BUILD),
            log_line(web, now - timedelta(seconds=30), "listening on :10000"),
            log_line(web, now - timedelta(seconds=20), "ERROR payment 7 failed", level="error"),
            log_line(web, now - timedelta(seconds=15), "connecting with hunter2-pw"),
            log_line(
                web,
                now - timedelta(seconds=10),
                "GET /orders 200",
                type=LogType.REQUEST,
                request=RequestFields("GET", "/orders", 200, "web.example.com", 4),
            ),
        ]
    )
    return web


@pytest.mark.parametrize("path", LOG_OPERATIONS)
def test_log_operations_take_renders_parameters(path: str) -> None:
    assert set(_ours(path)) == set(_renders(path))
    for name, parameter in _renders(path).items():
        assert _ours(path)[name].get("required", False) == parameter.get("required", False), name


def test_list_logs_answers_renders_shape(client: Client, logged: str) -> None:
    base = {"ownerId": OWNER, "resource": logged}
    body = ok(client.call("GET", "/v1/logs", query=base), "GET", "/logs", 200)
    messages = [entry["message"] for entry in body["logs"]]
    assert messages[0] == "GET /orders 200" and messages[-1] == "migrating"  # newest first
    assert "connecting with ********" in messages  # a secret env value is masked
    labels = {label["name"]: label["value"] for label in body["logs"][0]["labels"]}
    assert labels == {
        "resource": logged,
        "instance": f"{logged}-abcde",
        "type": "request",
        "level": "info",
        "method": "GET",
        "path": "/orders",
        "statusCode": "200",
        "host": "web.example.com",
    }
    found = client.call("GET", "/v1/logs", query={**base, "text": "payment"}).json
    assert [e["message"] for e in found["logs"]] == ["ERROR payment 7 failed"]
    built = client.call("GET", "/v1/logs", query={**base, "type": "build"}).json
    assert [e["message"] for e in built["logs"]] == ["migrating"]


def test_list_logs_pages_with_next_start_and_end_time(client: Client, logged: str) -> None:
    query = {"ownerId": OWNER, "resource": logged, "limit": "2"}
    seen: list[str] = []
    for _ in range(10):
        body = ok(client.call("GET", "/v1/logs", query=query), "GET", "/logs", 200)
        seen += [entry["message"] for entry in body["logs"]]
        if not body["hasMore"]:
            break
        query = {**query, "startTime": body["nextStartTime"], "endTime": body["nextEndTime"]}
    assert len(seen) == 5 and len(set(seen)) == 5


def test_log_label_values(client: Client, logged: str) -> None:
    query = {"ownerId": OWNER, "resource": logged, "label": "type"}
    body = ok(client.call("GET", "/v1/logs/values", query=query), "GET", "/logs/values", 200)
    assert body == ["app", "build", "request"]
    reply = client.call("GET", "/v1/logs/values", query={**query, "label": "resource"})
    assert "label" in error(reply, 400, "invalid_input", render=("GET", "/logs/values"))


def test_subscribe_is_checked_like_a_list(client: Client, logged: str) -> None:
    query = {"ownerId": OWNER, "resource": logged}
    reply = client.call("GET", "/v1/logs/subscribe", query=query)
    headers = {k.lower(): v for k, v in reply.headers.items()}
    assert reply.status == 200 and headers["content-type"] == "text/event-stream"


@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        ({"resource": "{web}"}, "ownerId"),
        ({"ownerId": OWNER}, "resource"),
        ({"ownerId": OWNER, "resource": "{web}", "direction": "up"}, "direction"),
        ({"ownerId": OWNER, "resource": "{web}", "limit": "101"}, "limit"),
        ({"ownerId": OWNER, "resource": "{web}", "text": "/(/"}, "text"),
        ({"ownerId": OWNER, "resource": "{web}", "startTime": "yesterday"}, "startTime"),
    ],
)
@pytest.mark.parametrize("path", LOG_OPERATIONS)
def test_log_queries_refuse_bad_parameters(
    client: Client, logged: str, path: str, query: dict[str, str], mentions: str
) -> None:
    given = {k: v.format(web=logged) for k, v in query.items()}
    if path == "/logs/values":
        given["label"] = "level"
    message = error(client.call("GET", f"/v1{path}", query=given), 400, "invalid_input")
    assert mentions in message


@pytest.mark.parametrize("path", LOG_OPERATIONS)
def test_other_workspaces_logs_are_404(
    client: Client, logged: str, other: Workspace, path: str
) -> None:
    theirs = {"ownerId": OWNER, "resource": other.ids["serviceId"], "label": "level"}
    error(client.call("GET", f"/v1{path}", query=theirs), 404, "not_found")
    mixed = {**theirs, "resource": f"{logged},{other.ids['serviceId']}"}
    error(client.call("GET", f"/v1{path}", query=mixed), 404, "not_found")
    their_owner = {"ownerId": OTHER_OWNER, "resource": logged, "label": "level"}
    error(client.call("GET", f"/v1{path}", query=their_owner), 404, "not_found")
