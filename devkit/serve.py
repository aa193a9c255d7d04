"""Run ``imagedeploy serve`` as a real process for end-to-end tests, and talk to it over HTTP.

``ServeProcess.start(data_dir)`` launches the console script with the sandbox's container
configuration, waits for the API, and reads the first API key from its output. ``stop()`` sends
SIGINT (a clean shutdown); ``kill()`` sends SIGKILL (a crash). ``remove_containers`` deletes the
containers of the services a test created (serve leaves containers running by design).

``running_serve(data_dir)`` and ``running_platform(data_dir)`` are the set-ups fixtures and
benchmarks share: a serve stopped on exit; a ``Platform`` on it whose serve is stopped and whose
services' containers are removed on exit.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devkit.containers import ENGINE_ENV

IMAGEDEPLOY = str(Path(sys.executable).parent / "imagedeploy")
_URL = re.compile(r"serving the API at (http://\S+)")
_KEY = re.compile(r"API key \(shown once, store it now\): (\S+)")
FINISHED = frozenset({"live", "deactivated", "update_failed", "pre_deploy_failed", "canceled"})
"""The statuses a deploy ends in."""


def private_data_dir(data_dir: Path) -> Path:
    """``data_dir`` as ``serve`` requires it: 0700 (serve refuses a looser one)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    return data_dir


def private_log(data_dir: Path) -> Path:
    """A new log file for serve's stderr inside its data dir, 0600 like everything there."""
    path = data_dir / f"serve-{time.monotonic_ns()}.log"
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 90,
    what: str = "condition",
    *,
    interval: float = 0.25,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class ServeProcess:
    data_dir: Path
    process: subprocess.Popen[str]
    url: str
    api_key: str
    output: list[str] = field(default_factory=list)
    log_path: Path | None = None

    @classmethod
    def start(
        cls,
        data_dir: Path,
        api_key: str | None = None,
        extra_env: dict[str, str] | None = None,
        engine_socket: str | None = None,
        verbosity: int = 1,
    ) -> ServeProcess:
        """``engine_socket``: drive that engine API socket (``serve --engine-socket``, e.g. a
        ``devkit.engine_fault`` proxy) instead of a podman service of serve's own.
        ``verbosity``: the number of ``-v`` (0: warnings only, as a user runs it; 1: info; 2:
        debug, with every engine command's duration)."""
        private_data_dir(data_dir)
        log_path = private_log(data_dir)
        env = {**os.environ, **ENGINE_ENV, **(extra_env or {})}
        flags = ["-" + "v" * verbosity] if verbosity else []
        argv = [IMAGEDEPLOY, *flags, "serve", "--data-dir", str(data_dir), "--port", "0"]
        process = subprocess.Popen(
            argv + (["--engine-socket", engine_socket] if engine_socket else []),
            stdout=subprocess.PIPE,
            stderr=log_path.open("w"),
            text=True,
            env=env,
        )
        output: list[str] = []
        found: dict[str, str] = {}
        assert process.stdout is not None
        stdout = process.stdout

        def read() -> None:
            for line in stdout:
                output.append(line)
                if m := _URL.search(line):
                    found["url"] = m.group(1)
                if m := _KEY.search(line):
                    found["key"] = m.group(1)

        threading.Thread(target=read, daemon=True).start()
        try:
            wait_for(
                lambda: "url" in found or process.poll() is not None,
                60,
                "serve to start",
                interval=0.01,  # the restart benchmark times this
            )
        except AssertionError:
            process.kill()  # a serve that never printed its URL is nobody's to stop
            raise
        if "url" not in found:
            raise AssertionError(f"serve exited: {log_path.read_text()[-3000:]}")
        if api_key is None:
            wait_for(lambda: "key" in found, 10, "the API key line")
        return cls(data_dir, process, found["url"], api_key or found["key"], output, log_path)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path else ""


@contextlib.contextmanager
def running_serve(data_dir: Path, **start: Any) -> Iterator[ServeProcess]:
    """``ServeProcess.start(data_dir, **start)``, stopped (SIGINT) on exit."""
    serve = ServeProcess.start(data_dir, **start)
    try:
        yield serve
    finally:
        serve.stop()


