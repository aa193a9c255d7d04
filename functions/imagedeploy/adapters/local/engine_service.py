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
import threading
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
        # A unix socket carries no TLS: no verifying context (loading the CA bundle is slow).
        transport = httpx.HTTPTransport(uds=socket, verify=False)
        with httpx.Client(transport=transport, timeout=timeout) as client:
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
    _podman: str | None = field(default=None, repr=False)
    _start_timeout: float = field(default=30.0, repr=False)
    _environ: Mapping[str, str] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _waiting: bool = field(default=False, repr=False)  # spawned, not yet seen answering

    @classmethod
    def open(
        cls,
        socket: str | None = None,
        *,
        binary: str | None = None,
        parent_dir: Path | None = None,
        start_timeout: float = 30.0,
        environ: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> EngineService:
        """The configured socket; else start podman's service (``binary``: podman's path;
        ``environ``: the operator's environment it takes its few variables from, default
        ``os.environ``); else docker's socket; else a clear error. ``wait=False``: return as
        soon as podman's service is spawned (it starts while the caller does other work);
        ``ready`` then waits for it."""
        if socket:
            path = socket.removeprefix("unix://")
            if not _answers(path):
                raise EngineError(f"no container engine answers at {path}")
            return cls(path)
        podman = shutil.which(binary or "podman")
        if podman is not None and "docker" not in Path(podman).name:
            return cls._start_podman(podman, parent_dir, start_timeout, environ, wait)
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
        wait: bool,
    ) -> EngineService:
        if parent_dir is not None:
            parent_dir.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix="imagedeploy-engine-", dir=parent_dir))  # 0700
        (private / "auth.json").write_text(json.dumps({"auths": {}}))
        os.chmod(private / "auth.json", 0o600)
        socket = private / "podman.sock"
        service = cls(
            str(socket), None, private, private / "service.log", podman, start_timeout, environ
        )
        service._spawn()
        service._waiting = True
        if wait:
            service.ready()
        return service

    def ready(self) -> None:
        """Wait until the podman service this object spawned answers (once; a no-op for a
        socket it did not start). ``EngineError`` (the service stopped) when it does not."""
        with self._lock:
            if not self._waiting:
                return
            try:
                self._wait_answering()
            except EngineError:
                self._waiting = False
                self._stopped = True
                self._stop_process()
                raise
            self._waiting = False
        logger.info("podman API service started", extra={"socket": self.socket})

    def _spawn(self) -> None:
        assert self.private_dir is not None
        assert self._log is not None
        assert self._podman
        with self._log.open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, fixed env
                [self._podman, "system", "service", "--time=0", f"unix://{self.socket}"],
                env=service_env(self.private_dir, self._environ),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of serve's terminal does not reach it
            )

    def _wait_answering(self) -> None:
        assert self.process is not None
        assert self._log is not None
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output_text = self._log.read_text(errors="replace")[-800:]
                raise EngineError(f"podman system service exited: {output_text}")
            if Path(self.socket).exists() and _answers(self.socket, 1.0):
                return
            time.sleep(0.02)
        raise EngineError(f"podman system service did not answer within {self._start_timeout:g} s")

    def ensure_running(self) -> bool:
        """Start the podman service again, on the same socket, if this object started it and it
        has exited (the runtime calls this when its event stream drops). True when it was
        restarted."""
        with self._lock:
            if self._stopped or self.process is None or self.process.poll() is None:
                return False
            Path(self.socket).unlink(missing_ok=True)
            self._spawn()
            self._wait_answering()
        logger.warning("podman API service had exited; started again")
        return True

    def stop(self) -> None:
        """Stop the service if this object started it (containers keep running: conmon owns
        them, not the service)."""
        with self._lock:
            self._stopped = True
        self._stop_process()

    def _stop_process(self) -> None:
        """Stop the service process (if started here) and remove its private directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.private_dir is not None:
            shutil.rmtree(self.private_dir, ignore_errors=True)
