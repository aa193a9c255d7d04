"""The container engine as the local runtime sees it: the ``Engine`` port, its value types and
errors, and the rules shared by every driver (``engine_api.EngineApi`` is the one real driver;
``devkit.fakes.FakeEngine`` stands in for it in unit tests).

Rules that make a local container behave like its Fargate twin and keep secrets safe:

- Always ``linux/amd64``, always the pinned ``repository@digest`` (docs/architecture.md §5.3).
  The preflight resolved that digest to the linux/amd64 manifest, so a digest already stored is
  used as is; a tag is pulled and its platform checked.
- Secrets never reach an argv, a process environment or a log: env values travel in the body of
  the create request, registry credentials in the ``X-Registry-Auth`` header of one pull.
- A pull that fails raises ``EnginePullError`` whose ``reason`` is a ``PullFailureReason``
  classified from the engine's message, so a pull failing at run time is reported exactly like a
  preflight failure.
- ``create`` + ``start``: when the start fails (port taken, bad command), the half-made container
  is removed by id, never by a name another container might own.
- The command override replaces the image's CMD and keeps its ENTRYPOINT (Render's
  ``dockerCommand``). There is no init process unless ``ContainerSpec.init`` asks for it: on
  Fargate (and Render) the image's process is PID 1 and receives SIGTERM itself.
"""

from __future__ import annotations

import base64
import builtins
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, Protocol

from pydantic import SecretStr

from imagedeploy.domain.errors import ImagedeployError, ImagePullError, PullFailureReason

PLATFORM = "linux/amd64"
EngineKind = Literal["podman", "docker"]

# --- errors -----------------------------------------------------------------------------------


class EngineError(ImagedeployError):
    """The container engine refused or failed an operation (the message says which and why)."""

    code = "engine_error"


class EngineTimeout(EngineError):
    """An engine command did not finish within its timeout (it was killed)."""

    code = "engine_timeout"


class EngineStartError(EngineError):
    """The container was created but would not start (its command, its ports, its mounts): a
    fact about the container, not a passing failure of the engine, so it is not retried."""

    code = "engine_start_failed"


class EnginePullError(EngineError, ImagePullError):
    """Pulling the image failed; ``reason`` classifies why, as a preflight failure would.

    It is also an ``ImagePullError``, so callers that report ``image_pull_failed`` handle a
    pull at run time and a failed preflight the same way.
    """

    code = "image_pull_failed"

    def __init__(self, reason: PullFailureReason, message: str) -> None:
        ImagePullError.__init__(self, reason, message)

    def __repr__(self) -> str:
        return f"EnginePullError({self.reason.value!r}, {self.message!r})"


# --- value types ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """A username/password (or token) for one registry host; ``repr`` hides the password."""

    registry: str
    username: str
    password: SecretStr


