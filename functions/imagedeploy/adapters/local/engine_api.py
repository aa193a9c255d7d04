"""``EngineApi``: the ``Engine`` port over the engine's REST API on its unix socket.

Why httpx and the Docker-compatible API (not the Docker SDK, not podman's bindings): httpx is
already a dependency, speaks HTTP over a unix socket (``HTTPTransport(uds=...)``) and streams;
podman serves the Docker-compatible API (``podman system service``) and docker serves it at
``/var/run/docker.sock``, so one small client drives both with one code path. The Docker SDK
would add a dependency and a second HTTP stack, and podman's bindings exist only for podman.
The one podman-specific call is the pull (``/libpod/images/pull``): the compatible pull
cannot switch TLS off for a plain-HTTP registry and reports errors less precisely.

Nothing here starts a process: the env of a container travels in the JSON body of ``create``,
registry credentials in the ``X-Registry-Auth`` header of one pull (base64 JSON, never logged),
so no user input reaches an argv or a process environment.

The docker path (same API at docker's socket) is written but untested here: no docker on the
development machine.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import json
import logging
import struct
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from imagedeploy.adapters.local.engine import (
    PLATFORM,
    ContainerSpec,
    ContainerState,
    EngineError,
    EngineEvent,
    EngineKind,
    EnginePullError,
    EngineStartError,
    EngineTimeout,
    RegistryAuth,
    all_labels,
    check_env,
    classify_pull_error,
    parse_container,
    scrub,
)
from imagedeploy.domain.errors import PullFailureReason

logger = logging.getLogger(__name__)

COMPAT = "/v1.41"  # the Docker API version both engines speak (podman 4, docker 20.10+)
LIBPOD = "/v4.0.0/libpod"
_DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# Podman's compatible API names some events differently from docker.
_ACTIONS = {"died": "die", "health_status": "health_status", "kill": "kill"}


def _filters(labels: Mapping[str, str], **more: builtins.list[str]) -> str:
    value: dict[str, builtins.list[str]] = {"label": [f"{k}={v}" for k, v in labels.items()]}
    value.update(more)
    return json.dumps(value)


def _message(response: httpx.Response) -> str:
    """The engine's own error message (``{"message": ...}`` on both engines), trimmed."""
    try:
        body = json.loads(response.read())
    except ValueError:
        body = None
    text = body.get("message") if isinstance(body, dict) else None
    return str(text or response.reason_phrase or f"HTTP {response.status_code}")[:400]


def _registry_auth_header(auth: RegistryAuth, kind: EngineKind) -> str:
    host = auth.registry.lower()
    if host in _DOCKER_HUB_HOSTS:
        host = "docker.io" if kind == "podman" else "https://index.docker.io/v1/"
    doc = {
        "username": auth.username,
        "password": auth.password.get_secret_value(),
        "serveraddress": host,
    }
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode("ascii")


