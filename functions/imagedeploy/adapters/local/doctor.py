"""The machine checks behind ``imagedeploy doctor`` (and the engine part ``serve`` runs at start).

- ``engine``: podman (else docker), or the one the settings name, is found and says its version.
- ``container``: a throwaway container from a tiny local image (built offline from the host's
  static busybox, never pulled) starts on a bridge network with container DNS (like serve's)
  with a published loopback port, answers over HTTP and is removed. This is what every deploy
  does, minus the registry.
- ``data directory``: writable, and the secret files in it readable by their owner only.

Each check gives one ``CheckResult``; a failed one says what is missing and how to fix it
(through ``diagnosis.explain`` for the engine's own error text). The engine CLI runs with a
small fixed environment (``engine_environment``), never the caller's whole one, so what the
doctor sees does not depend on stray variables of the shell it was started from.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import httpx

from imagedeploy.adapters.local.diagnosis import error_line, explain, install_hint
from imagedeploy.adapters.local.secrets import KEY_FILE, SECRETS_FILE

# Bump the tag whenever the image's content or command changes.
DOCTOR_IMAGE = "localhost/imagedeploy-doctor:2"
DOCTOR_LABEL = "imagedeploy.doctor"
DOCTOR_NETWORK = "imagedeploy-doctor"
_NO_DNS = re.compile(r"aardvark-dns binary not found", re.I)
PAGE = b"imagedeploy doctor\n"
_PORT = 8080
_HTTPD = ["/bin/busybox", "httpd", "-f", "-p", str(_PORT), "-h", "/www"]
_COMMAND = json.dumps(_HTTPD)  # the image's CMD
# The test container ends and removes itself even if the doctor is killed before its own
# ``rm`` (serve runs the checks in the background and may be stopped at any time).
LIFETIME_SECONDS = 120
_BOUNDED_COMMAND = ["/bin/busybox", "timeout", str(LIFETIME_SECONDS), *_HTTPD]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Besides PATH and HOME, only what decides which engine and which configuration is used.
ENGINE_VARIABLES = ("CONTAINERS_CONF", "XDG_RUNTIME_DIR", "CONTAINER_HOST", "DOCKER_HOST")
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    """Runs one engine CLI command. Raises ``subprocess.TimeoutExpired`` after ``timeout``
    seconds (having killed the process) and ``OSError`` when the binary cannot be started."""

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str], timeout: float
    ) -> CommandResult: ...


def subprocess_runner(
    argv: Sequence[str], *, env: Mapping[str, str], timeout: float
) -> CommandResult:
    """The real runner: ``subprocess.run`` with no shell, no stdin, output captured. Only the
    doctor runs the engine's CLI (fixed arguments, a small fixed environment); ``serve`` talks
    to the engine's API (``engine_api``)."""
    proc = subprocess.run(  # noqa: S603 - fixed argv built here, no shell
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
        encoding="utf-8",
        errors="replace",
    )
    return CommandResult(proc.returncode, proc.stdout or "", proc.stderr or "")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome; ``detail`` is what was found, or the problem and its fix."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


