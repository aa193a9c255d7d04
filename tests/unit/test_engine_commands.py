"""The command lines ContainerEngine builds (podman and docker), the private files it hands to
them, how it reads their JSON, and how pull failures are classified; driven by a recording fake
runner (tests/e2e/test_engine.py runs the same code against a real podman)."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr

from imagedeploy.adapters.local.engine import (
    CommandResult,
    ContainerEngine,
    ContainerSpec,
    EngineError,
    EngineKind,
    EnginePullError,
    EngineTimeout,
    PortBinding,
    RegistryAuth,
    classify_pull_error,
    parse_container,
    parse_host_port,
)
from imagedeploy.domain.errors import ImagePullError, PullFailureReason

pytestmark = pytest.mark.unit

IMAGE = "registry.example:5000/team/web@sha256:" + "ab" * 32
PASSWORD = "pa55-w0rd-do-not-print"
AUTH = RegistryAuth("registry.example:5000", "robot", SecretStr(PASSWORD))
AMD64 = json.dumps([{"Id": "sha256:1", "Os": "linux", "Architecture": "amd64"}])

Responder = CommandResult | Callable[[Sequence[str]], CommandResult]


@dataclass
class Call:
    argv: tuple[str, ...]
    env: dict[str, str]
    timeout: float
    merge_stderr: bool
    #: path -> (mode, text) of the private files named in the call, read while it ran
    files: dict[str, tuple[int, str]] = field(default_factory=dict)
    dir_modes: dict[str, int] = field(default_factory=dict)

    @property
    def words(self) -> tuple[str, ...]:
        return self.argv[1:]


class FakeRunner:
    """Records every call; answers from ``responses`` (longest matching command prefix)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.responses: dict[tuple[str, ...], Responder] = {
            ("image", "inspect"): CommandResult(0, AMD64, ""),
            ("create",): CommandResult(0, "c0ffee1234\n", ""),
            ("start",): CommandResult(0, "c0ffee1234\n", ""),
        }

    def on(self, *prefix: str, result: Responder) -> None:
        self.responses[prefix] = result

    def __call__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        timeout: float,
        merge_stderr: bool = False,
    ) -> CommandResult:
        call = Call(tuple(argv), dict(env), timeout, merge_stderr)
        paths = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--authfile", "--env-file")]
        if "DOCKER_CONFIG" in env and (Path(env["DOCKER_CONFIG"]) / "config.json").exists():
            paths.append(str(Path(env["DOCKER_CONFIG"]) / "config.json"))
        for path in paths:
            call.files[path] = (stat.S_IMODE(os.stat(path).st_mode), Path(path).read_text())
            parent = str(Path(path).parent)
            call.dir_modes[parent] = stat.S_IMODE(os.stat(parent).st_mode)
        self.calls.append(call)
        words = tuple(argv[1:])
        for n in range(len(words), 0, -1):
            responder = self.responses.get(words[:n])
            if responder is not None:
                return responder(argv) if callable(responder) else responder
        return CommandResult(0, "", "")

    def find(self, *prefix: str) -> list[Call]:
        return [c for c in self.calls if c.words[: len(prefix)] == prefix]

    def one(self, *prefix: str) -> Call:
        (call,) = self.find(*prefix)
        return call


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()


@pytest.fixture
def make_engine(runner: FakeRunner, tmp_path: Path) -> Callable[..., ContainerEngine]:
    def make(kind: EngineKind = "podman", **kwargs: object) -> ContainerEngine:
        # hermetic: never read the developer's own ~/.docker/config.json
        kwargs.setdefault("env", {"DOCKER_CONFIG": str(tmp_path / "no-docker-config")})
        return ContainerEngine(
            kind,
            kind=kind,
            runner=runner,
            temp_dir=str(tmp_path),
            **kwargs,  # type: ignore[arg-type]
        )

    return make


def no_secret_anywhere(calls: list[Call], *secrets: str) -> None:
    for call in calls:
        for secret in secrets:
            assert not any(secret in arg for arg in call.argv), call.argv
            assert not any(secret in value for value in call.env.values())