def refused_serve(data_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``serve`` on ``data_dir`` expecting it to refuse to start: its exit status and
    output (stderr is captured here, not in the data dir, which may be read-only or full)."""
    try:
        return subprocess.run(
            [IMAGEDEPLOY, "serve", "--data-dir", str(data_dir), "--port", "0"],
            capture_output=True,
            text=True,
            env={**os.environ, **ENGINE_ENV},
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"serve started on {data_dir} instead of refusing") from exc


def remove_containers(service_ids: set[str]) -> None:
    """Delete the containers of these services (podman, with the sandbox configuration)."""
    env = {**os.environ, **ENGINE_ENV}
    for service_id in service_ids:
        ids = subprocess.run(
            ["podman", "ps", "-aq", "--filter", f"label=imagedeploy.service={service_id}"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        ).stdout.split()
        if ids:
            subprocess.run(
                ["podman", "rm", "-f", "-t", "0", *ids], capture_output=True, env=env, check=False
            )


def containers_of(service_id: str, role: str = "instance", *, stopped: bool = False) -> list[str]:
    """The running containers of ``role`` of the service (with ``stopped``: existing ones)."""
    env = {**os.environ, **ENGINE_ENV}
    return subprocess.run(
        [
            "podman",
            "ps",
            "-q",
            *(["-a"] if stopped else []),
            "--filter",
            f"label=imagedeploy.service={service_id}",
            "--filter",
            f"label=imagedeploy.role={role}",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    ).stdout.split()


@dataclass
class Platform:
    """A running serve plus the helpers scenario tests share."""

    serve: ServeProcess
    http: httpx.Client
    owner_id: str
    created: set[str] = field(default_factory=set)

    @classmethod
    def on(cls, serve: ServeProcess) -> Platform:
        """A platform on ``serve``: its client and the owner serve made on its first start."""
        http = serve.client()
        return cls(serve, http, http.get("/v1/owners").json()[0]["owner"]["id"])

    def restart(self, **start: Any) -> ServeProcess:
        """Stop the serve (if the test has not stopped or killed it yet), start a new one on
        the same data dir with the same API key (``**start``: ``ServeProcess.start``'s
        options), and talk to that one from now on."""
        self.serve.stop()
        self.http.close()
        self.serve = ServeProcess.start(self.serve.data_dir, api_key=self.serve.api_key, **start)
        self.http = self.serve.client()
        return self.serve

    def close(self) -> None:
        """Stop the serve, close the client, remove the containers of the services made."""
        try:
            self.serve.stop()
            self.http.close()
        finally:
            remove_containers(self.created)

    def create_service(
        self,
        type_: str,
        name: str,
        image: str,
        *,
        env_vars: dict[str, str] | None = None,
        **details: Any,
    ) -> dict[str, Any]:
        """``details``: the ``serviceDetails`` (and ``credential_id``: the image's registry
        credential)."""
        credential = details.pop("credential_id", None)
        body: dict[str, Any] = {
            "type": type_,
            "name": name,
            "ownerId": self.owner_id,
            "image": {
                "ownerId": self.owner_id,
                "imagePath": image,
                **({"registryCredentialId": credential} if credential else {}),
            },
            "serviceDetails": {"runtime": "image", **details},
        }
        if env_vars:
            body["envVars"] = [{"key": k, "value": v} for k, v in env_vars.items()]
        r = self.http.post("/v1/services", json=body)
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        self.created.add(created["service"]["id"])
        return created

    def live_service(self, type_: str, name: str, image: str, **details: Any) -> str:
        """``create_service``, then its first deploy live (asserted): the service's id."""
        created = self.create_service(type_, name, image, **details)
        service_id: str = created["service"]["id"]
        assert self.wait_deploy(service_id, created["deployId"]) == "live"
        return service_id

    def deploy(self, service_id: str, deploy_id: str) -> dict[str, Any]:
        r = self.http.get(f"/v1/services/{service_id}/deploys/{deploy_id}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def wait_deploy(self, service_id: str, deploy_id: str, timeout: float = 120) -> str:
        def done() -> str | None:
            status = self.deploy(service_id, deploy_id)["status"]
            return status if status in FINISHED else None

        status: str = wait_for(done, timeout, f"deploy {deploy_id} to finish")
        return status

    def events(self, service_id: str) -> list[dict[str, Any]]:
        r = self.http.get(f"/v1/services/{service_id}/events", params={"limit": 100})
        assert r.status_code == 200, r.text
        return [item["event"] for item in reversed(r.json())]

    def event_types(self, service_id: str) -> list[str]:
        return [e["type"] for e in self.events(service_id)]

    def url_of(self, service_id: str) -> str:
        body = self.http.get(f"/v1/services/{service_id}").json()
        url: str = body["serviceDetails"]["url"]
        return url


@contextlib.contextmanager
def running_platform(data_dir: Path, **start: Any) -> Iterator[Platform]:
    """A ``Platform`` on ``ServeProcess.start(data_dir, **start)``; on exit its serve (the one
    it has then, after any ``restart``) is stopped and its services' containers are removed."""
    platform = Platform.on(ServeProcess.start(data_dir, **start))
    try:
        yield platform
    finally:
        platform.close()
