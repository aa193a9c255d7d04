"""Bad input never causes a 500 and never changes state (docs/architecture.md §13).

Two fuzzers call the real resolver in-process, through ``api.wsgi`` (what ``imagedeploy serve``
runs), over the use-case world of one test:

* schemathesis, from our own committed OpenAPI document (``reference/imagedeploy-openapi.json``),
  every operation, positive and negative inputs, a bounded number of examples each: no 5xx, every
  error body is ``{"id", "message"}``, and a 4xx leaves the store as it was. Path parameters
  mostly name real resources of the workspace (a service of each type, its live deploy, an
  event, a credential, a webhook), so the bodies and queries reach the handlers;
* hypothesis, by hand: arbitrary JSON (and near-valid bodies with one part replaced), query
  strings and path segments thrown at POST /v1/services, PATCH a service, PUT env vars and the
  deploy hook.

Deterministic (``derandomize``/a fixed seed, no example database), so CI runs are repeatable;
raise ``FUZZ_EXAMPLES`` (schemathesis, per operation) and ``FUZZ_HAND_EXAMPLES`` locally to
search longer. Outcomes of bugs already reported by an xfail test are recognized
(``known_bug``), so the fuzzers fail only on new ones.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.apigw import API_KEY, Api
from devkit.world import IMAGE, OWNER, World
from imagedeploy.adapters.local.engine_api import create_body
from imagedeploy.adapters.local.runtime import container_spec
from imagedeploy.api.wsgi import wsgi_app
from imagedeploy.domain.service_rules import split_command
from imagedeploy.domain.services import ServiceType
from imagedeploy.ports import RunSpec
from imagedeploy.usecases import notifications, services
from scripts import openapi
from tests.api.test_render_compat import DETAILS, VALID_WEB, Client, go_live, snapshot

pytestmark = pytest.mark.integration

# a dev dependency (pyproject's dev extras); skipped, and said so, where it is not installed
schemathesis = pytest.importorskip("schemathesis", reason="pip install 'schemathesis>=4.3,<5'")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))  # per operation and generation mode
HAND_EXAMPLES = int(os.environ.get("FUZZ_HAND_EXAMPLES", "250"))
AUTH = {"Authorization": f"Bearer {API_KEY}"}


# -- the world under fuzz ---------------------------------------------------------------------


@dataclass
class Target:
    """A workspace with something behind every path parameter, the API as a WSGI app and as
    ``api.call``."""

    client: Client
    app: Callable[..., Any]
    by_type: dict[ServiceType, str]  # a live service of each type
    pools: dict[str, list[str]]  # path parameter -> real values
    hook_keys: dict[str, str]  # service id -> its deploy hook key

    @property
    def world(self) -> World:
        return self.client.world

    def service_id(self, service: ServiceType | str) -> str:
        """The live service of that type, or a fuzzed path segment as it is."""
        return self.by_type[service] if isinstance(service, ServiceType) else service

    def aim(self, path_parameters: dict[str, Any]) -> None:
        """Point most generated path parameters at real resources, keeping some as generated.
        Deterministic in the generated value, so examples stay reproducible."""
        service = self._pick("serviceId", path_parameters)
        if service is not None and "deployId" in path_parameters:
            latest = self.world.store.list_deploys(service, 1).items
            if latest:
                path_parameters["deployId"] = latest[0].id
        for name in ("cronJobId", "eventId", "registryCredentialId", "webhookId", "ownerId"):
            self._pick(name, path_parameters)
        if "envVarKey" in path_parameters and _bucket(path_parameters["envVarKey"], 2) == 0:
            path_parameters["envVarKey"] = "GREETING"

    def _pick(self, name: str, path_parameters: dict[str, Any]) -> str | None:
        if name not in path_parameters:
            return None
        pool = self.pools[name]
        index = _bucket(path_parameters[name], len(pool) + 1)
        if index < len(pool):  # one bucket in len(pool)+1 keeps the generated value
            path_parameters[name] = pool[index]
        value = path_parameters[name]
        return value if isinstance(value, str) else None


def _bucket(value: Any, buckets: int) -> int:
    return zlib.crc32(repr(value).encode("utf-8", "surrogatepass")) % buckets


@pytest.fixture
def target(api: Api) -> Target:
    world = api.world
    made = {t: world.create(t, name=t.value.replace("_", "-")) for t in ServiceType}
    for created in made.values():
        go_live(world, created.deploy.id)
        services.put_env_var(world.ports, created.service.id, "GREETING", "hi")
    by_type = {t: c.service.id for t, c in made.items()}
    webhook = notifications.create_webhook(
        world.ports, OWNER, "fuzz", "https://hooks.example.com/x", True, []
    )
    return Target(
        client=Client(api),
        app=wsgi_app(api.resolver),
        by_type=by_type,
        pools={
            "serviceId": list(by_type.values()),
            "cronJobId": [by_type[ServiceType.CRON_JOB], by_type[ServiceType.WEB_SERVICE]],
            "eventId": [
                e.id for s in by_type.values() for e in world.store.list_events(s, 2).items
            ],
            "registryCredentialId": [world.credential()],
            "webhookId": [webhook.id],
            "ownerId": [OWNER],
        },
        hook_keys={c.service.id: c.hook_key for c in made.values()},
    )


def known_bug(method: str, path: str, body: bytes | None, status: int) -> str | None:
    """The xfail test in test_render_compat.py that already reports this outcome, if any: the
    fuzzers stay green on known bugs and fail on new ones. Add an entry with its xfail test,
    delete it with the fix. (None open.)"""
    return None


def checked(
    world: World,
    method: str,
    path: str,
    what: str,
    send: Callable[[], tuple[int, str, bytes | None]],
) -> int | None:
    """Send one request: never a 5xx, every error ``{"id", "message"}``, and a 4xx leaves
    every record as it was. The clock moves a minute first (a fresh deploy rate-limit window).
    Returns the status, or None for the outcome of a known bug."""
    world.clock.advance(60)
    before = snapshot(world)
    status, text, sent = send()
    if known_bug(method, path, sent, status) is not None:
        return None
    assert status < 500, f"{what}: {status} {text[:500]}"
    if status >= 400:
        body = json.loads(text)
        assert isinstance(body, dict) and set(body) == {"id", "message"}, f"{what}: {text[:300]}"
        assert isinstance(body["id"], str) and body["id"], text[:300]
        assert isinstance(body["message"], str) and body["message"].strip(), text[:300]
        after = snapshot(world)
        changed = sorted(k for k in after if after[k] != before[k])
        assert not changed, f"{what} answered {status} but changed {changed}"
    return status


# -- schemathesis over our OpenAPI document ---------------------------------------------------

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20261127,
        "generation": {
            "mode": "all",
            "max-examples": EXAMPLES,
            "deterministic": True,
            "database": "none",
            "with-security-parameters": False,  # test_render_compat covers 401s
        },
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "suppress-health-check": ["all"],
    }
)
SCHEMA = schemathesis.openapi.from_path(openapi.DOCUMENT, config=CONFIG)


@SCHEMA.parametrize()  # type: ignore[untyped-decorator]  # via importorskip: Any
@settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    max_examples=EXAMPLES,
    database=None,
)
def test_schemathesis_finds_no_server_error(case: Any, target: Target) -> None:
    if case.path_parameters:
        target.aim(case.path_parameters)
    if case.path.startswith("/deploy/") and _bucket(case.query, 2):
        case.query = {
            **(case.query or {}),
            "key": target.hook_keys.get(case.path_parameters["serviceId"], ""),
        }

    responses = []

    def send() -> tuple[int, str, bytes | None]:
        responses.append(case.call(app=target.app, headers=AUTH))
        sent = responses[0].request.body
        return (
            responses[0].status_code,
            responses[0].text,
            sent.encode() if isinstance(sent, str) else sent,
        )

    what = f"{case.method} {case.formatted_path} {case.query} {case.body!r:.300}"
    if checked(target.world, case.method, case.formatted_path, what, send) is not None:
        case.validate_response(responses[0], checks=[not_a_server_error])


# -- hypothesis by hand -----------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
SEGMENT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/?#"),  # a URL path segment
    min_size=1,
    max_size=40,
)
FUZZ = settings(
    max_examples=HAND_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterable[tuple[Any, ...]]:
    """Every location inside a JSON value (the root included)."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replaced(value[head], tuple(rest), new)
    return copy