# --- detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "kind"),
    [
        ("podman version 4.3.1\n", "podman"),
        ("Docker version 28.2.2, build e6534b4\n", "docker"),
        ("podman version 5.0.2\n", "podman"),  # podman-docker's `docker` shim says podman
    ],
)
def test_kind_is_detected_from_version_output(runner: FakeRunner, version: str, kind: str) -> None:
    runner.on("--version", result=CommandResult(0, version, ""))
    engine = ContainerEngine("docker", runner=runner)
    assert engine.kind == kind
    assert runner.one("--version").argv == ("docker", "--version")


def test_an_unknown_binary_is_refused(runner: FakeRunner) -> None:
    runner.on("--version", result=CommandResult(0, "nerdctl version 1.0\n", ""))
    with pytest.raises(EngineError, match="neither podman nor docker"):
        ContainerEngine("nerdctl", runner=runner)


def test_podman_is_preferred_then_docker(runner: FakeRunner, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("podman", "docker"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": str(bin_dir)}
    assert ContainerEngine(env=env, kind="podman", runner=runner).binary == str(bin_dir / "podman")
    (bin_dir / "podman").unlink()
    assert ContainerEngine(env=env, kind="docker", runner=runner).binary == str(bin_dir / "docker")
    (bin_dir / "docker").unlink()
    with pytest.raises(EngineError, match="no container engine found"):
        ContainerEngine(env=env, runner=runner)


# --- pull ---------------------------------------------------------------------------------------


def test_podman_pull_uses_a_private_authfile_removed_afterwards(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    make_engine("podman").pull(IMAGE, AUTH, insecure=True)

    pull = runner.one("pull")
    assert pull.argv[:-3] == (
        "podman",
        "pull",
        "--quiet",
        "--platform",
        "linux/amd64",
        "--tls-verify=false",
    )
    assert pull.argv[-3] == "--authfile"
    assert pull.argv[-1] == IMAGE
    path = pull.argv[-2]
    mode, text = pull.files[path]
    assert mode == 0o600
    assert set(pull.dir_modes.values()) == {0o700}
    token = base64.b64encode(f"robot:{PASSWORD}".encode()).decode()
    assert json.loads(text) == {"auths": {"registry.example:5000": {"auth": token}}}
    assert not Path(path).exists()
    assert not Path(path).parent.exists()
    no_secret_anywhere(runner.calls, PASSWORD, token)
    # what was pulled is checked for linux/amd64
    assert runner.one("image", "inspect").argv == ("podman", "image", "inspect", IMAGE)


def test_anonymous_pull_ignores_the_hosts_own_logins(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    make_engine("podman").pull(IMAGE)
    pull = runner.one("pull")
    assert "--tls-verify=false" not in pull.argv
    assert [json.loads(text) for _, text in pull.files.values()] == [{"auths": {}}]


def test_docker_pull_uses_a_private_docker_config(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    make_engine("docker").pull(IMAGE, AUTH, insecure=True)

    pull = runner.one("pull")
    # docker has no per-pull TLS switch (the daemon decides; loopback is insecure by default)
    assert pull.argv == ("docker", "pull", "--quiet", "--platform", "linux/amd64", IMAGE)
    config_dir = pull.env["DOCKER_CONFIG"]
    mode, text = pull.files[f"{config_dir}/config.json"]
    assert mode == 0o600
    token = base64.b64encode(f"robot:{PASSWORD}".encode()).decode()
    assert json.loads(text) == {"auths": {"registry.example:5000": {"auth": token}}}
    assert not Path(config_dir).exists()
    assert runner.one("image", "inspect").env.get("DOCKER_CONFIG") != config_dir
    no_secret_anywhere(runner.calls, PASSWORD, token)


@pytest.mark.parametrize(
    ("kind", "registry", "key"),
    [
        ("podman", "docker.io", "docker.io"),
        ("podman", "registry-1.docker.io", "docker.io"),
        ("docker", "docker.io", "https://index.docker.io/v1/"),
        ("docker", "index.docker.io", "https://index.docker.io/v1/"),
        ("docker", "ghcr.io", "ghcr.io"),
    ],
)
def test_docker_hub_credentials_use_each_engines_key(
    runner: FakeRunner,
    make_engine: Callable[..., ContainerEngine],
    kind: EngineKind,
    registry: str,
    key: str,
) -> None:
    hub_image = "docker.io/library/alpine@sha256:" + "cd" * 32
    make_engine(kind).pull(hub_image, RegistryAuth(registry, "u", SecretStr("p")))
    (_, text) = next(iter(runner.one("pull").files.values()))
    assert list(json.loads(text)["auths"]) == [key]


def test_docker_keeps_the_users_current_context_and_nothing_else(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine], tmp_path: Path
) -> None:
    user_config = tmp_path / "user-docker"
    (user_config / "contexts").mkdir(parents=True)
    (user_config / "config.json").write_text(
        json.dumps(
            {
                "currentContext": "remote",
                "auths": {"other.example": {"auth": "c2VjcmV0"}},
                "credsStore": "desktop",
            }
        )
    )
    make_engine("docker", env={"DOCKER_CONFIG": str(user_config)}).pull(IMAGE)
    pull = runner.one("pull")
    (_, text) = next(iter(pull.files.values()))
    assert json.loads(text) == {"currentContext": "remote", "auths": {}}
    assert pull.env["DOCKER_CONFIG"] != str(user_config)


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


def test_a_failed_pull_raises_a_classified_error_without_the_secret(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine], tmp_path: Path
) -> None:
    echoed = f"Error: reading manifest: unauthorized: bad credentials robot:{PASSWORD}"
    runner.on("pull", result=CommandResult(125, "", f"Trying to pull...\n{echoed}\n"))
    with pytest.raises(EnginePullError) as caught:
        make_engine("podman").pull(IMAGE, AUTH)
    error = caught.value
    assert isinstance(error, ImagePullError)  # handled like a failed preflight
    assert error.reason is PullFailureReason.UNAUTHORIZED
    assert IMAGE in error.message
    assert PASSWORD not in f"{error} {error!r} {error.args}"
    assert list(tmp_path.iterdir()) == []  # auth file and its directory are gone
    assert not runner.find("image", "inspect")


def test_a_pull_that_times_out_is_registry_unavailable(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine], tmp_path: Path
) -> None:
    def hang(argv: Sequence[str]) -> CommandResult:
        raise subprocess.TimeoutExpired(list(argv), 3)

    runner.on("pull", result=hang)
    with pytest.raises(EnginePullError) as caught:
        make_engine("podman").pull(IMAGE, AUTH, timeout=3)
    assert caught.value.reason is PullFailureReason.REGISTRY_UNAVAILABLE
    assert "3 s" in caught.value.message
    assert isinstance(caught.value.__cause__, EngineTimeout)
    assert runner.one("pull").timeout == 3
    assert list(tmp_path.iterdir()) == []


def test_a_pulled_image_of_another_platform_is_refused_and_dropped(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    arm = json.dumps([{"Os": "linux", "Architecture": "arm64"}])
    runner.on("image", "inspect", result=CommandResult(0, arm, ""))
    with pytest.raises(EnginePullError) as caught:
        make_engine("podman").pull(IMAGE)
    assert caught.value.reason is PullFailureReason.WRONG_PLATFORM
    assert "linux/arm64" in caught.value.message
    assert runner.one("rmi").argv == ("podman", "rmi", IMAGE)


# --- run ----------------------------------------------------------------------------------------


def spec(**overrides: object) -> ContainerSpec:
    values: dict[str, object] = {
        "name": "srv-abc-dep-1",
        "image": IMAGE,
        "command": ("/app/server", "--port", "8080"),
        "env": {"PORT": "8080", "DB_PASSWORD": "hunter2-secret", "PEM": "-----\nline2\n-----"},
        "labels": {"imagedeploy.service": "srv-abc", "imagedeploy.deploy": "dep-1"},
        "network": "imagedeploy",
        "network_aliases": ("web-abc", "web-abc.internal"),
        "publish": (PortBinding(8080),),
        "cpus": 0.5,
        "memory_bytes": 536870912,
        "stop_timeout_seconds": 30,
        "auth": AUTH,
        "insecure_registry": False,
    }
    values.update(overrides)
    return ContainerSpec(**values)  # type: ignore[arg-type]


def expected_create(kind: str, env_file: str) -> tuple[str, ...]:
    return (
        kind,
        "create",
        "--platform",
        "linux/amd64",
        "--pull",
        "never",
        "--name",
        "srv-abc-dep-1",
        *(["--http-proxy=false"] if kind == "podman" else []),
        "--label",
        "imagedeploy.service=srv-abc",
        "--label",
        "imagedeploy.deploy=dep-1",
        "--network",
        "imagedeploy",
        "--network-alias",
        "web-abc",
        "--network-alias",
        "web-abc.internal",
        "-p",
        "127.0.0.1::8080",
        "--cpus",
        "0.5",
        "--memory",
        "536870912",
        "--memory-swap",
        "536870912",
        "--stop-timeout",
        "30",
        "--env-file",
        env_file,
        "-e",
        "PEM",
        IMAGE,
        "/app/server",
        "--port",
        "8080",
    )


@pytest.mark.parametrize("kind", ["podman", "docker"])
def test_run_pulls_then_creates_and_starts(
    runner: FakeRunner,
    make_engine: Callable[..., ContainerEngine],
    tmp_path: Path,
    kind: EngineKind,
) -> None:
    container_id = make_engine(kind).run(spec())

    assert container_id == "c0ffee1234"
    assert [c.words[0] for c in runner.calls] == ["pull", "image", "create", "start"]
    create = runner.one("create")
    env_file = create.argv[create.argv.index("--env-file") + 1]
    assert create.argv == expected_create(kind, env_file)
    mode, text = create.files[env_file]
    assert mode == 0o600
    assert text == "PORT=8080\nDB_PASSWORD=hunter2-secret\n"
    # the multi-line value travels in the CLI's environment, under its own name
    assert create.env["PEM"] == "-----\nline2\n-----"
    assert runner.one("start").argv == (kind, "start", "c0ffee1234")
    assert list(tmp_path.iterdir()) == []
    no_secret_anywhere(runner.calls, "hunter2-secret", PASSWORD)
    for call in runner.calls:
        assert not any("line2" in arg for arg in call.argv)


def test_without_a_command_the_image_cmd_runs_and_init_is_opt_in(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    engine = make_engine("podman")
    engine.run(spec(command=None, env={}, publish=(), network=None, cpus=None, memory_bytes=None))
    engine.run(spec(command=(), env={}, init=True, stop_timeout_seconds=5))
    plain, with_init = runner.find("create")
    assert plain.argv[-1] == IMAGE
    assert "--env-file" not in plain.argv
    assert "--init" not in plain.argv
    assert "--entrypoint" not in plain.argv
    assert not {"--network", "-p", "--cpus", "--memory"} & set(plain.argv)
    assert with_init.argv[-1] == IMAGE
    assert with_init.argv[-4:-1] == ("--stop-timeout", "5", "--init")


def test_a_container_that_fails_to_start_is_removed_by_id(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    runner.on(
        "start",
        result=CommandResult(
            125, "", "Error: rootlessport listen tcp 127.0.0.1:8080: bind: address already in use\n"
        ),
    )
    with pytest.raises(EngineError, match="address already in use"):
        make_engine("podman").run(spec())
    assert runner.one("rm").argv == ("podman", "rm", "-v", "-f", "-t", "0", "c0ffee1234")


def test_a_failed_create_leaves_nothing_to_remove(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine], tmp_path: Path
) -> None:
    runner.on(
        "create",
        result=CommandResult(
            125, "", 'Error: the container name "srv-abc-dep-1" is already in use'
        ),
    )
    with pytest.raises(EngineError, match="already in use"):
        make_engine("docker").run(spec())
    assert not runner.find("rm")
    assert list(tmp_path.iterdir()) == []  # env file removed


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"": "x"}, "invalid environment variable name"),
        ({"A=B": "x"}, "invalid environment variable name"),
        ({"A B": "x"}, "invalid environment variable name"),
        ({"A": "x\0y"}, "NUL"),
        ({"A*": "two\nlines"}, "one-line value"),
    ],
)
def test_bad_env_is_refused_before_any_command(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine], env: dict[str, str], match: str
) -> None:
    with pytest.raises(EngineError, match=match):
        make_engine("podman").run(spec(env=env))
    assert runner.calls == []


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


