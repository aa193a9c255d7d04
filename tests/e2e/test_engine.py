"""EngineApi against the real engine's API (podman here) and the real test registry: pull + run +
HTTP, command override, env and credentials only in request bodies and headers, classified pull
failures, stop timeouts, OOM, and private networks with aliases."""

from __future__ import annotations

import re
import socket
import time
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from devkit.serve import wait_for
from imagedeploy.adapters.local.engine import (
    EngineError,
    EnginePullError,
    PortBinding,
    RegistryAuth,
)
from imagedeploy.adapters.local.engine_api import EngineApi
from imagedeploy.domain.errors import PullFailureReason

if TYPE_CHECKING:
    from devkit.containers import Containers, RecordingTransport
    from devkit.images import ImagePusher, StandardImages
    from devkit.registry import RunningRegistry

pytestmark = pytest.mark.e2e

CGROUP_V2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()


def fetch(port: int, path: str = "/index.html") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return str(response.read().decode())


@pytest.fixture
def web_v1(test_images: StandardImages, anon_registry: RunningRegistry) -> str:
    return test_images.demo.web_v1.pinned_on(anon_registry.host)


def test_pull_run_and_serve_http(
    containers: Containers, test_images: StandardImages, web_v1: str, test_labels: dict[str, str]
) -> None:
    container_id, host_port = containers.web(web_v1, port=8080)
    assert fetch(host_port).strip() == test_images.demo.web_v1.text
    state = containers.engine.inspect(container_id)
    assert state is not None
    assert state.running and state.exit_code is None and state.status == "running"
    assert {k: state.labels[k] for k in test_labels} == test_labels
    assert state.started_at is not None
    assert [s.id for s in containers.engine.list(test_labels, all=False)].count(container_id) == 1


def test_command_override_exit_code_and_logs(containers: Containers, web_v1: str) -> None:
    engine = containers.engine
    container_id = containers.run(
        containers.spec(web_v1, command=("/bin/sh", "-c", "echo hi; echo oops >&2; exit 3"))
    )
    assert engine.wait(container_id, timeout=30) == 3
    state = engine.inspect(container_id)
    assert state is not None
    assert (state.running, state.exit_code, state.status) == (False, 3, "exited")
    assert state.finished_at is not None
    logs = engine.logs(container_id)
    assert "hi" in logs and "oops" in logs
    assert engine.logs(container_id, tail=1).strip() in {"hi", "oops"}
    engine.remove(container_id)
    assert engine.inspect(container_id) is None
    engine.remove(container_id)  # idempotent


def test_env_values_travel_only_in_the_create_body_and_arrive_byte_identical(
    containers: Containers,
    recording_engine: EngineApi,
    recorder: RecordingTransport,
    web_v1: str,
) -> None:
    secret = f"s3cret-{uuid.uuid4().hex}"
    multi = f"-----BEGIN KEY-----\n{uuid.uuid4().hex}\n-----END KEY-----"
    crlf = "line one\r\nline two\r"
    spec = containers.spec(
        web_v1,
        command=(
            "/bin/sh",
            "-c",
            'echo "token=$API_TOKEN"; echo "$PEM"; echo "spaces=[$SP]"; echo "crlf=$(printf %s "$CRLF" | od -An -tx1 | tr -d \' \\n\')"',
        ),
        env={"API_TOKEN": secret, "PEM": multi, "SP": "  a b  ", "CRLF": crlf},
    )
    container_id = containers.run(spec, recording_engine)
    assert recording_engine.wait(container_id, timeout=30) == 0
    logs = recording_engine.logs(container_id)
    assert f"token={secret}" in logs
    assert multi in logs
    assert "spaces=[  a b  ]" in logs
    assert f"crlf={crlf.encode().hex()}" in logs, logs  # byte-identical, \r and \n included

    (create,) = [r for r in recorder.requests if r.path.endswith("/containers/create")]
    assert secret in create.body.decode()
    others = [r for r in recorder.requests if r is not create]
    assert not any(secret in f"{r.path} {r.headers} {r.body!r}" for r in others)