def near(valid: Any) -> st.SearchStrategy[Any]:
    """``valid`` with one location replaced by arbitrary JSON: reaches the deeper validation."""
    locations = list(_paths(valid))
    return st.builds(
        lambda where, new: _replaced(valid, where, new), st.sampled_from(locations), ANY_JSON
    )


def bodies(valid: Any) -> st.SearchStrategy[Any]:
    return ANY_JSON | near(valid)


def call(target: Target, method: str, path: str, body: Any = None, **kwargs: Any) -> None:
    """``checked`` through ``api.call``."""

    def send() -> tuple[int, str, bytes | None]:
        reply = target.client.call(method, path, body, **kwargs)
        return reply.status, reply.text, None if body is None else json.dumps(body).encode()

    checked(target.world, method, path, f"{method} {path} {kwargs} {body!r:.300}", send)


@FUZZ
@given(body=bodies({**VALID_WEB, "serviceDetails": DETAILS["web_service"]}))
def test_create_service_survives_any_json(target: Target, body: Any) -> None:
    call(target, "POST", "/v1/services", body)


@FUZZ
@given(
    service=st.sampled_from(list(ServiceType)) | SEGMENT,
    body=bodies(
        {
            "name": "renamed",
            "image": {"ownerId": OWNER, "imagePath": f"{IMAGE}:2.0"},
            "serviceDetails": {"plan": "pro", "schedule": "0 3 * * *", "healthCheckPath": "/"},
        }
    ),
)
def test_update_service_survives_any_json(
    target: Target, service: ServiceType | str, body: Any
) -> None:
    service_id = target.service_id(service)
    call(target, "PATCH", f"/v1/services/{service_id}", body)