def test_port_binding_arguments() -> None:
    assert PortBinding(10000).as_arg() == "127.0.0.1::10000"
    assert PortBinding(80, 8080, "0.0.0.0").as_arg() == "0.0.0.0:8080:80"
    assert PortBinding(80, 8080, "::1").as_arg() == "[::1]:8080:80"


# --- stop, remove, logs, wait -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["podman", "docker"])
def test_stop_passes_the_timeout_and_waits_longer_itself(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine], kind: EngineKind
) -> None:
    make_engine(kind, command_timeout=20).stop("abc", 45)
    call = runner.one("stop")
    assert call.argv == (kind, "stop", "-t", "45", "abc")
    assert call.timeout == 65


def test_stop_and_remove_of_a_missing_container_are_no_ops(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    runner.on(
        "stop",
        result=CommandResult(
            125, "", 'Error: no container with name or ID "x" found: no such container'
        ),
    )
    runner.on("rm", result=CommandResult(1, "", "Error response from daemon: No such container: x"))
    engine = make_engine("podman")
    engine.stop("x", 1)
    engine.remove("x")
    runner.on("rm", result=CommandResult(125, "", "Error: cannot remove container x: device busy"))
    with pytest.raises(EngineError, match="device busy"):
        engine.remove("x")


@pytest.mark.parametrize(
    ("kind", "force", "argv"),
    [
        ("podman", True, ("podman", "rm", "-v", "-f", "-t", "0", "abc")),
        ("docker", True, ("docker", "rm", "-v", "-f", "abc")),
        ("podman", False, ("podman", "rm", "-v", "abc")),
    ],
)
def test_remove_kills_at_once_on_both_engines(
    runner: FakeRunner,
    make_engine: Callable[..., ContainerEngine],
    kind: EngineKind,
    force: bool,
    argv: tuple[str, ...],
) -> None:
    make_engine(kind).remove("abc", force=force)
    assert runner.one("rm").argv == argv


def test_logs_merge_both_streams(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    runner.on("logs", result=CommandResult(0, "out\nerr\n", ""))
    engine = make_engine("docker")
    assert engine.logs("abc", tail=50) == "out\nerr\n"
    assert engine.logs("abc") == "out\nerr\n"
    with_tail, without = runner.find("logs")
    assert with_tail.argv == ("docker", "logs", "--tail", "50", "abc")
    assert without.argv == ("docker", "logs", "abc")
    assert with_tail.merge_stderr


def test_wait_returns_the_exit_code_or_none_on_timeout(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    runner.on("wait", result=CommandResult(0, "3\n", ""))
    engine = make_engine("podman")
    assert engine.wait("abc", timeout=7) == 3
    assert runner.one("wait").timeout == 7

    def hang(argv: Sequence[str]) -> CommandResult:
        raise subprocess.TimeoutExpired(list(argv), 1)

    runner.on("wait", result=hang)
    assert engine.wait("abc", timeout=1) is None


def test_remove_image(runner: FakeRunner, make_engine: Callable[..., ContainerEngine]) -> None:
    engine = make_engine("podman")
    runner.on("rmi", result=CommandResult(125, "", "Error: q.example/a:1: image not known"))
    engine.remove_image(IMAGE)
    assert runner.one("rmi").argv == ("podman", "rmi", IMAGE)
    runner.on("rmi", result=CommandResult(2, "", "Error: image used by 9d7f: image is in use"))
    with pytest.raises(EngineError, match="in use"):
        engine.remove_image(IMAGE)


# --- inspect / list -----------------------------------------------------------------------------

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


def test_parse_host_port() -> None:
    assert parse_host_port(DOCKER_OOM, 10000) == 32768
    assert parse_host_port(PODMAN_CREATED, 10000) == 36221
    assert parse_host_port(PODMAN_EXITED, 10000) is None
    assert parse_host_port(DOCKER_RUNNING, 10000) is None


def test_inspect_and_host_port(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    runner.on("container", "inspect", result=CommandResult(0, json.dumps([PODMAN_CREATED]), ""))
    engine = make_engine("podman")
    state = engine.inspect("cr1")
    assert state is not None and state.name == "cr1"
    assert engine.host_port("cr1", 10000) == 36221
    with pytest.raises(EngineError, match="no host port for 80/tcp"):
        engine.host_port("cr1", 80)
    assert runner.find("container", "inspect")[0].argv == ("podman", "container", "inspect", "cr1")


@pytest.mark.parametrize(
    "result",
    [
        CommandResult(125, "[]\n", 'Error: no such container "nope"'),  # podman
        CommandResult(1, "[]\n", "Error: No such container: nope"),  # docker
    ],
)
def test_inspect_of_a_missing_container_is_none(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine], result: CommandResult
) -> None:
    runner.on("container", "inspect", result=result)
    assert make_engine("podman").inspect("nope") is None


def test_inspect_failure_is_an_error(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    runner.on("container", "inspect", result=CommandResult(125, "", "Error: database is locked"))
    with pytest.raises(EngineError, match="database is locked"):
        make_engine("podman").inspect("x")


def test_list_asks_ps_for_ids_then_inspects_them(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    runner.on("ps", result=CommandResult(0, "4fa6\n5b2c\n9d7f\n", ""))
    # one container vanished between ps and inspect: docker prints the others and fails
    runner.on(
        "container",
        "inspect",
        result=CommandResult(
            1,
            json.dumps([DOCKER_OOM, DOCKER_RUNNING, PODMAN_EXITED]),
            "Error: No such container: gone",
        ),
    )
    engine = make_engine("docker")
    states = engine.list({"imagedeploy.service": "srv-abc"}, all=True)
    assert [s.name for s in states] == ["srv-abc-1", "srv-abc-2"]  # labels re-checked
    ps = runner.one("ps")
    assert ps.argv == (
        "docker",
        "ps",
        "-q",
        "--no-trunc",
        "-a",
        "--filter",
        "label=imagedeploy.service=srv-abc",
    )
    assert runner.one("container", "inspect").argv[3:] == ("4fa6", "5b2c", "9d7f")
    running = engine.list({"imagedeploy.service": "srv-abc"}, all=False)
    assert [s.name for s in running] == ["srv-abc-2"]


def test_list_with_no_match_inspects_nothing(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    assert make_engine("podman").list({"a": "b"}) == []
    assert not runner.find("container", "inspect")


# --- networks -----------------------------------------------------------------------------------


def test_ensure_network_creates_only_when_missing_and_tolerates_a_race(
    runner: FakeRunner, make_engine: Callable[..., ContainerEngine]
) -> None:
    engine = make_engine("podman")
    engine.ensure_network("imagedeploy")  # inspect says it exists
    assert not runner.find("network", "create")

    runner.on("network", "inspect", result=CommandResult(125, "[]", "Error: network not found"))
    engine.ensure_network("imagedeploy", labels={"imagedeploy.test": "1"})
    assert runner.one("network", "create").argv == (
        "podman",
        "network",
        "create",
        "--label",
        "imagedeploy.test=1",
        "imagedeploy",
    )
    # another process created it between our inspect and our create
    for message in (
        "Error: network name imagedeploy already used: network already exists",  # podman
        "Error response from daemon: network with name imagedeploy already exists",  # docker
    ):
        inspections = iter(
            [CommandResult(125, "[]", "Error: not found"), CommandResult(0, "[]", "")]
        )
        runner.on("network", "inspect", result=lambda argv, it=inspections: next(it))
        runner.on("network", "create", result=CommandResult(125, "", message))
        engine.ensure_network("imagedeploy")
    runner.on("network", "inspect", result=CommandResult(125, "[]", "Error: network not found"))
    for message in (
        "Error: subnet exhausted",
        "Error: subnet 10.89.0.0/24 is already used on the host or by another config",
    ):
        runner.on("network", "create", result=CommandResult(125, "", message))
        with pytest.raises(EngineError, match="subnet"):
            engine.ensure_network("imagedeploy")


def test_engine_failures_to_start_the_cli_are_engine_errors(
    make_engine: Callable[..., ContainerEngine], runner: FakeRunner
) -> None:
    def missing(argv: Sequence[str]) -> CommandResult:
        raise FileNotFoundError(2, "No such file or directory")

    runner.on("ps", result=missing)
    with pytest.raises(EngineError, match="cannot run podman"):
        make_engine("podman").list({})