def demultiplex(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The payloads of a multiplexed log stream (8-byte header: stream, 0, 0, 0, size BE),
    stdout and stderr interleaved in order; of a frame cut short at the end, what came of it."""
    frames = demultiplex_frames(chunks)
    while True:
        try:
            yield next(frames)[1]
        except StopIteration as end:
            if end.value:
                yield end.value[8:]
            return


def demultiplex_frames(chunks: Iterator[bytes]) -> Generator[tuple[int, bytes], None, bytes]:
    """``demultiplex`` keeping each payload's stream (1 stdout, 2 stderr); returns what is left
    of a frame cut short at the end."""
    buffer = b""
    for chunk in chunks:
        buffer = buffer + chunk if buffer else chunk
        at = 0  # an offset, not slicing per frame: a chunk holds hundreds of short lines
        while len(buffer) - at >= 8:
            size = struct.unpack_from(">I", buffer, at + 4)[0]
            if len(buffer) - at < 8 + size:
                break
            yield buffer[at], buffer[at + 8 : at + 8 + size]
            at += 8 + size
        buffer = buffer[at:]
    return buffer


def json_lines(chunks: Iterator[str]) -> Iterator[dict[str, Any]]:
    """JSON objects from a stream of newline-separated (or concatenated) documents."""
    decoder = json.JSONDecoder()
    buffer = ""
    for chunk in chunks:
        buffer += chunk
        while True:
            buffer = buffer.lstrip()
            if not buffer:
                break
            try:
                value, end = decoder.raw_decode(buffer)
            except ValueError:
                break
            buffer = buffer[end:]
            if isinstance(value, dict):
                yield value


class EngineApi:
    """Drives podman or docker through its REST API. Thread-safe (one httpx client, one
    connection pool); every call has a timeout.

    ``socket``: the engine's unix socket. ``kind``: skip detection (``GET /version``, else
    asked at the first use that needs it: constructing one never waits for the engine, whose
    first answer after a start can take a second).
    ``transport``: tests pass ``httpx.MockTransport`` (request-body tests) or a recording one.
    """

    def __init__(
        self,
        socket: str | None = None,
        *,
        kind: EngineKind | None = None,
        transport: httpx.BaseTransport | None = None,
        request_timeout: float = 60.0,
        pull_timeout: float = 900.0,
    ) -> None:
        if transport is None:
            if socket is None:
                raise EngineError("no engine socket given")
            # A unix socket carries no TLS: no verifying context (loading the CA bundle is slow).
            transport = httpx.HTTPTransport(uds=socket, verify=False)
        self.socket = socket
        self._timeout = request_timeout
        self._pull_timeout = pull_timeout
        self._http = httpx.Client(
            transport=transport, base_url="http://engine", timeout=request_timeout
        )
        self._known_kind: EngineKind | None = kind
        self._kind_lock = threading.Lock()

    @property
    def kind(self) -> EngineKind:
        return self._kind

    @property
    def _kind(self) -> EngineKind:
        if self._known_kind is None:
            with self._kind_lock:
                if self._known_kind is None:
                    self._known_kind = self._detect_kind()
        return self._known_kind

    def close(self) -> None:
        self._http.close()

    def _detect_kind(self) -> EngineKind:
        try:
            doc = self._json("GET", f"{COMPAT}/version", what="asking the engine its version")
        except EngineError as exc:
            raise EngineError(f"no container engine answers at {self.socket}: {exc}") from exc
        names = " ".join(str(c.get("Name", "")) for c in doc.get("Components") or [])
        return "podman" if "podman" in names.lower() else "docker"

    # --- HTTP ---------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        timeout: float | None = None,
        ok_missing: bool = False,
        **kwargs: Any,
    ) -> httpx.Response | None:
        """One request; ``None`` for a 404 when ``ok_missing``; EngineError otherwise."""
        started = time.monotonic()
        try:
            response = self._http.request(
                method, path, timeout=self._timeout if timeout is None else timeout, **kwargs
            )
        except httpx.TimeoutException as exc:
            raise EngineTimeout(f"{what} did not finish in time") from exc
        except httpx.HTTPError as exc:
            raise EngineError(f"{what} failed: the engine did not answer ({exc})") from exc
        logger.debug(
            "engine request done",
            extra={
                "engine_request": f"{method} {path.split('?')[0]}",
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000),
            },
        )
        if response.status_code == 404 and ok_missing:
            return None
        if response.status_code >= 400:
            raise EngineError(f"{what} failed: {_message(response)}")
        return response

    def _json(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        response = self._request(method, path, what=what, **kwargs)
        assert response is not None
        try:
            return response.json()
        except ValueError as exc:
            raise EngineError(f"{what}: the engine answered something that is not JSON") from exc

    # --- images -------------------------------------------------------------------------------

    def pull(
        self,
        image: str,
        auth: RegistryAuth | None = None,
        *,
        insecure: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Pull ``image`` for linux/amd64 from its registry with ``auth`` (or anonymously; the
        engine service ``serve`` starts has an empty auth file, so no host login is used).
        ``insecure`` allows plain HTTP (podman; docker decides by its daemon configuration and
        treats 127.0.0.0/8 as insecure). Raises ``EnginePullError`` with a classified reason."""
        limit = self._pull_timeout if timeout is None else timeout
        headers = {"X-Registry-Auth": _registry_auth_header(auth, self._kind)} if auth else {}
        if self._kind == "podman":
            params: dict[str, str] = {"reference": image, "os": "linux", "arch": "amd64"}
            # always: an explicit pull asks the registry (``run`` pulls only a missing image)
            params.update(policy="always", tlsVerify="false" if insecure else "true")
            path = f"{LIBPOD}/images/pull"
        else:
            name, _, digest = image.partition("@")
            params = {"fromImage": name, "platform": PLATFORM}
            if digest:
                params["tag"] = digest
            path = f"{COMPAT}/images/create"
        error = self._stream_pull(path, params, headers, image, limit, auth)
        if error is not None:
            reason = classify_pull_error(error, image)
            detail = scrub(error.strip().splitlines()[-1] if error.strip() else error, auth)
            logger.warning("image pull failed", extra={"image": image, "reason": reason.value})
            raise EnginePullError(
                reason, f"pulling {image} failed ({reason.value}): {detail[:400]}"
            )
        if "@sha256:" not in image:
            self._check_platform(image)  # a pinned digest's platform was checked by the preflight
        logger.info("image pulled", extra={"image": image})

    def _stream_pull(
        self,
        path: str,
        params: dict[str, str],
        headers: dict[str, str],
        image: str,
        limit: float,
        auth: RegistryAuth | None,
    ) -> str | None:
        """Run the pull; return the engine's error text, or None when it succeeded."""
        deadline = time.monotonic() + limit
        try:
            with self._http.stream(
                "POST", path, params=params, headers=headers, timeout=httpx.Timeout(limit)
            ) as response:
                if response.status_code >= 400:
                    return _message(response)
                for doc in json_lines(response.iter_text()):
                    text = doc.get("error") or (doc.get("errorDetail") or {}).get("message")
                    if text:
                        return str(text)
                    if time.monotonic() > deadline:
                        break
        except httpx.TimeoutException:
            pass
        except httpx.HTTPError as exc:
            return f"the engine did not answer ({exc})"
        else:
            if time.monotonic() <= deadline:
                return None
        raise EnginePullError(
            PullFailureReason.REGISTRY_UNAVAILABLE,
            f"pulling {image} did not finish within {limit:g} s",
        )

    def _check_platform(self, image: str) -> None:
        doc = self._json("GET", f"{COMPAT}/images/{quote(image, safe='')}/json", what="inspect")
        found = f"{doc.get('Os', '?')}/{doc.get('Architecture', '?')}"
        if found != PLATFORM:
            self.remove_image(image)  # do not keep an image that cannot run
            raise EnginePullError(
                PullFailureReason.WRONG_PLATFORM,
                f"image {image} is {found}, not {PLATFORM}; build with --platform={PLATFORM}",
            )

    def remove_image(self, image: str) -> None:
        """Delete the local copy of ``image``; a missing one is not an error."""
        self._request(
            "DELETE",
            f"{COMPAT}/images/{quote(image, safe='')}",
            what=f"removing image {image}",
            ok_missing=True,
        )

    # --- containers ---------------------------------------------------------------------------

    def run(self, spec: ContainerSpec) -> str:
        """Create and start the container; return its id. A pinned digest already stored is
        used as is (the create succeeds: two requests in all); otherwise, and for a tag, the
        image is pulled first."""
        check_env(spec.env)
        container_id = self._create(spec, missing_ok=True) if "@sha256:" in spec.image else None
        if container_id is None:
            self.pull(spec.image, spec.auth, insecure=spec.insecure_registry)
            container_id = self.create(spec)
        try:
            self.start(container_id)
        except EngineError as exc:
            self.remove(container_id, force=True)
            message = f"starting container {spec.name} failed: {exc.message}"
            raise EngineStartError(message) from exc
        logger.info(
            "container started",
            extra={"container": spec.name, "container_id": container_id[:12], "image": spec.image},
        )
        return container_id

    def create(self, spec: ContainerSpec) -> str:
        container_id = self._create(spec, missing_ok=False)
        assert container_id is not None
        return container_id

    def _create(self, spec: ContainerSpec, *, missing_ok: bool) -> str | None:
        """Create the container; ``None`` when ``missing_ok`` and its image is not stored."""
        check_env(spec.env)
        response = self._request(
            "POST",
            f"{COMPAT}/containers/create",
            params={"name": spec.name},
            json=create_body(spec),
            what=f"creating container {spec.name}",
            ok_missing=missing_ok,
        )
        if response is None:
            return None
        try:
            return str(response.json()["Id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise EngineError(f"creating container {spec.name}: no id in the answer") from exc

    def start(self, container: str) -> None:
        self._request("POST", f"{COMPAT}/containers/{container}/start", what="start")

    def stop(self, container: str, timeout_seconds: int) -> None:
        """SIGTERM (or the image's STOPSIGNAL), then SIGKILL after ``timeout_seconds``.
        Stopping a stopped or missing container is not an error."""
        self._request(
            "POST",
            f"{COMPAT}/containers/{container}/stop",
            params={"t": str(timeout_seconds)},
            timeout=timeout_seconds + self._timeout,
            what=f"stopping {container}",
            ok_missing=True,
        )

    def remove(self, container: str, *, force: bool = True) -> None:
        """Remove the container and its anonymous volumes; with ``force``, kill it first at
        once. Removing a missing container is not an error."""
        if force:
            # Kill first: a forced delete would give the container its stop timeout on podman.
            with contextlib.suppress(EngineError):  # not running (409) or missing: fine
                self._request("POST", f"{COMPAT}/containers/{container}/kill", what="kill")
        self._request(
            "DELETE",
            f"{COMPAT}/containers/{container}",
            params={"force": "true" if force else "false", "v": "true"},
            what=f"removing {container}",
            ok_missing=True,
        )

    def inspect(self, container: str) -> ContainerState | None:
        """The container's state, or ``None`` when it does not exist."""
        response = self._request(
            "GET",
            f"{COMPAT}/containers/{container}/json",
            what=f"inspecting {container}",
            ok_missing=True,
        )
        return None if response is None else parse_container(response.json())

    def list(
        self, label_filter: Mapping[str, str], *, all: bool = True
    ) -> builtins.list[ContainerState]:
        """Containers carrying every label in ``label_filter`` (stopped ones too with ``all``),
        in one request."""
        docs = self._json(
            "GET",
            f"{COMPAT}/containers/json",
            params={"all": "true" if all else "false", "filters": _filters(label_filter)},
            what="listing containers",
        )
        states = [parse_summary(doc) for doc in docs if isinstance(doc, dict)]
        return [s for s in states if all_labels(s.labels, label_filter)]

    def stream_logs(self, container: str, *, follow: bool = False) -> Iterator[bytes]:
        """The container's output as it comes (stdout and stderr interleaved); with
        ``follow``, until the container exits."""
        params = {"stdout": "true", "stderr": "true", "follow": "true" if follow else "false"}
        with self._open_logs(container, params, follow=follow) as (raw, multiplexed):
            yield from demultiplex(raw) if multiplexed else raw

    def stream_log_frames(
        self, container: str, *, follow: bool, since: float | None = None
    ) -> Iterator[tuple[int, bytes]]:
        """The container's output as (stream, payload) frames, 1 stdout and 2 stderr, each
        line prefixed with the engine's RFC 3339 timestamp; with ``follow``, until it exits;
        ``since``: only lines from that Unix time on."""
        params = {"stdout": "true", "stderr": "true", "timestamps": "true"}
        params["follow"] = "true" if follow else "false"
        if since is not None:
            params["since"] = f"{since:.6f}"
        with self._open_logs(container, params, follow=follow) as (raw, multiplexed):
            if not multiplexed:
                yield from ((1, chunk) for chunk in raw)
                return
            yield from demultiplex_frames(raw)

    @contextlib.contextmanager
    def _open_logs(
        self, container: str, params: Mapping[str, str], *, follow: bool
    ) -> Iterator[tuple[Iterator[bytes], bool]]:
        """The container's logs response, open: its raw chunks and whether they are
        multiplexed (podman's always are, whatever its content type says)."""
        with self._http.stream(
            "GET",
            f"{COMPAT}/containers/{container}/logs",
            params=params,
            timeout=httpx.Timeout(self._timeout, read=None if follow else self._timeout),
        ) as response:
            if response.status_code >= 400:
                raise EngineError(f"reading logs of {container} failed: {_message(response)}")
            multiplexed = "multiplexed" in response.headers.get("content-type", "") or (
                self._kind == "podman"
            )
            yield response.iter_raw(), multiplexed

    def logs(self, container: str, *, tail: int | None = None) -> str:
        """The container's output so far (last ``tail`` lines)."""
        text = b"".join(self.stream_logs(container)).decode(errors="replace")
        if tail is None:
            return text
        return "".join(text.splitlines(keepends=True)[-tail:]) if tail else ""

    def wait(self, container: str, timeout: float) -> int | None:
        """Block until the container exits and return its exit code; ``None`` on timeout."""
        try:
            doc = self._json(
                "POST",
                f"{COMPAT}/containers/{container}/wait",
                timeout=timeout,
                what=f"waiting for {container}",
            )
        except EngineTimeout:
            return None
        return int(doc.get("StatusCode", -1))

    def stats(self, container: str) -> dict[str, Any]:
        """One sample of the container's resource use (the engine's stats document)."""
        return dict(
            self._json(
                "GET",
                f"{COMPAT}/containers/{container}/stats",
                params={"stream": "false"},
                what=f"reading stats of {container}",
            )
        )

    def host_port(self, container: str, container_port: int) -> int:
        """The host port the engine published ``container_port``/tcp on."""
        response = self._request(
            "GET", f"{COMPAT}/containers/{container}/json", what="inspect", ok_missing=True
        )
        ports = ((response.json() if response else {}).get("NetworkSettings") or {}).get("Ports")
        for binding in (ports or {}).get(f"{container_port}/tcp") or []:
            host_port = str(binding.get("HostPort") or "")
            if host_port.isdigit() and int(host_port) > 0:
                return int(host_port)
        raise EngineError(f"{container} publishes no host port for {container_port}/tcp")

    # --- events -------------------------------------------------------------------------------

    def events(
        self, label_filter: Mapping[str, str], *, since: float | None = None
    ) -> Iterator[EngineEvent]:
        """Container events of containers carrying ``label_filter``, as they happen, over one
        connection (it ends when the engine closes it; the caller reconnects)."""
        params = {"filters": _filters(label_filter, type=["container"])}
        if since is not None:
            params["since"] = str(int(since))
        with self._http.stream(
            "GET",
            f"{COMPAT}/events",
            params=params,
            timeout=httpx.Timeout(self._timeout, read=None),
        ) as response:
            if response.status_code >= 400:
                raise EngineError(f"reading events failed: {_message(response)}")
            for doc in json_lines(response.iter_text()):
                actor = doc.get("Actor") or {}
                attributes = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}
                action = str(doc.get("Action") or doc.get("status") or "").split(":")[0]
                exit_code = attributes.get("exitCode") or attributes.get("containerExitCode")
                yield EngineEvent(
                    action=_ACTIONS.get(action, action),
                    container_id=str(actor.get("ID") or doc.get("id") or ""),
                    labels=attributes,
                    exit_code=int(exit_code)
                    if exit_code and exit_code.lstrip("-").isdigit()
                    else None,
                )

    # --- networks -----------------------------------------------------------------------------

    def ensure_network(self, name: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Create the bridge network ``name`` unless it exists (safe when two callers race)."""
        path = f"{COMPAT}/networks/{quote(name, safe='')}"
        if self._request("GET", path, what="", ok_missing=True) is not None:
            return
        try:
            self._request(
                "POST",
                f"{COMPAT}/networks/create",
                json={"Name": name, "Driver": "bridge", "Labels": dict(labels or {})},
                what=f"creating network {name}",
            )
        except EngineError:
            if self._request("GET", path, what="", ok_missing=True) is None:
                raise
            return  # lost a race with another creator: the network is there now
        logger.info("network created", extra={"network": name})

    def remove_network(self, name: str) -> None:
        self._request(
            "DELETE",
            f"{COMPAT}/networks/{quote(name, safe='')}",
            what=f"removing network {name}",
            ok_missing=True,
        )

    def list_networks(self, label_filter: Mapping[str, str]) -> builtins.list[str]:
        docs = self._json(
            "GET",
            f"{COMPAT}/networks",
            params={"filters": _filters(label_filter)},
            what="listing networks",
        )
        return [str(d.get("Name")) for d in docs if isinstance(d, dict)]


def create_body(spec: ContainerSpec) -> dict[str, Any]:
    """The ``POST /containers/create`` body for ``spec`` (Docker API; podman reads the same)."""
    host: dict[str, Any] = {"Init": spec.init}
    body: dict[str, Any] = {
        "Image": spec.image,
        "Env": [f"{key}={value}" for key, value in spec.env.items()],
        "Labels": dict(spec.labels),
        "StopTimeout": spec.stop_timeout_seconds,
        "HostConfig": host,
    }
    if spec.command:
        body["Cmd"] = list(spec.command)
    if spec.publish:
        body["ExposedPorts"] = {f"{b.container_port}/tcp": {} for b in spec.publish}
        host["PortBindings"] = {
            f"{b.container_port}/tcp": [
                {"HostIp": b.host_ip, "HostPort": str(b.host_port) if b.host_port else ""}
            ]
            for b in spec.publish
        }
    if spec.network:
        host["NetworkMode"] = spec.network
        body["NetworkingConfig"] = {
            "EndpointsConfig": {spec.network: {"Aliases": list(spec.network_aliases)}}
        }
    if spec.cpus is not None:
        host["NanoCpus"] = round(spec.cpus * 1e9)
    if spec.memory_bytes is not None:
        # Swap limit = memory limit: no swap, as on Fargate.
        host["Memory"] = spec.memory_bytes
        host["MemorySwap"] = spec.memory_bytes
    return body


def parse_summary(doc: Mapping[str, Any]) -> ContainerState:
    """One element of ``GET /containers/json`` (both engines: ``State`` is a word there)."""
    state = str(doc.get("State") or "").lower()
    names = doc.get("Names") or [""]
    return ContainerState(
        id=str(doc.get("Id") or ""),
        name=str(names[0]).lstrip("/"),
        labels={str(k): str(v) for k, v in (doc.get("Labels") or {}).items()},
        running=state in {"running", "paused"},
        exit_code=None,
        oom_killed=False,
        started_at=None,
        finished_at=None,
        status=state,
        created_at=_created(doc.get("Created")),
    )


def _created(value: object) -> datetime | None:
    """``Created`` of a list item: Unix seconds (Docker, podman's compat API)."""
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None