@FUZZ
@given(
    key=st.none() | SEGMENT,
    body=bodies([{"key": "A", "value": "1"}, {"key": "B", "generateValue": True}]),
    single=bodies({"value": "v"}),
)
def test_env_vars_survive_any_json(target: Target, key: str | None, body: Any, single: Any) -> None:
    base = f"/v1/services/{target.by_type[ServiceType.WEB_SERVICE]}/env-vars"
    if key is None:
        call(target, "PUT", base, body)
    else:
        call(target, "PUT", f"{base}/{key}", single)
        call(target, "GET", f"{base}/{key}")
        call(target, "DELETE", f"{base}/{key}")


@FUZZ
@given(
    service=st.sampled_from(list(ServiceType)) | SEGMENT,
    key=st.sampled_from(["right", "missing"]) | st.text(max_size=60),
    img_url=st.none()
    | st.sampled_from([f"{IMAGE}:2.0", f"{IMAGE}@1.24", "nginx@1.24", f"https://{IMAGE}:1.0"])
    | st.text(max_size=80),
    extra=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=3),
    method=st.sampled_from(["GET", "POST"]),
    body=st.none() | ANY_JSON,
)
def test_deploy_hook_survives_any_query(
    target: Target,
    service: ServiceType | str,
    key: str,
    img_url: str | None,
    extra: dict[str, str],
    method: str,
    body: Any,
) -> None:
    service_id = target.service_id(service)
    query = dict(extra)
    if key != "missing":
        query["key"] = target.hook_keys.get(service_id, "") if key == "right" else key
    if img_url is not None:
        query["imgURL"] = img_url
    call(target, method, f"/deploy/{service_id}", body, key=None, query=query)


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode().rstrip("=")


NESTED = st.integers(min_value=0, max_value=120_000).map(lambda depth: "[" * depth)
# a cursor-shaped value: this API's prefix around arbitrary or deeply nested JSON, and around a
# store cursor that is itself crafted (so both decoders are reached), or any text at all
CURSORS = (
    st.text(max_size=60)
    | st.builds(lambda v: "c1." + _b64(json.dumps(v)), ANY_JSON)
    | NESTED.map(lambda nested: "c1." + _b64(nested))
    | st.builds(
        lambda store, skip: "c1." + _b64(json.dumps([store, skip])),
        NESTED.map(_b64) | st.builds(lambda v: _b64(json.dumps(v)), ANY_JSON) | st.text(),
        st.integers(min_value=-5, max_value=2_000) | st.integers(min_value=2**70, max_value=2**80),
    )
)


@FUZZ
@given(cursor=CURSORS, limit=st.none() | st.integers(min_value=-1, max_value=101).map(str))
def test_lists_survive_any_cursor(target: Target, cursor: str, limit: str | None) -> None:
    web = target.by_type[ServiceType.WEB_SERVICE]
    cron = target.by_type[ServiceType.CRON_JOB]
    query = {"cursor": cursor, **({"limit": limit} if limit is not None else {})}
    for path in (
        "/v1/services",
        "/v1/owners",
        "/v1/registrycredentials",
        "/v1/webhooks",
        f"/v1/webhooks/{target.pools['webhookId'][0]}/events",
        f"/v1/services/{web}/deploys",
        f"/v1/services/{web}/events",
        f"/v1/services/{web}/env-vars",
        f"/v1/cron-jobs/{cron}/runs",
    ):
        call(target, "GET", path, None, query=query)


