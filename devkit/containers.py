"""Real containers for tests and benchmarks: the engine's sandbox settings, per-session labels,
the engine API service of a test session, a transport that records every API request, and a
helper that starts labelled test containers.

- ``ENGINE_ENV``: ``CONTAINERS_CONF=infra/containers.conf``, which the sandbox needs (runc,
  ulimits) and a normal host ignores.
- Every container and network a test makes carries ``imagedeploy.test=1`` and a per-session
  label (``TEST_LABELS``), so two sessions on one machine never remove each other's containers.
- ``RecordingTransport``: wraps the unix-socket transport and records every request (method,
  path, headers, body), to prove where secrets travel and to count engine calls.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from imagedeploy.adapters.local.engine import ContainerSpec, EngineError, PortBinding
from imagedeploy.adapters.local.engine_api import EngineApi
from imagedeploy.adapters.local.engine_service import EngineService
from imagedeploy.adapters.local.health import wait_healthy

REPO = Path(__file__).resolve().parents[1]
CONTAINERS_CONF = REPO / "infra" / "containers.conf"
ENGINE_ENV = {"CONTAINERS_CONF": str(CONTAINERS_CONF)}
SESSION = uuid.uuid4().hex[:10]
TEST_LABELS = {"imagedeploy.test": "1", "imagedeploy.test.session": SESSION}
_SESSION_FILTER = {"imagedeploy.test.session": SESSION}


@contextlib.contextmanager
def engine_service(parent_dir: Path | None = None) -> Iterator[EngineService]:
    """A podman API service of its own (started with ``ENGINE_ENV``), stopped on exit."""
    service = EngineService.open(parent_dir=parent_dir, environ={**os.environ, **ENGINE_ENV})
    try:
        yield service
    finally:
        service.stop()


def remove_session_leftovers(engine: EngineApi) -> None:
    """Remove every container and network this session labelled."""
    for state in engine.list(_SESSION_FILTER):
        with contextlib.suppress(EngineError):
            engine.remove(state.id)
    for network in engine.list_networks(_SESSION_FILTER):
        with contextlib.suppress(EngineError):
            engine.remove_network(network)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingTransport(httpx.BaseTransport):
    """The unix-socket transport, recording every request it sends."""

    socket: str
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._inner = httpx.HTTPTransport(uds=self.socket)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        self.requests.append(Request(request.method, request.url.path, dict(request.headers), body))
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()

    def text(self) -> str:
        """Every request as text (paths, queries, headers, bodies)."""
        return "\n".join(
            f"{r.method} {r.path} {r.headers} {r.body.decode(errors='replace')}"
            for r in self.requests
        )


_names = itertools.count(1)


@dataclass
class Containers:
    """Starts test containers (labelled, removed after the test)."""

    engine: EngineApi
    created: list[str] = field(default_factory=list)

    def spec(self, image: str, **overrides: object) -> ContainerSpec:
        values: dict[str, object] = {
            "name": f"idtest-{SESSION}-{next(_names)}",
            "image": image,
            "labels": TEST_LABELS,
            "insecure_registry": True,
            "stop_timeout_seconds": 1,
        }
        values.update(overrides)
        return ContainerSpec(**values)  # type: ignore[arg-type]

    def run(self, spec: ContainerSpec, engine: EngineApi | None = None) -> str:
        container_id = (engine or self.engine).run(spec)
        self.created.append(container_id)
        return container_id

    def web(self, image: str, *, port: int = 8080, **overrides: object) -> tuple[str, int]:
        """Run the test web image serving on ``port``, published on a free 127.0.0.1 port;
        return (container id, host port) once it answers HTTP."""
        env = {"PORT": str(port), **dict(overrides.pop("env", {}))}  # type: ignore[call-overload]
        spec = self.spec(image, env=env, publish=(PortBinding(port),), **overrides)
        container_id = self.run(spec)
        host_port = self.engine.host_port(container_id, port)
        assert wait_healthy("127.0.0.1", host_port, "/index.html", 20, 0.05), self.engine.logs(
            container_id
        )
        return container_id, host_port

    def remove_all(self) -> None:
        for container_id in self.created:
            with contextlib.suppress(EngineError):
                self.engine.remove(container_id)


def engine_only_path(directory: Path, engine: str = "podman") -> str:
    """A PATH holding the engine and nothing else: podman still finds its own helpers (conmon,
    runc, netavark: configured paths), but netavark finds no iptables, exactly as on a machine
    without the iptables package. The real failure, without uninstalling anything."""
    directory.mkdir(parents=True, exist_ok=True)
    found = shutil.which(engine)
    assert found is not None, f"{engine} is not installed"
    link = directory / engine
    if not link.exists():
        link.symlink_to(found)
    return str(directory)


# Where podman looks for netavark and aardvark-dns (containers.conf's default helper_binaries_dir).
_HELPER_DIRS = (
    "/usr/local/libexec/podman",
    "/usr/local/lib/podman",
    "/usr/libexec/podman",
    "/usr/lib/podman",
)


def conf_without_aardvark(directory: Path) -> Path:
    """``infra/containers.conf`` plus a helper_binaries_dir that holds netavark but no
    aardvark-dns: podman then runs containers without DNS, as where aardvark-dns (which netavark
    only recommends) is not installed."""
    helpers = directory / "helpers"
    helpers.mkdir(parents=True, exist_ok=True)
    netavark = next(
        (Path(d) / "netavark" for d in _HELPER_DIRS if (Path(d) / "netavark").exists()), None
    )
    assert netavark is not None, "netavark is not installed"
    if not (helpers / "netavark").exists():
        (helpers / "netavark").symlink_to(netavark)
    conf = directory / "containers.conf"
    text = CONTAINERS_CONF.read_text()
    assert "\n[engine]\n" in text
    conf.write_text(
        text.replace("\n[engine]\n", f'\n[engine]\nhelper_binaries_dir = ["{helpers}"]\n')
    )
    return conf
