"""The engine's API socket: the one configured (``container_engine_socket``), docker's when it is
there, else a ``podman system service`` that ``serve`` starts on a private socket and stops.

The service is the only process imagedeploy starts for the engine. Its argv is fixed and its
environment is a fixed minimal one (``PATH``, ``HOME``, ``CONTAINERS_CONF`` and, for rootless
podman, ``XDG_RUNTIME_DIR``, taken from the operator's environment; nothing from ``serve``'s
callers or the API reaches it). ``REGISTRY_AUTH_FILE`` points at an empty auth file of its own, so
pulls use only the credentials a request carries, never the host's logins.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from imagedeploy.adapters.local.engine import EngineError

logger = logging.getLogger(__name__)

DOCKER_SOCKET = "/var/run/docker.sock"
_KEPT_ENV = ("PATH", "HOME", "CONTAINERS_CONF")


def service_env(private_dir: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The fixed environment of the podman service (see the module docstring)."""
    source = dict(os.environ if environ is None else environ)
    env = {key: source[key] for key in _KEPT_ENV if source.get(key)}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if os.geteuid() != 0 and source.get("XDG_RUNTIME_DIR"):
        env["XDG_RUNTIME_DIR"] = source["XDG_RUNTIME_DIR"]
    env["REGISTRY_AUTH_FILE"] = str(private_dir / "auth.json")
    return env


def _answers(socket: str, timeout: float = 2.0) -> bool:
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=socket), timeout=timeout) as client:
            return client.get("http://engine/_ping").status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class EngineService:
    """Where the engine's API is, and the podman service process when this object started it."""

    socket: str
    process: subprocess.Popen[bytes] | None = None
    private_dir: Path | None = None
    _log: Path | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        socket: str | None = None,
        *,
        binary: str | None = None,
        parent_dir: Path | None = None,
        start_timeout: float = 30.0,
        environ: Mapping[str, str] | None = None,
    ) -> EngineService:
        """The configured socket; else start podman's service (``binary``: podman's path;
        ``environ``: the operator's environment it takes its few variables from, default
        ``os.environ``); else docker's socket; else a clear error."""
        if socket:
            path = socket.removeprefix("unix://")
            if not _answers(path):
                raise EngineError(f"no container engine answers at {path}")
            return cls(path)
        podman = shutil.which(binary or "podman")
        if podman is not None and "docker" not in Path(podman).name:
            return cls._start_podman(podman, parent_dir, start_timeout, environ)
        if Path(DOCKER_SOCKET).exists() and _answers(DOCKER_SOCKET):
            return cls(DOCKER_SOCKET)
        raise EngineError(
            "no container engine found: install podman (or run docker, or set "
            "IMAGEDEPLOY_CONTAINER_ENGINE_SOCKET to an engine's API socket)"
        )

    @classmethod
    def _start_podman(
        cls,
        podman: str,
        parent_dir: Path | None,
        start_timeout: float,
        environ: Mapping[str, str] | None,
    ) -> EngineService:
        if parent_dir is not None:
            parent_dir.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix="imagedeploy-engine-", dir=parent_dir))  # 0700
        (private / "auth.json").write_text(json.dumps({"auths": {}}))
        os.chmod(private / "auth.json", 0o600)
        socket = private / "podman.sock"
        log = private / "service.log"
        with log.open("wb") as output:
            process = subprocess.Popen(  # noqa: S603 - fixed argv, fixed env
                [podman, "system", "service", "--time=0", f"unix://{socket}"],
                env=service_env(private, environ),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of serve's terminal does not reach it
            )
        service = cls(str(socket), process, private, log)
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output_text = log.read_text(errors="replace")[-800:]
                service.stop()
                raise EngineError(f"podman system service exited: {output_text}")
            if socket.exists() and _answers(str(socket), 1.0):
                logger.info("podman API service started", extra={"socket": str(socket)})
                return service
            time.sleep(0.05)
        service.stop()
        raise EngineError(f"podman system service did not answer within {start_timeout:g} s")

    def stop(self) -> None:
        """Stop the service if this object started it (containers keep running: conmon owns
        them, not the service)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.private_dir is not None:
            shutil.rmtree(self.private_dir, ignore_errors=True)