@FUZZ
@given(
    path=st.lists(SEGMENT, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    query=st.dictionaries(
        st.sampled_from(["limit", "cursor", "key", "imgURL"]) | st.text(max_size=8),
        st.text(max_size=30),
        max_size=3,
    ),
)
def test_any_path_and_query_is_answered(
    target: Target, path: str, method: str, query: dict[str, str]
) -> None:
    cron = target.by_type[ServiceType.CRON_JOB]
    for prefix in ("", "/v1", "/v1/services", f"/v1/services/{cron}", f"/v1/cron-jobs/{cron}"):
        call(target, method, prefix + path, {}, query=query)


# -- env var and command injection: what the API accepts reaches the engine only as data -------

HOSTILE_NAMES = st.sampled_from(
    [
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "PATH",
        "HOME",
        "TMPDIR",
        "XDG_CONFIG_HOME",
        "CONTAINERS_CONF",
        "CONTAINER_HOST",
        "DOCKER_HOST",
        "DOCKER_CONFIG",
        "REGISTRY_AUTH_FILE",
        "BASH_ENV",
        "IFS",
    ]
) | st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z")
SHELLISH = st.sampled_from(
    ["\n", "\r", "\r\n", "$(id)", "`id`", ";", "&&", "|", "'", '"', "\\", "-e", "--", "*", " "]
)
HOSTILE_TEXT = st.lists(
    SHELLISH
    | st.sampled_from(["\x1f", "\x0b", "\u2028"])  # whitespace to str.strip, not to shlex
    | st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\0"), max_size=8),
    max_size=8,
).map("".join)


def _deployed_spec(target: Target, service_id: str) -> RunSpec:
    """Deploy the service's current settings; the spec the runtime was given."""
    world = target.world
    reply = target.client.call("POST", f"/v1/services/{service_id}/deploys", {})
    assert reply.status in {201, 202}, reply.text  # 202: queued behind one in progress
    world.drain()
    for deploy in reversed(world.store.list_deploys(service_id, 10).items):  # oldest first
        current = world.store.get_deploy(deploy.id)
        if current is not None and not current.status.finished:
            go_live(world, deploy.id)
    return world.runtime.specs[-1]


def _create_body(spec: RunSpec) -> dict[str, Any]:
    container = container_spec(spec, "instance", installation="fuzz", host_port=20000)
    sent: dict[str, Any] = json.loads(json.dumps(create_body(container)))  # what goes on the wire
    return sent


@FUZZ
@given(key=HOSTILE_NAMES, value=HOSTILE_TEXT)
def test_an_accepted_env_var_reaches_the_container_byte_identical_and_only_as_data(
    target: Target, key: str, value: str
) -> None:
    service_id = target.by_type[ServiceType.WEB_SERVICE]
    path = f"/v1/services/{service_id}/env-vars/{key}"
    status = checked(
        target.world,
        "PUT",
        path,
        f"PUT {path} {value!r}",
        lambda: (lambda r: (r.status, r.text, None))(
            target.client.call("PUT", path, {"value": value})
        ),
    )
    if status is None or status >= 400:
        return
    spec = _deployed_spec(target, service_id)
    assert spec.env[key] == value
    body = _create_body(spec)
    assert f"{key}={value}" in body["Env"]
    assert body["Image"] == spec.image and body["Labels"]["imagedeploy.service"] == service_id


@FUZZ
@given(command=HOSTILE_TEXT)
def test_an_accepted_command_reaches_the_container_as_its_argv(
    target: Target, command: str
) -> None:
    service_id = target.by_type[ServiceType.BACKGROUND_WORKER]
    body = {"serviceDetails": {"envSpecificDetails": {"dockerCommand": command}}}
    path = f"/v1/services/{service_id}"
    status = checked(
        target.world,
        "PATCH",
        path,
        f"PATCH {path} {command!r}",
        lambda: (lambda r: (r.status, r.text, None))(target.client.call("PATCH", path, body)),
    )
    if status is None or status >= 400:
        return
    spec = _deployed_spec(target, service_id)
    sent = _create_body(spec)
    assert tuple(sent.get("Cmd", ())) == split_command(command.strip())  # stored stripped
    assert "Entrypoint" not in sent  # the image's ENTRYPOINT is kept, never replaced