def engine_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment the engine CLI runs with: PATH, HOME and ``ENGINE_VARIABLES`` if set."""
    env = {
        "PATH": environ.get("PATH") or DEFAULT_PATH,
        "HOME": environ.get("HOME") or str(Path.home()),
    }
    env.update({key: environ[key] for key in ENGINE_VARIABLES if environ.get(key)})
    return env


class EngineDoctor:
    """Runs the engine checks with ``binary`` (None: podman if found, else docker)."""

    def __init__(
        self,
        binary: str | None,
        environ: Mapping[str, str],
        *,
        runner: CommandRunner = subprocess_runner,
        command_timeout: float = 60.0,
        answer_timeout: float = 10.0,
    ) -> None:
        self._env = engine_environment(environ)
        self._wanted = binary
        self._runner = runner
        self._timeout = command_timeout
        self._answer_timeout = answer_timeout
        self._binary: str | None = None
        self._kind = "podman"

    def run_all(self) -> list[CheckResult]:
        """The engine check, then (when it passed) the container check."""
        engine = self.check_engine()
        return [engine] if not engine.ok else [engine, self.check_container()]

    # -- engine ------------------------------------------------------------------------------
    def check_engine(self) -> CheckResult:
        name = "container engine"
        path = self._env["PATH"]
        candidates = [self._wanted] if self._wanted else ["podman", "docker"]
        found = next((b for c in candidates if (b := shutil.which(c, path=path))), None)
        if found is None:
            if self._wanted:
                return CheckResult(name, False, f"{self._wanted} not found on PATH ({path})")
            return CheckResult(
                name, False, f"no podman or docker on PATH: {install_hint('podman')}"
            )
        try:
            result = self._exec([found, "--version"])
        except OSError as exc:
            return CheckResult(name, False, f"cannot run {found}: {exc.strerror or exc}")
        version = (result.stdout or result.stderr).strip().splitlines()
        text = version[0] if version else ""
        if result.returncode != 0 or not re.search(r"podman|docker", text, re.I):
            detail = (
                explain(result.stderr) or f"{found} --version failed: {error_line(result.stderr)}"
            )
            return CheckResult(name, False, detail)
        self._binary = found
        self._kind = "docker" if "docker" in text.lower() else "podman"
        return CheckResult(name, True, f"{text} ({found})")

    # -- container ---------------------------------------------------------------------------
    def check_container(self) -> CheckResult:
        name = "test container"
        if self._binary is None and not self.check_engine().ok:
            return CheckResult(name, False, "not run: no usable container engine")
        problem = self._ensure_image() or self._ensure_network()
        if problem is not None:
            return CheckResult(name, False, problem)
        create = ["create", "--rm", "--pull", "never", "--label", f"{DOCTOR_LABEL}=1"]
        create += ["--name", f"imagedeploy-doctor-{secrets.token_hex(4)}"]
        create += ["--network", DOCTOR_NETWORK, "-p", f"127.0.0.1::{_PORT}"]
        if self._kind == "podman":
            create.append("--http-proxy=false")
        created = self._engine([*create, DOCTOR_IMAGE, *_BOUNDED_COMMAND])
        if created.returncode != 0:
            return CheckResult(name, False, self._failure("create", created))
        container = created.stdout.split()[-1]
        try:
            started = self._engine(["start", container])
            if started.returncode != 0:
                return CheckResult(name, False, self._failure("start", started))
            # podman starts the container without DNS when aardvark-dns is missing, and only
            # warns; the services of one installation would then not find each other by name.
            warned = f"{created.stderr}\n{started.stderr}"
            if _NO_DNS.search(warned):
                return CheckResult(name, False, explain(warned) or error_line(warned))
            port = self._host_port(container)
            if port is None:
                return CheckResult(
                    name, False, f"{self._kind} published no host port for the test container"
                )
            answer = self._answer(port)
            if answer is not None:
                return CheckResult(
                    name,
                    False,
                    f"the test container started but 127.0.0.1:{port} did not answer "
                    f"({answer}): check that the firewall lets the host reach container "
                    "networks (iptables FORWARD / nat rules)",
                )
            return CheckResult(
                name, True, f"started from {DOCTOR_IMAGE}, answered HTTP on 127.0.0.1:{port}"
            )
        finally:
            self._remove(container)

    def _ensure_image(self) -> str | None:
        """None when the test image is there (built now if needed); else the problem."""
        if self._engine(["image", "inspect", DOCTOR_IMAGE]).returncode == 0:
            return None
        busybox = static_busybox()
        if busybox is None:
            return (
                "no statically linked busybox to build the test image from: "
                "install busybox-static (apt-get install busybox-static)"
            )
        with tempfile.TemporaryDirectory(prefix="imagedeploy-doctor-") as tmp:
            archive = Path(tmp) / "rootfs.tar"
            archive.write_bytes(rootfs_tar(busybox))
            made = self._engine(
                ["import", "--change", f"CMD {_COMMAND}", str(archive), DOCTOR_IMAGE]
            )
        if made.returncode != 0:
            return self._failure("import the test image", made)
        return None

    def _ensure_network(self) -> str | None:
        """The doctor's own bridge network with container DNS, like the one serve makes (kept
        between runs, so concurrent doctors never remove it under each other)."""
        if self._engine(["network", "inspect", DOCTOR_NETWORK]).returncode == 0:
            return None
        made = self._engine(["network", "create", "--label", f"{DOCTOR_LABEL}=1", DOCTOR_NETWORK])
        if made.returncode != 0 and not re.search(r"already exists", made.stderr, re.I):
            return self._failure("create a network", made)
        return None

    def _host_port(self, container: str) -> int | None:
        result = self._engine(["port", container, f"{_PORT}/tcp"])
        published = result.stdout.split()  # "127.0.0.1:43033" (docker may add an IPv6 line)
        match = (
            re.search(r":(\d+)$", published[0]) if result.returncode == 0 and published else None
        )
        return int(match.group(1)) if match else None

    def _answer(self, port: int) -> str | None:
        """None once the container answers its page; else what went wrong last."""
        deadline = time.monotonic() + self._answer_timeout
        problem = "no answer"
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                try:
                    reply = client.get(f"http://127.0.0.1:{port}/index.html")
                except httpx.HTTPError as exc:
                    problem = type(exc).__name__
                else:
                    if reply.status_code == 200 and reply.content == PAGE:
                        return None
                    problem = f"HTTP {reply.status_code}"
                time.sleep(0.1)
        return f"{problem} within {self._answer_timeout:g} s"

    def _remove(self, container: str) -> None:
        args = ["rm", "-f", "-v"] + (["-t", "0"] if self._kind == "podman" else [])
        self._engine([*args, container])

    def _failure(self, what: str, result: CommandResult) -> str:
        output = f"{result.stderr}\n{result.stdout}"
        return explain(output) or f"{self._kind} could not {what}: {error_line(output)}"

    # -- running commands --------------------------------------------------------------------
    def _engine(self, args: Sequence[str]) -> CommandResult:
        assert self._binary is not None
        try:
            return self._exec([self._binary, *args])
        except OSError as exc:
            return CommandResult(127, "", f"Error: cannot run {self._binary}: {exc}")

    def _exec(self, argv: Sequence[str]) -> CommandResult:
        try:
            return self._runner(argv, env=self._env, timeout=self._timeout)
        except subprocess.TimeoutExpired:
            return CommandResult(
                124, "", f"Error: `{argv[1]}` did not finish in {self._timeout:g} s"
            )


# -- the test image --------------------------------------------------------------------------


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a program interpreter (statically linked)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(64)
            if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit only
                return False
            order: Literal["little", "big"] = "little" if header[5] == 1 else "big"
            phoff = int.from_bytes(header[32:40], order)
            entry_size = int.from_bytes(header[54:56], order)
            count = int.from_bytes(header[56:58], order)
            handle.seek(phoff)
            table = handle.read(entry_size * count)
    except OSError:
        return False
    pt_interp = 3
    types = (int.from_bytes(table[i : i + 4], order) for i in range(0, len(table), entry_size))
    return pt_interp not in types


def static_busybox() -> Path | None:
    for candidate in BUSYBOX_PATHS:
        path = Path(candidate)
        if path.is_file() and is_static_elf(path):
            return path
    return None


def rootfs_tar(busybox: Path) -> bytes:
    """A root filesystem with busybox (``/bin/sh`` links to it) and ``/www/index.html``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "www", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        data = busybox.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(link)
        page = tarfile.TarInfo("www/index.html")
        page.size, page.mode = len(PAGE), 0o644
        tar.addfile(page, io.BytesIO(PAGE))
    return buffer.getvalue()


# -- the data directory ----------------------------------------------------------------------


def check_data_dir(data_dir: Path) -> CheckResult:
    """Writable (or creatable), and every secret file in it private to its owner (0600)."""
    name = "data directory"
    existing = data_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return CheckResult(name, False, f"{existing} is not a directory: choose another --data-dir")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".doctor-"):
            pass
    except OSError as exc:
        return CheckResult(
            name,
            False,
            f"{existing} is not writable ({exc.strerror}): choose another --data-dir or "
            f"give this user write access (chown {os.getuid()} {existing})",
        )
    for secret in (KEY_FILE, SECRETS_FILE):
        path = data_dir / secret
        if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            mode = stat.S_IMODE(path.stat().st_mode)
            return CheckResult(
                name,
                False,
                f"{path} is readable by group or others (mode {mode:04o}): chmod 600 {path}",
            )
    if existing != data_dir:
        return CheckResult(name, True, f"{data_dir} will be created in writable {existing}")
    return CheckResult(name, True, f"{data_dir} is writable; its secret files are 0600")
