"""What EngineApi sends to the engine's API (podman and docker) and how it reads the answers,
driven by an in-memory engine (``httpx.MockTransport``); how pull failures are classified.
tests/e2e/test_engine.py runs the same code against a real podman."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from imagedeploy.adapters.local.engine import (
    ContainerSpec,
    EngineError,
    EngineKind,
    EnginePullError,
    PortBinding,
    RegistryAuth,
    classify_pull_error,
    parse_container,
)
from imagedeploy.adapters.local.engine_api import EngineApi, demultiplex, json_lines
from imagedeploy.domain.errors import ImagePullError, PullFailureReason

pytestmark = pytest.mark.unit

IMAGE = "registry.example:5000/team/web@sha256:" + "ab" * 32
PASSWORD = "pa55-w0rd-do-not-print"
AUTH = RegistryAuth("registry.example:5000", "robot", SecretStr(PASSWORD))

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeEngineServer:
    """Answers engine API requests from ``routes`` ("METHOD path-suffix" -> handler); records
    every request. Unknown requests answer 404 like the engines do."""

    requests: list[httpx.Request] = field(default_factory=list)
    routes: dict[str, Handler] = field(default_factory=dict)

    def on(self, route: str, handler: Handler | httpx.Response) -> None:
        self.routes[route] = handler if callable(handler) else (lambda _: handler)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        for route, handler in self.routes.items():
            method, _, suffix = route.partition(" ")
            if request.method == method and request.url.path.endswith(suffix):
                return handler(request)
        return httpx.Response(404, json={"message": "no such container"})

    def find(self, route: str) -> list[httpx.Request]:
        method, _, suffix = route.partition(" ")
        return [r for r in self.requests if r.method == method and r.url.path.endswith(suffix)]

    def one(self, route: str) -> httpx.Request:
        (request,) = self.find(route)
        return request


@pytest.fixture
def server() -> FakeEngineServer:
    server = FakeEngineServer()
    server.on("POST /images/pull", httpx.Response(200, text='{"images":["sha256:1"]}\n'))
    server.on("POST /images/create", httpx.Response(200, text='{"status":"done"}\n'))
    server.on("POST /containers/create", httpx.Response(201, json={"Id": "c0ffee1234"}))
    server.on("POST /start", httpx.Response(204))
    return server


@pytest.fixture
def make_engine(server: FakeEngineServer) -> Callable[..., EngineApi]:
    def make(kind: EngineKind = "podman") -> EngineApi:
        return EngineApi(kind=kind, transport=httpx.MockTransport(server))

    return make


def spec(**overrides: Any) -> ContainerSpec:
    values: dict[str, Any] = {
        "name": "srv-abc-dep-1",
        "image": IMAGE,
        "env": {"TOKEN": "hunter2-secret"},
        "labels": {"imagedeploy.service": "srv-abc"},
    }
    values.update(overrides)
    return ContainerSpec(**values)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


# --- create -------------------------------------------------------------------------------------


def test_env_travels_in_the_create_body_byte_for_byte(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    env = {"PEM": "a\nb\r\n", "LD_PRELOAD": "/x.so:\n", "EMPTY": "", "EQ": "a=b"}
    make_engine().run(spec(env=env))
    create = server.one("POST /containers/create")
    assert body(create)["Env"] == ["PEM=a\nb\r\n", "LD_PRELOAD=/x.so:\n", "EMPTY=", "EQ=a=b"]
    assert create.url.params["name"] == "srv-abc-dep-1"
    for other in server.requests:
        if other is not create:
            assert b"hunter2" not in other.content and "/x.so" not in str(other.url)


def test_the_create_body_carries_every_setting(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    make_engine().run(
        spec(
            command=("/bin/sh", "-c", "echo hi"),
            network="imagedeploy",
            network_aliases=("api", "api.internal"),
            publish=(PortBinding(10000, 41234),),
            cpus=0.5,
            memory_bytes=512 * 1024 * 1024,
            stop_timeout_seconds=7,
        )
    )
    sent = body(server.one("POST /containers/create"))
    assert sent["Image"] == IMAGE
    assert sent["Cmd"] == ["/bin/sh", "-c", "echo hi"]  # CMD replaced, ENTRYPOINT kept
    assert "Entrypoint" not in sent
    assert sent["Labels"] == {"imagedeploy.service": "srv-abc"}
    assert sent["StopTimeout"] == 7
    assert sent["ExposedPorts"] == {"10000/tcp": {}}
    host = sent["HostConfig"]
    assert host["PortBindings"] == {"10000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "41234"}]}
    assert (host["NetworkMode"], host["NanoCpus"], host["Init"]) == (
        "imagedeploy",
        500_000_000,
        False,
    )
    assert host["Memory"] == host["MemorySwap"] == 512 * 1024 * 1024  # no swap, as on Fargate
    assert sent["NetworkingConfig"] == {
        "EndpointsConfig": {"imagedeploy": {"Aliases": ["api", "api.internal"]}}
    }


def test_without_a_command_the_image_cmd_runs(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    make_engine().run(spec(command=None))
    assert "Cmd" not in body(server.one("POST /containers/create"))


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"": "x"}, "invalid environment variable name"),
        ({"A=B": "x"}, "invalid"),
        ({"A": "x\0"}, "NUL"),
    ],
)
def test_what_no_engine_can_carry_is_refused_before_any_request(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi], env: dict[str, str], match: str
) -> None:
    engine = make_engine()
    server.requests.clear()
    with pytest.raises(EngineError, match=match):
        engine.run(spec(env=env))
    assert server.requests == []


def test_a_container_that_fails_to_start_is_removed_by_id(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    server.on("POST /start", httpx.Response(500, json={"message": "address already in use"}))
    server.on("DELETE /containers/c0ffee1234", httpx.Response(204))
    with pytest.raises(EngineError, match="address already in use"):
        make_engine().run(spec())
    assert server.one("DELETE /containers/c0ffee1234").url.params["force"] == "true"


# --- pull ---------------------------------------------------------------------------------------


def test_a_stored_pinned_digest_is_not_pulled_again(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    make_engine().run(spec())
    assert [r.method + " " + r.url.path for r in server.requests] == [
        "POST /v1.41/containers/create",
        "POST /v1.41/containers/c0ffee1234/start",
    ]


def test_a_pinned_digest_not_stored_is_pulled_then_created_without_an_image_inspect(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    creates = iter(
        [
            httpx.Response(404, json={"message": "no such image"}),
            httpx.Response(201, json={"Id": "c0ffee1234"}),
        ]
    )
    server.on("POST /containers/create", lambda _: next(creates))
    make_engine().run(spec())
    assert [r.method + " " + r.url.path for r in server.requests] == [
        "POST /v1.41/containers/create",
        "POST /v4.0.0/libpod/images/pull",
        "POST /v1.41/containers/create",
        "POST /v1.41/containers/c0ffee1234/start",
    ]


def test_podman_pull_sends_the_credentials_only_in_the_auth_header(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    make_engine("podman").pull(IMAGE, AUTH, insecure=True)
    pull = server.one("POST /libpod/images/pull")
    assert dict(pull.url.params) == {
        "reference": IMAGE,
        "os": "linux",
        "arch": "amd64",
        "policy": "always",
        "tlsVerify": "false",
    }
    header = json.loads(base64.urlsafe_b64decode(pull.headers["X-Registry-Auth"]))
    assert header == {"username": "robot", "password": PASSWORD, "serveraddress": AUTH.registry}
    assert PASSWORD not in str(pull.url) and not pull.content
    assert server.find("GET /json") == []  # no inspect after pulling a pinned digest


def test_anonymous_pull_sends_no_auth_header(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    make_engine("podman").pull(IMAGE)
    assert "X-Registry-Auth" not in server.one("POST /libpod/images/pull").headers


def test_docker_pull_uses_the_compatible_endpoint_with_the_platform(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    make_engine("docker").pull(IMAGE, RegistryAuth("docker.io", "u", SecretStr("p")))
    pull = server.one("POST /images/create")
    name, _, digest = IMAGE.partition("@")
    assert dict(pull.url.params) == {"fromImage": name, "tag": digest, "platform": "linux/amd64"}
    header = json.loads(base64.urlsafe_b64decode(pull.headers["X-Registry-Auth"]))
    assert header["serveraddress"] == "https://index.docker.io/v1/"


def test_a_failed_pull_raises_a_classified_error_without_the_secret(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    echoed = f"reading manifest: unauthorized: bad credentials robot:{PASSWORD}"
    server.on(
        "POST /images/pull",
        httpx.Response(
            200, text=f'{{"stream":"Trying to pull..."}}\n{json.dumps({"error": echoed})}\n'
        ),
    )
    with pytest.raises(EnginePullError) as caught:
        make_engine("podman").pull(IMAGE, AUTH)
    error = caught.value
    assert isinstance(error, ImagePullError)  # handled like a failed preflight
    assert error.reason is PullFailureReason.UNAUTHORIZED
    assert IMAGE in error.message
    assert PASSWORD not in f"{error} {error!r} {error.args}"


def test_a_pull_refused_with_an_http_error_is_classified(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    server.on("POST /images/pull", httpx.Response(500, json={"message": "manifest unknown"}))
    with pytest.raises(EnginePullError) as caught:
        make_engine("podman").pull(IMAGE)
    assert caught.value.reason is PullFailureReason.NOT_FOUND


def test_a_pulled_tag_of_another_platform_is_refused_and_dropped(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    server.on("GET /json", httpx.Response(200, json={"Os": "linux", "Architecture": "arm64"}))
    server.on("DELETE /images/q.example/a:1", httpx.Response(200, json=[]))
    with pytest.raises(EnginePullError) as caught:
        make_engine("podman").pull("q.example/a:1")
    assert caught.value.reason is PullFailureReason.WRONG_PLATFORM
    assert "linux/arm64" in caught.value.message
    assert server.one("DELETE /images/q.example/a:1")


# --- stop, remove, wait, list, logs, events ----------------------------------------------------


def test_stop_passes_the_timeout_and_waits_longer_itself(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    seen: dict[str, Any] = {}

    def stop(request: httpx.Request) -> httpx.Response:
        seen["timeout"] = request.extensions["timeout"]
        return httpx.Response(204)

    server.on("POST /containers/c1/stop", stop)
    make_engine().stop("c1", 25)
    assert server.one("POST /containers/c1/stop").url.params["t"] == "25"
    assert seen["timeout"]["read"] > 25


def test_stop_and_remove_of_a_missing_container_are_no_ops(
    make_engine: Callable[..., EngineApi],
) -> None:
    engine = make_engine()
    engine.stop("gone", 5)
    engine.remove("gone")
    assert engine.inspect("gone") is None


def test_wait_returns_the_exit_code_or_none_on_timeout(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    server.on("POST /containers/c1/wait", httpx.Response(200, json={"StatusCode": 3}))
    assert make_engine().wait("c1", 5) == 3

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    server.on("POST /containers/c2/wait", hang)
    assert make_engine().wait("c2", 1) is None


def test_list_is_one_request_filtered_by_label(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    server.on(
        "GET /containers/json",
        httpx.Response(
            200,
            json=[
                {"Id": "a", "Names": ["/x"], "State": "running", "Labels": {"k": "v"}},
                {"Id": "b", "Names": ["y"], "State": "exited", "Labels": {"k": "v"}},
                {"Id": "c", "Names": ["z"], "State": "running", "Labels": {"k": "other"}},
            ],
        ),
    )
    states = make_engine().list({"k": "v"})
    assert [(s.id, s.name, s.running) for s in states] == [("a", "x", True), ("b", "y", False)]
    request = server.one("GET /containers/json")
    assert json.loads(request.url.params["filters"]) == {"label": ["k=v"]}
    assert request.url.params["all"] == "true"


def test_logs_are_demultiplexed_in_order() -> None:
    frames = b"".join(
        bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data
        for stream, data in [(1, b"out one\n"), (2, b"err\n"), (1, b"out two\n")]
    )
    pieces = [frames[i : i + 5] for i in range(0, len(frames), 5)]  # split anywhere
    assert b"".join(demultiplex(iter(pieces))) == b"out one\nerr\nout two\n"


def test_json_lines_reads_documents_split_anywhere() -> None:
    text = '{"a": 1}\n{"b": "x\\ny"}{"c": [1]}\n'
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    assert list(json_lines(iter(pieces))) == [{"a": 1}, {"b": "x\ny"}, {"c": [1]}]


def test_events_are_normalised_across_engines(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    podman = {
        "status": "died",
        "id": "c1",
        "Type": "container",
        "Action": "died",
        "Actor": {"ID": "c1", "Attributes": {"imagedeploy.run": "crn-1", "containerExitCode": "3"}},
    }
    docker = {
        "Type": "container",
        "Action": "die",
        "Actor": {"ID": "c2", "Attributes": {"exitCode": "0"}},
    }
    oom = {"Type": "container", "Action": "oom", "Actor": {"ID": "c3", "Attributes": {}}}
    text = "".join(json.dumps(d) + "\n" for d in (podman, docker, oom))
    server.on("GET /events", httpx.Response(200, text=text))
    events = list(make_engine().events({"imagedeploy.managed": "1"}))
    assert [(e.action, e.container_id, e.exit_code) for e in events] == [
        ("die", "c1", 3),
        ("die", "c2", 0),
        ("oom", "c3", None),
    ]
    assert events[0].labels["imagedeploy.run"] == "crn-1"
    filters = json.loads(server.one("GET /events").url.params["filters"])
    assert filters == {"label": ["imagedeploy.managed=1"], "type": ["container"]}


def test_kind_is_detected_from_the_version_answer(server: FakeEngineServer) -> None:
    server.on("GET /version", httpx.Response(200, json={"Components": [{"Name": "Podman Engine"}]}))
    assert EngineApi(transport=httpx.MockTransport(server)).kind == "podman"
    server.on("GET /version", httpx.Response(200, json={"Components": [{"Name": "Engine"}]}))
    assert EngineApi(transport=httpx.MockTransport(server)).kind == "docker"


# --- pull failures ------------------------------------------------------------------------------


STDERR_SAMPLES = [
    # podman 4.3 (captured against the test registry)
    (
        "Error: initializing source docker://127.0.0.1:40875/demo/web:1.0: reading manifest 1.0 "
        "in 127.0.0.1:40875/demo/web: unauthorized: authentication required",
        PullFailureReason.UNAUTHORIZED,
    ),
    (
        "Error: initializing source docker://127.0.0.1:5/demo/web:nope: reading manifest nope in "
        "127.0.0.1:5/demo/web: manifest unknown: manifest unknown",
        PullFailureReason.NOT_FOUND,
    ),
    (
        "Error: initializing source docker://127.0.0.1:1/demo/web:1.0: pinging container registry "
        '127.0.0.1:1: Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection '
        "refused",
        PullFailureReason.REGISTRY_UNAVAILABLE,
    ),
    (
        "Error: initializing source docker://127.0.0.1:5/demo/web:1.0: pinging container registry "
        '127.0.0.1:5: Get "https://127.0.0.1:5/v2/": http: server gave HTTP response to HTTPS '
        "client",
        PullFailureReason.REGISTRY_UNAVAILABLE,
    ),
    (
        "Error: choosing an image from manifest list docker://q.example/a:1: no image found in "
        'manifest list for architecture amd64, variant "", OS linux',
        PullFailureReason.WRONG_PLATFORM,
    ),
    (
        "Error: copying system image from manifest list: reading blob sha256:1: fetching blob: "
        "toomanyrequests: too many requests",
        PullFailureReason.RATE_LIMITED,
    ),
    # docker 24-28
    (
        'Error response from daemon: Head "https://q.example/v2/a/manifests/1": unauthorized: '
        "incorrect username or password",
        PullFailureReason.UNAUTHORIZED,
    ),
    (
        "Error response from daemon: pull access denied for acme/private, repository does not "
        "exist or may require 'docker login': denied: requested access to the resource is denied",
        PullFailureReason.UNAUTHORIZED,
    ),
    (
        "Error response from daemon: manifest for q.example/a:2 not found: manifest unknown: "
        "manifest unknown",
        PullFailureReason.NOT_FOUND,
    ),
    (
        "Error response from daemon: no matching manifest for linux/amd64 in the manifest list "
        "entries: no match for platform in manifest: not found",
        PullFailureReason.WRONG_PLATFORM,
    ),
    (
        "Error response from daemon: image with reference q.example/a:1 was found but does not "
        "match the specified platform: wanted linux/amd64, actual: linux/arm64",
        PullFailureReason.WRONG_PLATFORM,
    ),
    (
        "Error response from daemon: toomanyrequests: You have reached your pull rate limit.",
        PullFailureReason.RATE_LIMITED,
    ),
    (
        'Error response from daemon: Get "https://q.example/v2/": dial tcp: lookup q.example on '
        "127.0.0.53:53: no such host",
        PullFailureReason.REGISTRY_UNAVAILABLE,
    ),
    (
        "Error response from daemon: received unexpected HTTP status: 503 Service Unavailable",
        PullFailureReason.REGISTRY_UNAVAILABLE,
    ),
    ("invalid reference format", PullFailureReason.INVALID_REFERENCE),
    (
        "Error response from daemon: denied: Your authorization token has expired.",  # ECR
        PullFailureReason.UNAUTHORIZED,
    ),
    (  # a local storage problem is not a credential problem
        "Error: writing blob: open /var/lib/containers/storage/x: permission denied",
        PullFailureReason.REGISTRY_UNAVAILABLE,
    ),
]


@pytest.mark.parametrize(("stderr", "reason"), STDERR_SAMPLES)
def test_pull_errors_are_classified(stderr: str, reason: PullFailureReason) -> None:
    assert classify_pull_error(stderr) is reason


def test_names_inside_the_reference_do_not_steer_the_classification() -> None:
    image = "127.0.0.1:5/acme/not-found:denied"
    stderr = (
        f"Error: initializing source docker://{image}: reading manifest denied in "
        '127.0.0.1:5/acme/not-found: Get "http://127.0.0.1:5/v2/": connect: connection refused'
    )
    assert classify_pull_error(stderr, image) is PullFailureReason.REGISTRY_UNAVAILABLE


def test_reprs_hide_secrets() -> None:
    text = f"{spec()!r} {AUTH!r} {AUTH}"
    assert PASSWORD not in text
    assert "hunter2-secret" not in text
    assert "srv-abc-dep-1" in text


def test_spec_mappings_are_frozen_copies() -> None:
    env = {"A": "1"}
    s = spec(env=env)
    env["A"] = "2"
    assert s.env["A"] == "1"
    with pytest.raises(TypeError):
        s.env["A"] = "3"  # type: ignore[index]


# --- inspect ---------------------------------------------------------------------------------

# `podman container inspect` (4.3), trimmed; captured in the sandbox.
PODMAN_EXITED = {
    "Id": "9d7f1ed41926a7c8c84fb04579ea3e2e02aea8c1ca241c798a1c9dcf7c408666",
    "Created": "2026-11-27T14:03:12.724468617Z",
    "State": {
        "OciVersion": "1.0.2-dev",
        "Status": "exited",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 3,
        "Error": "",
        "StartedAt": "2026-11-27T14:03:12.828515612Z",
        "FinishedAt": "2026-11-27T14:03:12.925617073Z",
        "Health": {"Status": "", "FailingStreak": 0, "Log": None},
        "CheckpointedAt": "0001-01-01T00:00:00Z",
        "RestoredAt": "0001-01-01T00:00:00Z",
    },
    "Name": "lg1",
    "Config": {"Labels": {"imagedeploy.test": "1"}, "StopTimeout": 10},
    "NetworkSettings": {"Ports": {"10000/tcp": None}},
}
PODMAN_CREATED = {
    "Id": "75597aaf63e63c64d065311b5486cea33e56861bd8ad651cd6d1ee262bd7c630",
    "Name": "cr1",
    "State": {
        "Status": "created",
        "Running": False,
        "OOMKilled": False,
        "ExitCode": 0,
        "StartedAt": "0001-01-01T00:00:00Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
    },
    "Config": {"Labels": None},
    "NetworkSettings": {"Ports": {"10000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "36221"}]}},
}
# `docker container inspect` (Docker 24-28), trimmed.
DOCKER_OOM = {
    "Id": "4fa6e0f0c6786287e131c3852c58a2e01cc697a68231826813597e4994f1d6e2",
    "Created": "2025-05-30T10:00:00.123456789Z",
    "Path": "/bin/sh",
    "Args": ["-c", "x"],
    "State": {
        "Status": "exited",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": True,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 137,
        "Error": "",
        "StartedAt": "2025-05-30T10:00:01.5Z",
        "FinishedAt": "2025-05-30T10:00:03.25Z",
    },
    "Name": "/srv-abc-1",
    "Config": {"Labels": {"imagedeploy.service": "srv-abc"}},
    "HostConfig": {"PortBindings": {"10000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}},
    "NetworkSettings": {
        "Ports": {
            "10000/tcp": [
                {"HostIp": "127.0.0.1", "HostPort": "32768"},
                {"HostIp": "::1", "HostPort": "32768"},
            ]
        }
    },
}
DOCKER_RUNNING = {
    "Id": "5b2c",
    "Name": "/srv-abc-2",
    "State": {
        "Status": "running",
        "Running": True,
        "Paused": False,
        "OOMKilled": False,
        "ExitCode": 0,
        "StartedAt": "2025-05-30T10:00:01.5Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
    },
    "Config": {"Labels": {"imagedeploy.service": "srv-abc"}},
    "NetworkSettings": {"Ports": {}},
}


def test_parse_podman_inspect() -> None:
    exited = parse_container(PODMAN_EXITED)
    assert (exited.id, exited.name, exited.status) == (PODMAN_EXITED["Id"], "lg1", "exited")
    assert (exited.running, exited.exit_code, exited.oom_killed) == (False, 3, False)
    assert exited.labels == {"imagedeploy.test": "1"}
    assert exited.started_at is not None and exited.started_at.isoformat() == (
        "2026-11-27T14:03:12.828515+00:00"
    )
    assert exited.finished_at is not None and exited.finished_at > exited.started_at

    created = parse_container(PODMAN_CREATED)
    assert (created.running, created.exit_code, created.status) == (False, None, "created")
    assert (created.started_at, created.finished_at, created.labels) == (None, None, {})


def test_parse_docker_inspect() -> None:
    oom = parse_container(DOCKER_OOM)
    assert oom.name == "srv-abc-1"  # docker's leading slash is dropped
    assert (oom.running, oom.exit_code, oom.oom_killed) == (False, 137, True)
    running = parse_container(DOCKER_RUNNING)
    assert (running.running, running.exit_code, running.finished_at) == (True, None, None)


# --- the docker dialect ---------------------------------------------------------------------------


def test_docker_pull_from_a_private_registry_carries_the_credentials_only_in_the_header(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    make_engine("docker").pull(IMAGE, AUTH)
    pull = server.one("POST /v1.41/images/create")
    header = json.loads(base64.urlsafe_b64decode(pull.headers["X-Registry-Auth"]))
    # docker's serveraddress for a registry other than Docker Hub is its host, as podman's
    assert header == {"username": "robot", "password": PASSWORD, "serveraddress": AUTH.registry}
    assert PASSWORD not in str(pull.url) and not pull.content
    assert server.find("POST /libpod/images/pull") == []


def test_docker_pull_of_a_tag_names_the_tag_in_from_image(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    tagged = "registry.example:5000/team/web:1.0"
    server.on(
        "GET /images/registry.example:5000/team/web:1.0/json",
        httpx.Response(200, json={"Id": "sha256:1", "Os": "linux", "Architecture": "amd64"}),
    )
    make_engine("docker").pull(tagged)
    params = dict(server.one("POST /images/create").url.params)
    assert params == {"fromImage": tagged, "platform": "linux/amd64"}


def test_docker_pull_errors_in_the_stream_are_classified_without_the_secret(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    # docker answers 200 and reports the failure in the progress stream (errorDetail)
    message = f"Head https://registry.example:5000/v2/team/web: unauthorized ({PASSWORD})"
    stream = json.dumps({"errorDetail": {"message": message}, "error": message}) + "\n"
    server.on("POST /images/create", httpx.Response(200, text=stream))
    with pytest.raises(EnginePullError) as caught:
        make_engine("docker").pull(IMAGE, AUTH)
    assert caught.value.reason is PullFailureReason.UNAUTHORIZED
    assert PASSWORD not in caught.value.message


def test_docker_logs_are_demultiplexed_only_when_the_engine_says_so(
    server: FakeEngineServer, make_engine: Callable[..., EngineApi]
) -> None:
    frame = bytes([1, 0, 0, 0]) + (6).to_bytes(4, "big") + b"hello\n"

    def answer(content: bytes, content_type: str) -> None:
        headers = {"content-type": content_type}
        # an iterator: a streamed body, as from a socket (bytes would count as read already)
        server.on(
            "GET /logs", lambda _: httpx.Response(200, content=iter([content]), headers=headers)
        )

    answer(frame, "application/vnd.docker.multiplexed-stream")
    assert make_engine("docker").logs("c1") == "hello\n"
    # a TTY container's output is raw on docker (podman always frames it)
    answer(b"raw output\n", "application/vnd.docker.raw-stream")
    assert make_engine("docker").logs("c1") == "raw output\n"
    answer(frame, "application/vnd.docker.raw-stream")
    assert make_engine("podman").logs("c1") == "hello\n"


def test_the_kind_is_asked_once_at_first_use_not_at_construction(
    server: FakeEngineServer,
) -> None:
    server.on("GET /version", httpx.Response(200, json={"Components": [{"Name": "Engine"}]}))
    engine = EngineApi(transport=httpx.MockTransport(server))
    assert server.find("GET /version") == []  # constructing never waits for the engine
    assert engine.kind == "docker"
    assert engine.kind == "docker"
    assert len(server.find("GET /version")) == 1
