"""Run CNCF distribution 2.8 (Debian's ``docker-registry``) on loopback for tests.

Three flavours share ONE storage directory, so an image pushed through any of them is visible
on all of them:

- ``anonymous``: no auth, read/write (fixtures push the test images through it);
- ``basic``: htpasswd with a bcrypt entry for :data:`TEST_USER`;
- ``token``: Bearer tokens from :class:`devkit.token_server.TokenServer`.

Sharing storage safely needs: no in-memory blob descriptor cache (omit ``storage.cache``; with
it, one process would keep serving a blob or manifest that another process deleted), the same
``http.secret`` (upload state is HMAC-signed with it), deletes enabled, and no upload purging
(a background walk that would race between processes).

Each process writes its stdout and stderr (application log + access log) to
``<workdir>/<flavour>.log`` (see :attr:`RunningRegistry.log_path`). Access-log lines look like
``127.0.0.1 - - [..] "GET /v2/demo/web/manifests/1.0 HTTP/1.1" 200 1234 "" "ua"``; parse them
with :meth:`RunningRegistry.access_log`. They are written just after the response, so poll
(:meth:`RunningRegistry.wait_for_access_log`) rather than read once; to count a client's
requests exactly, prefer a :class:`devkit.fault_proxy.FaultProxy` in front.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import bcrypt
import httpx

from devkit.regclient import Credentials

REGISTRY_BINARY = "docker-registry"
Flavour = Literal["anonymous", "basic", "token"]

#: The user known to the htpasswd file and to the token server.
TEST_USER = Credentials("imagedeploy-tester", "imagedeploy-test-password-9f3c2e71")
BASIC_REALM = "imagedeploy-test-basic"
#: Shared by all processes: upload state is HMAC'd with it (not a real secret).
HTTP_SECRET = "imagedeploy-tests-upload-state"  # noqa: S105 - see above

START_TIMEOUT = 20.0
_ACCESS_LINE = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) (?P<size>\d+|-)'
)


class RegistryStartError(RuntimeError):
    pass


@dataclass(frozen=True)
class TokenAuth:
    """The ``auth.token`` section of a registry config."""

    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


@dataclass(frozen=True)
class AccessLogEntry:
    method: str
    path: str  #: path and query as logged
    status: int


@dataclass
class RunningRegistry:
    """A started ``docker-registry serve`` process.

    ``host`` is ``"127.0.0.1:PORT"`` (what goes in an image reference), ``base_url`` is
    ``"http://127.0.0.1:PORT"``. ``credentials`` is None for the anonymous flavour.
    """

    flavour: Flavour
    host: str
    base_url: str
    credentials: Credentials | None
    log_path: Path
    config_path: Path
    storage: Path
    token_service: str | None = None  #: ``service`` of the token flavour's challenges
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def ref(self, reference: str) -> str:
        """``"demo/web:1.0"`` -> ``"127.0.0.1:PORT/demo/web:1.0"``."""
        return f"{self.host}/{reference}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def access_log(self) -> list[AccessLogEntry]:
        return [
            AccessLogEntry(m["method"], m["path"], int(m["status"]))
            for m in _ACCESS_LINE.finditer(self.log_text())
        ]

    def wait_for_access_log(
        self, predicate: Callable[[list[AccessLogEntry]], bool], timeout: float = 5.0
    ) -> list[AccessLogEntry]:
        """Poll the access log until ``predicate(entries)`` holds; returns the entries."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.access_log()
            if predicate(entries):
                return entries
            if time.monotonic() > deadline:
                raise TimeoutError(f"access log of {self.flavour} never matched ({self.log_path})")
            time.sleep(0.02)

    def stop(self) -> None:
        """terminate -> wait -> kill -> wait; safe to call twice."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (start retries if it got taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_htpasswd(path: Path, credentials: Credentials) -> Path:
    # Cost 4 (bcrypt's minimum): the registry checks the hash on every request.
    hashed = bcrypt.hashpw(credentials.password.encode(), bcrypt.gensalt(rounds=4))
    path.write_text(f"{credentials.username}:{hashed.decode()}\n")
    path.chmod(0o600)
    return path


def registry_config(
    port: int,
    storage: Path,
    *,
    htpasswd: Path | None = None,
    token: TokenAuth | None = None,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
            # no "cache" key: the blob descriptor cache must stay off (see module doc)
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": HTTP_SECRET},
        "health": {"storagedriver": {"enabled": False}},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": BASIC_REALM, "path": str(htpasswd)}}
    elif token is not None:
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(token.rootcertbundle),
            }
        }
    return config


def start_registry(
    flavour: Flavour,
    storage: Path,
    workdir: Path,
    *,
    credentials: Credentials | None = None,
    token: TokenAuth | None = None,
    attempts: int = 3,
) -> RunningRegistry:
    """Start one registry process and wait until ``/v2/`` answers.

    ``basic`` needs ``credentials`` (an htpasswd file is written for them); ``token`` needs
    ``token`` (and ``credentials`` only to expose them to tests). Raises
    :class:`RegistryStartError` with the log tail if the process does not come up.
    """
    binary = shutil.which(REGISTRY_BINARY)
    if binary is None:
        raise RegistryStartError(
            f"{REGISTRY_BINARY} not found: install the Debian package docker-registry (./dev setup)"
        )
    htpasswd = None
    if flavour == "basic":
        assert credentials is not None, "basic flavour needs credentials"
        htpasswd = write_htpasswd(workdir / "htpasswd", credentials)
    if flavour == "token":
        assert token is not None, "token flavour needs TokenAuth"
    # REGISTRY_* variables would override the config file; never inherit them.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    last_error = ""
    for _ in range(attempts):
        port = free_port()
        config_path = workdir / f"{flavour}.yml"
        config = registry_config(port, storage, htpasswd=htpasswd, token=token)
        # JSON is valid YAML, and avoids a YAML dependency.
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        log_path = workdir / f"{flavour}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [binary, "serve", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        registry = RunningRegistry(
            flavour=flavour,
            host=f"127.0.0.1:{port}",
            base_url=f"http://127.0.0.1:{port}",
            credentials=credentials,
            log_path=log_path,
            config_path=config_path,
            storage=storage,
            token_service=token.service if token else None,
            process=process,
        )
        try:
            _wait_ready(registry, process)
            return registry
        except RegistryStartError as exc:
            registry.stop()
            last_error = str(exc)
            if "address already in use" not in last_error:
                break
    raise RegistryStartError(last_error)


def _wait_ready(registry: RunningRegistry, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RegistryStartError(
                    f"{registry.flavour} registry exited with {process.returncode}:\n"
                    + registry.log_text()[-2000:]
                )
            try:
                client.get(f"{registry.base_url}/v2/")  # 200 or 401: it is serving
                return
            except httpx.TransportError:
                time.sleep(0.02)
    raise RegistryStartError(
        f"{registry.flavour} registry not ready after {START_TIMEOUT}s:\n"
        + registry.log_text()[-2000:]
    )
