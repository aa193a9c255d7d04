"""``ContainerEngine``: a thin, typed driver of the podman or docker command line.

The local runtime runs every container through this class, so it carries the rules that make a
local container behave like its Fargate twin and keep secrets safe:

- Always ``linux/amd64``, always the pinned ``repository@digest`` pulled fresh right before the
  container is created (docs/architecture.md §5.3); the container itself is created with
  ``--pull never``.
- Secrets never reach an argv or a log: registry credentials go through a 0600 auth file in a
  private temporary directory (``--authfile`` for podman, ``DOCKER_CONFIG`` for docker), env
  values through a 0600 ``--env-file`` (multi-line values, which that format cannot carry,
  through the CLI's own environment with ``-e KEY``). Both files are removed right after use.
- A pull that fails raises ``EnginePullError`` whose ``reason`` is a ``PullFailureReason``
  classified from the engine's message, so a pull failing at run time is reported exactly like a
  preflight failure.
- ``create`` + ``start`` instead of ``run -d``: when the start fails (port taken, bad command),
  the half-made container is removed by id, never by a name another container might own.
- The command override replaces the image's CMD and keeps its ENTRYPOINT (Render's
  ``dockerCommand``): it is passed as the arguments after the image; ``--entrypoint`` is never
  used. There is no ``--init`` unless ``ContainerSpec.init`` asks for it: on Fargate (and Render)
  the image's process is PID 1 and receives SIGTERM itself, and stop behaviour must match.

Both engines print ``container inspect`` as a JSON array, which is parsed here (field spellings
and quirks differ slightly: docker's ``/name``, podman's ``configured`` status, zero times).
``ps`` output is *not* parsed: its JSON differs too much (docker prints one object per line with
labels joined into a string, and no exit code); ``list`` asks ``ps -q`` for ids and inspects them.
"""

from __future__ import annotations

import base64
import builtins
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol

from pydantic import SecretStr

from imagedeploy.domain.errors import ImagedeployError, ImagePullError, PullFailureReason

logger = logging.getLogger(__name__)

PLATFORM = "linux/amd64"
EngineKind = Literal["podman", "docker"]

_DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"  # the key docker's config.json uses for Hub
_MISSING = re.compile(
    r"no such (?:container|object|network|image)|not found|not known|unable to find", re.I
)
_EXISTS = re.compile(r"already exists|name \S+ already used", re.I)


# --- errors -----------------------------------------------------------------------------------


class EngineError(ImagedeployError):
    """The container engine refused or failed an operation (the message says which and why)."""

    code = "engine_error"


class EngineTimeout(EngineError):
    """An engine command did not finish within its timeout (it was killed)."""

    code = "engine_timeout"


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
    """Publish ``container_port`` on ``host_ip:host_port`` (``host_port=0``: the engine picks)."""

    container_port: int
    host_port: int = 0
    host_ip: str = "127.0.0.1"

    def as_arg(self) -> str:
        ip = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        host_port = str(self.host_port) if self.host_port else ""
        return f"{ip}:{host_port}:{self.container_port}"


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to start one container.

    ``image`` is ``repository@sha256:<linux/amd64 manifest digest>``. ``command`` (exec form)
    replaces the image's CMD and keeps its ENTRYPOINT; ``None`` or empty keeps the CMD.
    ``env`` values are secrets: they are left out of ``repr`` and never put on a command line.
    ``init`` runs a minimal init as PID 1 (``--init``); off by default, like Fargate.
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


# --- running commands -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    """Runs one engine command. Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds
    (having killed the process) and ``OSError`` when the binary cannot be started."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        timeout: float,
        merge_stderr: bool = False,
    ) -> CommandResult: ...


def subprocess_runner(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    merge_stderr: bool = False,
) -> CommandResult:
    """The real runner: ``subprocess.run`` with no shell, no stdin, output captured."""
    proc = subprocess.run(  # noqa: S603 - argv built by ContainerEngine, no shell
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        timeout=timeout,
        check=False,
        encoding="utf-8",
        errors="replace",
    )
    return CommandResult(proc.returncode, proc.stdout or "", proc.stderr or "")