def test_private_pull_with_credentials_then_wrong_password(
    recording_engine: EngineApi,
    recorder: RecordingTransport,
    basic_registry: RunningRegistry,
    test_images: StandardImages,
) -> None:
    creds = basic_registry.credentials
    assert creds is not None
    image = test_images.demo.web_v1.pinned_on(basic_registry.host)
    auth = RegistryAuth(basic_registry.host, creds.username, SecretStr(creds.password))

    engine = recording_engine
    engine.pull(image, auth, insecure=True)
    (pull,) = recorder.requests[-1:]
    assert "x-registry-auth" in pull.headers  # the only place the password travels
    assert creds.password not in f"{pull.path} {pull.body!r}"

    bad = RegistryAuth(basic_registry.host, creds.username, SecretStr(creds.password + "-wrong"))
    with pytest.raises(EnginePullError) as caught:
        engine.pull(image, bad, insecure=True)
    assert caught.value.reason is PullFailureReason.UNAUTHORIZED
    leaked = creds.password in f"{caught.value} {caught.value!r} {caught.value.args}"
    assert not leaked, "the password is in the error"  # (never let pytest print it)

    with pytest.raises(EnginePullError) as anonymous:
        engine.pull(image, None, insecure=True)
    assert anonymous.value.reason is PullFailureReason.UNAUTHORIZED


@pytest.mark.parametrize("missing", [":no-such-tag", "@sha256:" + "0" * 64])
def test_a_missing_tag_or_digest_is_not_found(
    engine: EngineApi, anon_registry: RunningRegistry, missing: str
) -> None:
    with pytest.raises(EnginePullError) as caught:
        engine.pull(f"{anon_registry.host}/demo/web{missing}", insecure=True)
    assert caught.value.reason is PullFailureReason.NOT_FOUND


def test_an_unreachable_registry_is_registry_unavailable(engine: EngineApi) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(EnginePullError) as caught:
        engine.pull(f"127.0.0.1:{port}/demo/web:1.0", insecure=True, timeout=60)
    assert caught.value.reason is PullFailureReason.REGISTRY_UNAVAILABLE