@dataclass(frozen=True, slots=True)
class PortBinding:
    """Publish ``container_port`` on ``host_ip:host_port`` (``host_port=0``: the engine picks;
    the runtime picks a free port itself so that it needs no inspect after the start)."""

    container_port: int
    host_port: int = 0
    host_ip: str = "127.0.0.1"


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to start one container.

    ``image`` is ``repository@sha256:<linux/amd64 manifest digest>``. ``command`` (exec form)
    replaces the image's CMD and keeps its ENTRYPOINT; ``None`` or empty keeps the CMD.
    ``env`` values are secrets: they are left out of ``repr`` and travel only in the create
    request's body (any bytes but NUL, newlines included).
    ``init`` runs a minimal init as PID 1; off by default, like Fargate.
    """

    name: str
    image: str
    command: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None
    network_aliases: tuple[str, ...] = ()
    publish: tuple[PortBinding, ...] = ()
    cpus: float | None = None
    memory_bytes: int | None = None
    stop_timeout_seconds: int = 30
    auth: RegistryAuth | None = None
    insecure_registry: bool = False
    init: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", _frozen(self.env))
        object.__setattr__(self, "labels", _frozen(self.labels))


@dataclass(frozen=True, slots=True)
class ContainerState:
    """What the engine reports about one container (from ``container inspect``).

    ``exit_code`` is ``None`` while the container runs or before it ever started.
    """

    id: str
    name: str
    labels: Mapping[str, str]
    running: bool
    exit_code: int | None
    oom_killed: bool
    started_at: datetime | None
    finished_at: datetime | None
    status: str
    created_at: datetime | None = None  # from a list (``Created``); inspect leaves it None


# --- pull failures ----------------------------------------------------------------------------

_R = PullFailureReason
_PULL_RULES: tuple[tuple[PullFailureReason, re.Pattern[str]], ...] = (
    (
        _R.WRONG_PLATFORM,
        re.compile(
            r"no matching manifest for|no match for platform"
            r"|does not (?:match|provide) the (?:specified|expected) platform"
            r"|no image found in (?:image index|manifest list) for architecture",
            re.I,
        ),
    ),
    (_R.RATE_LIMITED, re.compile(r"toomanyrequests|too many requests|rate limit|\b429\b", re.I)),
    (
        _R.UNAUTHORIZED,
        re.compile(
            r"unauthorized|authentication required|(?<!permission )denied|no basic auth credentials"
            r"|incorrect username or password|\b40[13]\b",
            re.I,
        ),
    ),
    (_R.INVALID_REFERENCE, re.compile(r"invalid reference format|repository name must", re.I)),
    (
        _R.NOT_FOUND,
        re.compile(r"manifest unknown|name unknown|not found|no such image|\b404\b", re.I),
    ),
    (
        _R.UNSUPPORTED_MANIFEST,
        re.compile(r"unsupported (?:manifest|media ?type)|unknown media ?type|schema ?1", re.I),
    ),
)


def _without_reference(text: str, image: str) -> str:
    """``text`` with the image reference and its parts blanked, so that a repository called
    ``acme/not-found`` or a tag ``denied`` cannot steer the classification."""
    name, _, digest = image.partition("@")
    repository, tag = name, ""
    if re.search(r":[^/]*$", name):
        repository, _, tag = name.rpartition(":")
    parts = {image, name, repository, repository.split("/", 1)[-1], tag, digest}
    parts.add(digest.partition(":")[2])
    for part in sorted(filter(None, parts), key=len, reverse=True):
        text = re.sub(rf"(?<![\w.-]){re.escape(part)}(?![\w.-])", "<image>", text)
    return text


def classify_pull_error(output: str, image: str = "") -> PullFailureReason:
    """Map a failed pull's engine output (podman or docker) to a ``PullFailureReason``.

    Anything not recognised (connection refused, DNS, TLS, 5xx, timeouts) is
    ``registry_unavailable``: the registry could not be used, and retrying later may help.
    """
    text = _without_reference(output, image) if image else output
    for reason, pattern in _PULL_RULES:
        if pattern.search(text):
            return reason
    return _R.REGISTRY_UNAVAILABLE


def scrub(text: str, auth: RegistryAuth | None) -> str:
    """Defence in depth: no engine message should echo a secret, but never let one through."""
    if auth is None:
        return text
    secret = auth.password.get_secret_value()
    for value in (secret, _basic_token(auth)):
        if value:
            text = text.replace(value, "***")
    return text


def _basic_token(auth: RegistryAuth) -> str:
    raw = f"{auth.username}:{auth.password.get_secret_value()}".encode()
    return base64.b64encode(raw).decode("ascii")


# --- parsing inspect output -------------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_container(doc: Mapping[str, Any]) -> ContainerState:
    """A ``GET /containers/{id}/json`` answer, podman or docker, as a ``ContainerState``."""
    state = doc.get("State") or {}
    config = doc.get("Config") or {}
    status = str(state.get("Status") or "").lower()
    running = bool(state.get("Running")) or bool(state.get("Paused"))
    started_at = _parse_time(state.get("StartedAt"))
    never_started = status in {"created", "configured", "initialized"} or (
        started_at is None and not running
    )
    exit_code = None if running or never_started else int(state.get("ExitCode") or 0)
    return ContainerState(
        id=str(doc.get("Id") or doc.get("ID") or ""),
        name=str(doc.get("Name") or "").lstrip("/"),
        labels=_frozen({str(k): str(v) for k, v in (config.get("Labels") or {}).items()}),
        running=running,
        exit_code=exit_code,
        oom_killed=bool(state.get("OOMKilled")),
        started_at=started_at,
        finished_at=_parse_time(state.get("FinishedAt")) if exit_code is not None else None,
        status=status,
    )


def check_env(env: Mapping[str, str]) -> None:
    """Refuse what no engine can carry: an empty name, '=' in a name, a NUL byte anywhere.
    (Names are otherwise as Render allows them; the domain validates them at the API.)"""
    for key, value in env.items():
        if not key or "=" in key or "\0" in key:
            raise EngineError(f"invalid environment variable name {key!r}")
        if "\0" in value:
            raise EngineError(f"the value of environment variable {key} contains a NUL byte")


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """One container event from the engine's event stream, normalised across engines:
    ``action`` is ``die``, ``oom``, ``stop``, ``start``, ``health_status`` (others pass through)."""

    action: str
    container_id: str
    labels: Mapping[str, str]
    exit_code: int | None = None


class Engine(Protocol):
    """The container operations the local runtime uses (``engine_api.EngineApi`` implements
    them over the engine's REST API; ``devkit.fake_engine.FakeEngine`` in memory)."""

    @property
    def kind(self) -> EngineKind: ...

    def pull(
        self,
        image: str,
        auth: RegistryAuth | None = None,
        *,
        insecure: bool = False,
        timeout: float | None = None,
    ) -> None: ...
    def run(self, spec: ContainerSpec) -> str: ...
    def stop(self, container: str, timeout_seconds: int) -> None: ...
    def remove(self, container: str, *, force: bool = True) -> None: ...
    def inspect(self, container: str) -> ContainerState | None: ...
    def list(
        self, label_filter: Mapping[str, str], *, all: bool = True
    ) -> builtins.list[ContainerState]: ...
    def logs(self, container: str, *, tail: int | None = None) -> str: ...
    def stream_logs(self, container: str, *, follow: bool = False) -> Iterator[bytes]: ...
    def wait(self, container: str, timeout: float) -> int | None: ...
    def host_port(self, container: str, container_port: int) -> int: ...
    def ensure_network(self, name: str, *, labels: Mapping[str, str] | None = None) -> None: ...
    def events(
        self, label_filter: Mapping[str, str], *, since: float | None = None
    ) -> Iterator[EngineEvent]: ...


def all_labels(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """True when ``labels`` has every key of ``wanted`` with the same value."""
    return all(labels.get(key) == value for key, value in wanted.items())