def _error_text(result: CommandResult, limit: int = 400) -> str:
    """The engine's own error line: the last ``Error...`` line, else the last line, trimmed."""
    lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("error", "docker:"))]
    text = (errors or lines or [f"exit status {result.returncode}"])[-1]
    text = re.sub(r"^(?:docker:\s*)?(?:Error(?: response from daemon)?:\s*)", "", text)
    return text[:limit]


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


def _scrub(text: str, auth: RegistryAuth | None) -> str:
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
    """One element of ``container inspect`` output, podman or docker, as a ``ContainerState``."""
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


def _json_array(text: str) -> builtins.list[dict[str, Any]] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, builtins.list):
        return None
    return [item for item in value if isinstance(item, dict)]


def parse_host_port(doc: Mapping[str, Any], container_port: int) -> int | None:
    """The host port publishing ``container_port``/tcp in a ``container inspect`` element."""
    ports = (doc.get("NetworkSettings") or {}).get("Ports") or {}
    for binding in ports.get(f"{container_port}/tcp") or []:
        host_port = str(binding.get("HostPort") or "")
        if host_port.isdigit() and int(host_port) > 0:
            return int(host_port)
    return None


# --- private files ----------------------------------------------------------------------------


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 (never world-readable, not even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


@contextmanager
def _private_dir(parent: str | None) -> Iterator[Path]:
    """A 0700 temporary directory, removed on exit whatever happens."""
    path = tempfile.mkdtemp(prefix="imagedeploy-", dir=parent)
    try:
        yield Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _env_file_safe(key: str, value: str) -> bool:
    # The env-file format (both engines) is one KEY=VALUE per line, no quoting; '#' starts a
    # comment and a trailing '\r' is dropped.
    return not key.startswith("#") and "\n" not in value and not value.endswith("\r")


def _check_env(env: Mapping[str, str]) -> None:
    for key, value in env.items():
        if not key or "=" in key or "\0" in key or any(c.isspace() for c in key):
            raise EngineError(f"invalid environment variable name {key!r}")
        if "\0" in value:
            raise EngineError(f"the value of environment variable {key} contains a NUL byte")
        if not _env_file_safe(key, value) and "*" in key:
            # podman expands `-e NAME*` as a glob over its own environment.
            raise EngineError(
                f"environment variable {key!r}: a name with '*' needs a one-line value"
            )


# --- the engine -------------------------------------------------------------------------------


class ContainerEngine:
    """Drives podman (preferred) or docker through its CLI. Synchronous; thread-safe (no state
    besides configuration); every call has a timeout.

    ``binary``: the CLI to use (name or path); default: ``podman`` if found, else ``docker``.
    ``env``: extra environment for every command (e.g. ``CONTAINERS_CONF``, ``DOCKER_HOST``).
    ``kind``: skip detection (``podman --version``) when the binary's flavour is known.
    ``runner``: how commands run (tests inject a recording fake).
    ``temp_dir``: where the short-lived auth and env files are made (default: the system's).
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        kind: EngineKind | None = None,
        runner: CommandRunner = subprocess_runner,
        command_timeout: float = 60.0,
        pull_timeout: float = 900.0,
        temp_dir: str | None = None,
    ) -> None:
        self._env = dict(env or {})
        self._runner = runner
        self._command_timeout = command_timeout
        self._pull_timeout = pull_timeout
        self._temp_dir = temp_dir
        self._binary = binary or self._find_binary()
        self._kind: EngineKind = kind or self._detect_kind()

    @property
    def kind(self) -> EngineKind:
        return self._kind

    @property
    def binary(self) -> str:
        return self._binary

    def _find_binary(self) -> str:
        search_path = {**os.environ, **self._env}.get("PATH")
        for name in ("podman", "docker"):
            found = shutil.which(name, path=search_path)
            if found:
                return found
        raise EngineError("no container engine found: install podman (or docker)")

    def _detect_kind(self) -> EngineKind:
        result = self._exec(["--version"])
        text = f"{result.stdout} {result.stderr}".lower()
        if result.returncode == 0 and "podman" in text:
            return "podman"
        if result.returncode == 0 and "docker" in text:
            return "docker"
        raise EngineError(f"{self._binary} is neither podman nor docker: {_error_text(result)}")

    def _exec(
        self,
        args: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        merge_stderr: bool = False,
    ) -> CommandResult:
        argv = [self._binary, *args]
        limit = self._command_timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            result = self._runner(
                argv,
                env={**os.environ, **self._env, **(env or {})},
                timeout=limit,
                merge_stderr=merge_stderr,
            )
        except subprocess.TimeoutExpired as exc:
            raise EngineTimeout(f"`{args[0]}` did not finish within {limit:g} s") from exc
        except OSError as exc:
            raise EngineError(f"cannot run {self._binary}: {exc.strerror or exc}") from exc
        logger.debug(
            "engine command done",
            extra={
                "engine_command": args[0],
                "returncode": result.returncode,
                "duration_ms": round((time.monotonic() - started) * 1000),
            },
        )
        return result

    def _check(self, result: CommandResult, what: str) -> CommandResult:
        if result.returncode != 0:
            raise EngineError(f"{what} failed: {_error_text(result)}")
        return result

    # --- images -------------------------------------------------------------------------------

    def pull(
        self,
        image: str,
        auth: RegistryAuth | None = None,
        *,
        insecure: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Pull ``image`` for linux/amd64 with ``auth`` (or anonymously: the host's own logins
        are never used). ``insecure`` allows plain HTTP (podman ``--tls-verify=false``; docker
        decides per daemon configuration and already treats 127.0.0.0/8 as insecure).

        Raises ``EnginePullError`` with a classified reason.
        """
        args = ["pull", "--quiet", "--platform", PLATFORM]
        if insecure and self._kind == "podman":
            args.append("--tls-verify=false")
        limit = self._pull_timeout if timeout is None else timeout
        with self._auth_config(auth) as (auth_args, auth_env):
            try:
                result = self._exec([*args, *auth_args, image], timeout=limit, env=auth_env)
            except EngineTimeout as exc:
                raise EnginePullError(
                    _R.REGISTRY_UNAVAILABLE, f"pulling {image} did not finish within {limit:g} s"
                ) from exc
        if result.returncode != 0:
            reason = classify_pull_error(f"{result.stderr}\n{result.stdout}", image)
            detail = _scrub(_error_text(result), auth)
            logger.warning("image pull failed", extra={"image": image, "reason": reason.value})
            raise EnginePullError(reason, f"pulling {image} failed ({reason.value}): {detail}")
        self._check_platform(image)
        logger.info("image pulled", extra={"image": image})

    def _check_platform(self, image: str) -> None:
        # podman pulls a single-platform image of another architecture with only a warning,
        # and docker (classic store) may too: look at what was actually stored.
        result = self._check(self._exec(["image", "inspect", image]), f"inspecting {image}")
        docs = _json_array(result.stdout) or [{}]
        found = f"{docs[0].get('Os', '?')}/{docs[0].get('Architecture', '?')}"
        if found != PLATFORM:
            self._exec(["rmi", image])  # best effort: do not keep an image that cannot run
            raise EnginePullError(
                _R.WRONG_PLATFORM,
                f"image {image} is {found}, not {PLATFORM}; build with --platform={PLATFORM}",
            )

    def remove_image(self, image: str) -> None:
        """Delete the local copy of ``image``; a missing one is not an error, one still used by
        a container is. Only frees disk: pulls always go to the registry anyway."""
        result = self._exec(["rmi", image])
        if result.returncode != 0 and not _MISSING.search(result.stderr):
            raise EngineError(f"removing image {image} failed: {_error_text(result)}")

    @contextmanager
    def _auth_config(
        self, auth: RegistryAuth | None
    ) -> Iterator[tuple[builtins.list[str], dict[str, str]]]:
        """An isolated credentials config holding ``auth`` only (empty when ``None``)."""
        with _private_dir(self._temp_dir) as directory:
            auths: dict[str, Any] = {}
            if auth is not None:
                host = auth.registry.lower()
                if host in _DOCKER_HUB_HOSTS:
                    host = "docker.io" if self._kind == "podman" else _DOCKER_HUB_AUTH_KEY
                auths[host] = {"auth": _basic_token(auth)}
            if self._kind == "podman":
                path = directory / "auth.json"
                _write_private(path, json.dumps({"auths": auths}))
                yield ["--authfile", str(path)], {}
            else:
                config = {**self._docker_base_config(directory), "auths": auths}
                _write_private(directory / "config.json", json.dumps(config))
                yield [], {"DOCKER_CONFIG": str(directory)}

    def _docker_base_config(self, directory: Path) -> dict[str, Any]:
        """Keep the user's docker context (which daemon to talk to) in the temporary config."""
        env = {**os.environ, **self._env}
        source = Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker")
        try:
            current = json.loads((source / "config.json").read_text()).get("currentContext")
        except (OSError, ValueError, AttributeError):
            return {}
        if not current:
            return {}
        if (source / "contexts").is_dir():
            (directory / "contexts").symlink_to(source / "contexts")
        return {"currentContext": current}

    # --- containers ---------------------------------------------------------------------------

    def run(self, spec: ContainerSpec) -> str:
        """Pull ``spec.image``, create and start the container; return its id."""
        _check_env(spec.env)
        self.pull(spec.image, spec.auth, insecure=spec.insecure_registry)
        with self._env_args(spec.env) as (env_args, env_vars):
            created = self._exec(
                [*self._create_args(spec), *env_args, *self._tail_args(spec)], env=env_vars
            )
        container_id = self._check(created, f"creating container {spec.name}").stdout.split()[-1]
        started = self._exec(["start", container_id])
        if started.returncode != 0:
            self.remove(container_id, force=True)
            raise EngineError(f"starting container {spec.name} failed: {_error_text(started)}")
        logger.info(
            "container started",
            extra={"container": spec.name, "container_id": container_id[:12], "image": spec.image},
        )
        return container_id

    def _create_args(self, spec: ContainerSpec) -> builtins.list[str]:
        args = ["create", "--platform", PLATFORM, "--pull", "never", "--name", spec.name]
        if self._kind == "podman":
            args.append("--http-proxy=false")  # podman copies the host's proxy variables
        for key, value in spec.labels.items():
            args += ["--label", f"{key}={value}"]
        if spec.network:
            args += ["--network", spec.network]
            for alias in spec.network_aliases:
                args += ["--network-alias", alias]
        for binding in spec.publish:
            args += ["-p", binding.as_arg()]
        if spec.cpus is not None:
            args += ["--cpus", f"{spec.cpus:g}"]
        if spec.memory_bytes is not None:
            # Swap limit = memory limit: no swap, as on Fargate.
            args += ["--memory", str(spec.memory_bytes), "--memory-swap", str(spec.memory_bytes)]
        args += ["--stop-timeout", str(spec.stop_timeout_seconds)]
        if spec.init:
            args.append("--init")
        return args

    @staticmethod
    def _tail_args(spec: ContainerSpec) -> builtins.list[str]:
        return [spec.image, *(spec.command or ())]

    @contextmanager
    def _env_args(
        self, env: Mapping[str, str]
    ) -> Iterator[tuple[builtins.list[str], dict[str, str]]]:
        """``--env-file`` (0600, removed after) for one-line values; ``-e KEY`` with the value
        in the CLI's environment for the rest. No value ever appears in the argv."""
        in_file = {k: v for k, v in env.items() if _env_file_safe(k, v)}
        passed = {k: v for k, v in env.items() if k not in in_file}
        args = [arg for key in passed for arg in ("-e", key)]
        if not in_file:
            yield args, passed
            return
        with _private_dir(self._temp_dir) as directory:
            path = directory / "env"
            _write_private(path, "".join(f"{k}={v}\n" for k, v in in_file.items()))
            yield ["--env-file", str(path), *args], passed

    def stop(self, container: str, timeout_seconds: int) -> None:
        """SIGTERM (or the image's STOPSIGNAL), then SIGKILL after ``timeout_seconds``.
        Stopping a stopped or missing container is not an error."""
        result = self._exec(
            ["stop", "-t", str(timeout_seconds), container],
            timeout=timeout_seconds + self._command_timeout,
        )
        if result.returncode != 0 and not _MISSING.search(result.stderr):
            raise EngineError(f"stopping {container} failed: {_error_text(result)}")

    def remove(self, container: str, *, force: bool = True) -> None:
        """Remove the container (and its anonymous volumes); with ``force``, kill it first
        at once. Removing a missing container is not an error."""
        args = ["rm", "-v"]
        if force:
            args.append("-f")
            if self._kind == "podman":
                args += ["-t", "0"]  # podman's rm -f would wait 10 s for SIGTERM; docker kills
        result = self._exec([*args, container])
        if result.returncode != 0 and not _MISSING.search(result.stderr):
            raise EngineError(f"removing {container} failed: {_error_text(result)}")

    def _inspect_docs(self, containers: Sequence[str]) -> builtins.list[dict[str, Any]]:
        result = self._exec(["container", "inspect", *containers])
        docs = _json_array(result.stdout)
        if docs is None or (result.returncode != 0 and not _MISSING.search(result.stderr)):
            raise EngineError(f"inspecting {' '.join(containers)} failed: {_error_text(result)}")
        return docs

    def inspect(self, container: str) -> ContainerState | None:
        """The container's state, or ``None`` when it does not exist."""
        docs = self._inspect_docs([container])
        return parse_container(docs[0]) if docs else None

    def list(
        self, label_filter: Mapping[str, str], *, all: bool = True
    ) -> builtins.list[ContainerState]:
        """Containers carrying every label in ``label_filter`` (stopped ones too with ``all``)."""
        args = ["ps", "-q", "--no-trunc"] + (["-a"] if all else [])
        for key, value in label_filter.items():
            args += ["--filter", f"label={key}={value}"]
        ids = self._check(self._exec(args), "listing containers").stdout.split()
        if not ids:
            return []
        states = [parse_container(doc) for doc in self._inspect_docs(ids)]
        return [s for s in states if all_labels(s.labels, label_filter) and (all or s.running)]

    def logs(self, container: str, *, tail: int | None = None) -> str:
        """The container's output, stdout and stderr interleaved (last ``tail`` lines)."""
        args = ["logs"] + (["--tail", str(tail)] if tail is not None else []) + [container]
        result = self._exec(args, merge_stderr=True)
        if result.returncode != 0:
            raise EngineError(f"reading logs of {container} failed: {_error_text(result)}")
        return result.stdout

    def wait(self, container: str, timeout: float) -> int | None:
        """Block until the container exits and return its exit code; ``None`` on timeout."""
        try:
            result = self._exec(["wait", container], timeout=timeout)
        except EngineTimeout:
            return None
        lines = self._check(result, f"waiting for {container}").stdout.split()
        try:
            return int(lines[-1])
        except (IndexError, ValueError) as exc:
            raise EngineError(f"waiting for {container}: unexpected output") from exc

    def host_port(self, container: str, container_port: int) -> int:
        """The host port the engine published ``container_port``/tcp on."""
        docs = self._inspect_docs([container])
        port = parse_host_port(docs[0], container_port) if docs else None
        if port is None:
            raise EngineError(f"{container} publishes no host port for {container_port}/tcp")
        return port

    # --- networks -----------------------------------------------------------------------------

    def ensure_network(self, name: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Create the bridge network ``name`` unless it exists (safe when two callers race)."""
        if self._exec(["network", "inspect", name]).returncode == 0:
            return
        args = ["network", "create"]
        for key, value in (labels or {}).items():
            args += ["--label", f"{key}={value}"]
        result = self._exec([*args, name])
        if result.returncode == 0:
            logger.info("network created", extra={"network": name})
            return
        if (
            _EXISTS.search(result.stderr)
            and self._exec(["network", "inspect", name]).returncode == 0
        ):
            return  # lost a race with another creator: the network is there now
        raise EngineError(f"creating network {name} failed: {_error_text(result)}")

    def remove_network(self, name: str) -> None:
        """Remove the network; a missing one is not an error."""
        result = self._exec(["network", "rm", name])
        if result.returncode != 0 and not _MISSING.search(result.stderr):
            raise EngineError(f"removing network {name} failed: {_error_text(result)}")

    def list_networks(self, label_filter: Mapping[str, str]) -> builtins.list[str]:
        """Names of the networks carrying every label in ``label_filter``."""
        args = ["network", "ls", "--format", "{{.Name}}"]
        for key, value in label_filter.items():
            args += ["--filter", f"label={key}={value}"]
        return self._check(self._exec(args), "listing networks").stdout.split()


def all_labels(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """True when ``labels`` has every key of ``wanted`` with the same value."""
    return all(labels.get(key) == value for key, value in wanted.items())