def test_an_arm64_only_image_is_wrong_platform(
    engine: EngineApi, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    # by tag: a pinned digest's platform is the preflight's to check (it resolved it)
    arm = test_images.demo.arm64_only
    with pytest.raises(EnginePullError) as caught:
        engine.pull(arm.ref_on(anon_registry.host), insecure=True)
    assert caught.value.reason is PullFailureReason.WRONG_PLATFORM
    assert "linux/arm64" in caught.value.message


def test_a_multi_arch_index_runs_its_amd64_image(
    containers: Containers, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    multi = test_images.demo.multi
    _, port = containers.web(multi.ref_on(anon_registry.host))
    assert fetch(port).strip() == multi.text


def test_stop_sends_sigkill_after_the_timeout(containers: Containers, web_v1: str) -> None:
    engine = containers.engine
    container_id = containers.run(
        containers.spec(web_v1, command=("/bin/sh", "-c", "trap '' TERM; echo ready; sleep 600"))
    )
    # it ignores SIGTERM from "ready" on (a stop before that would end it by SIGTERM)
    wait_for(lambda: "ready" in engine.logs(container_id), 20, "the trap", interval=0.05)
    started = time.monotonic()
    engine.stop(container_id, 2)
    elapsed = time.monotonic() - started
    state = engine.inspect(container_id)
    assert state is not None
    assert (state.running, state.exit_code) == (False, 137)  # SIGKILLed
    assert elapsed >= 1.9  # it ignored SIGTERM, so it had its full grace period


def test_with_init_sigterm_reaches_the_command(containers: Containers, web_v1: str) -> None:
    # Without --init, `sleep` as PID 1 would ignore SIGTERM and be killed after the timeout.
    engine = containers.engine
    spec = containers.spec(web_v1, command=("sleep", "600"), init=True, stop_timeout_seconds=30)
    container_id = containers.run(spec)
    started = time.monotonic()
    engine.stop(container_id, 30)
    state = engine.inspect(container_id)
    assert state is not None
    assert state.exit_code == 143  # 128 + SIGTERM
    assert time.monotonic() - started < 25


def test_oom_kill_is_reported(containers: Containers, web_v1: str) -> None:
    engine = containers.engine
    grow = 'x=a; while true; do x="$x$x"; done'
    spec = containers.spec(web_v1, command=("/bin/sh", "-c", grow), memory_bytes=8 * 1024 * 1024)
    container_id = containers.run(spec)
    assert engine.wait(container_id, timeout=60) == 137  # killed by the kernel
    state = engine.inspect(container_id)
    assert state is not None
    if not state.oom_killed and not CGROUP_V2:
        # The engine ran the container and the kernel killed it (137): only the OOM flag is
        # missing, because podman/runc do not get the OOM event from a cgroup v1 hierarchy in
        # this sandbox. A property of the host's kernel setup, not of the engine failing to
        # run containers; on cgroup v2 the flag is required.
        pytest.skip(
            f"{engine.kind} reports no OOMKilled for an OOM kill (exit 137) on this host's "
            "cgroup v1 hierarchy; the flag is checked on cgroup v2"
        )
    assert state.oom_killed


def test_containers_reach_each_other_by_alias_on_a_network(
    network: str,
    containers: Containers,
    test_images: StandardImages,
    web_v1: str,
    test_labels: dict[str, str],
) -> None:
    engine = containers.engine
    engine.ensure_network(network, labels=test_labels)  # idempotent
    server = containers.spec(
        web_v1, network=network, network_aliases=("backend", "backend.internal")
    )
    server_id = containers.run(server)
    server_state = engine.inspect(server_id)
    assert server_state is not None and server_state.running
    with pytest.raises(EngineError, match="no host port"):
        engine.host_port(server_id, 10000)  # nothing published
    fetch_script = (
        "for i in $(seq 1 100); do "
        "wget -q -O - http://backend.internal:10000/index.html && exit 0; sleep 0.1; done; exit 1"
    )
    client = containers.spec(web_v1, network=network, command=("/bin/sh", "-c", fetch_script))
    client_id = containers.run(client)
    assert engine.wait(client_id, timeout=60) == 0, engine.logs(client_id)
    assert test_images.demo.web_v1.text in engine.logs(client_id)


def test_a_start_failure_leaves_no_container(
    containers: Containers, web_v1: str, test_labels: dict[str, str]
) -> None:
    engine = containers.engine
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        spec = containers.spec(web_v1, publish=(PortBinding(10000, port),))
        with pytest.raises(EngineError) as caught:
            containers.run(spec)
        assert re.search(r"address already in use|bind", str(caught.value), re.I)
    assert [s for s in engine.list(test_labels) if s.name == spec.name] == []
    # the name is free again
    container_id, _ = containers.web(web_v1, name=spec.name)
    assert container_id


def test_throwaway_image_deleted_from_the_registry_is_not_found(
    containers: Containers,
    engine: EngineApi,
    image_pusher: ImagePusher,
    anon_registry: RunningRegistry,
) -> None:
    repo = f"scratch/{uuid.uuid4().hex[:12]}"
    pushed = image_pusher.push_docker_image(repo, "1.0", "doomed")
    image = pushed.pinned_on(anon_registry.host)
    engine.pull(image, insecure=True)
    image_pusher.delete_manifest(f"{repo}:1.0")
    # a stored pinned digest is used as it is: the create finds it, nothing is pulled
    container_id = containers.run(containers.spec(image, command=("/bin/sh", "-c", "exit 0")))
    assert engine.wait(container_id, timeout=30) == 0
    with pytest.raises(EnginePullError) as caught:
        engine.pull(image, insecure=True)  # an explicit pull always asks the registry
    assert caught.value.reason is PullFailureReason.NOT_FOUND
