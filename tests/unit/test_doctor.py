"""The doctor's checks with a scripted engine (tests/e2e/test_doctor.py runs them against the real
podman): the environment the engine gets, the lines a failure prints, the cleanup, the test
image and the data directory rules."""

from __future__ import annotations

import io
import os
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from imagedeploy.adapters.local.doctor import (
    DOCTOR_IMAGE,
    DOCTOR_NETWORK,
    PAGE,
    CheckResult,
    CommandResult,
    EngineDoctor,
    check_data_dir,
    engine_environment,
    is_static_elf,
    rootfs_tar,
)
from imagedeploy.adapters.local.secrets import KEY_FILE

pytestmark = pytest.mark.unit

NETAVARK = "Error: netavark: No such file or directory (os error 2)\n"


@dataclass
class ScriptedEngine:
    """Answers engine commands from a script keyed by subcommand; records argv and env."""

    answers: dict[str, CommandResult] = field(default_factory=dict)
    calls: list[tuple[tuple[str, ...], dict[str, str]]] = field(default_factory=list)

    def __call__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        timeout: float,
    ) -> CommandResult:
        self.calls.append((tuple(argv), dict(env)))
        key = argv[1]
        return self.answers.get(key, CommandResult(0, "", ""))

    def subcommands(self) -> list[str]:
        return [argv[1] for argv, _ in self.calls]


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH directory with a ``podman`` (never executed: the runner is scripted)."""
    directory = tmp_path / "bin"
    directory.mkdir()
    podman = directory / "podman"
    podman.write_text("#!/bin/sh\nexit 99\n")
    podman.chmod(0o755)
    return directory


def engine_answers(**overrides: CommandResult) -> dict[str, CommandResult]:
    return {
        "--version": CommandResult(0, "podman version 4.3.1\n", ""),
        "create": CommandResult(0, "c0ffee\n", ""),
        "port": CommandResult(0, "127.0.0.1:1\n", ""),
        **overrides,
    }


def test_the_engine_runs_with_path_home_and_engine_settings_only(bin_dir: Path) -> None:
    caller = {
        "PATH": str(bin_dir),
        "HOME": "/home/me",
        "CONTAINERS_CONF": "/etc/sandbox.conf",
        "AWS_SECRET_ACCESS_KEY": "do-not-pass",
        "LD_PRELOAD": "/tmp/evil.so",
        "https_proxy": "http://proxy:3128",
    }
    assert engine_environment(caller) == {
        "PATH": str(bin_dir),
        "HOME": "/home/me",
        "CONTAINERS_CONF": "/etc/sandbox.conf",
    }
    runner = ScriptedEngine(engine_answers())
    EngineDoctor(None, caller, runner=runner).check_engine()
    assert runner.calls[0][1] == engine_environment(caller)


def test_engine_found_reports_its_version(bin_dir: Path) -> None:
    runner = ScriptedEngine(engine_answers())
    result = EngineDoctor(None, {"PATH": str(bin_dir)}, runner=runner).check_engine()
    assert result == CheckResult(
        "container engine", True, f"podman version 4.3.1 ({bin_dir / 'podman'})"
    )


def test_no_engine_says_what_to_install(tmp_path: Path) -> None:
    results = EngineDoctor(None, {"PATH": str(tmp_path)}, runner=ScriptedEngine()).run_all()
    assert [r.line() for r in results] == [
        "FAIL  container engine: no podman or docker on PATH: install podman "
        "(apt-get install podman)"
    ]


def test_the_configured_engine_is_the_one_checked(bin_dir: Path) -> None:
    doctor = EngineDoctor("docker", {"PATH": str(bin_dir)}, runner=ScriptedEngine())
    assert doctor.check_engine().line().startswith("FAIL  container engine: docker not found")


def test_a_failed_start_prints_the_fix_and_removes_the_container(bin_dir: Path) -> None:
    runner = ScriptedEngine(engine_answers(start=CommandResult(126, "", NETAVARK)))
    results = EngineDoctor(None, {"PATH": str(bin_dir)}, runner=runner).run_all()
    assert results[1].line() == (
        "FAIL  test container: podman cannot create the container network (netavark could not "
        "run iptables): install iptables (apt-get install iptables) and keep /usr/sbin on PATH"
    )
    assert runner.subcommands() == ["--version", "image", "network", "create", "start", "rm"]
    assert runner.calls[-1][0][-1] == "c0ffee"


def test_an_unrecognised_failure_quotes_the_engine(bin_dir: Path) -> None:
    runner = ScriptedEngine(engine_answers(create=CommandResult(125, "", "Error: it broke\n")))
    results = EngineDoctor(None, {"PATH": str(bin_dir)}, runner=runner).run_all()
    assert results[1].line() == "FAIL  test container: podman could not create: it broke"
    assert "rm" not in runner.subcommands()  # nothing was created


def test_the_test_container_is_local_loopback_only_and_labelled(bin_dir: Path) -> None:
    runner = ScriptedEngine(engine_answers(start=CommandResult(1, "", NETAVARK)))
    EngineDoctor(None, {"PATH": str(bin_dir)}, runner=runner).run_all()
    create = next(argv for argv, _ in runner.calls if argv[1] == "create")
    image_at = create.index(DOCTOR_IMAGE)
    # it ends and removes itself even if the doctor is killed before its own rm
    assert "--rm" in create[:image_at]
    assert create[image_at + 1 : image_at + 4] == ("/bin/busybox", "timeout", "120")
    assert create[create.index("--pull") + 1] == "never"
    assert "127.0.0.1::8080" in create and "imagedeploy.doctor=1" in create
    assert create[create.index("--network") + 1] == DOCTOR_NETWORK


def test_the_doctor_network_is_made_when_missing_and_kept(bin_dir: Path) -> None:
    missing = CommandResult(125, "", "Error: network not found")
    runner = ScriptedEngine(engine_answers(network=missing, start=CommandResult(1, "", NETAVARK)))
    EngineDoctor(None, {"PATH": str(bin_dir)}, runner=runner).run_all()
    networks = [argv[2:] for argv, _ in runner.calls if argv[1] == "network"]
    assert networks == [
        ("inspect", DOCTOR_NETWORK),
        ("create", "--label", "imagedeploy.doctor=1", DOCTOR_NETWORK),
    ]


def test_a_container_started_without_dns_fails_naming_aardvark_dns(bin_dir: Path) -> None:
    warning = (
        'time="2026-12-05T19:18:07Z" level=warning msg="aardvark-dns binary not found, '
        'container dns will not be enabled"\n'
    )
    runner = ScriptedEngine(engine_answers(start=CommandResult(0, "c0ffee\n", warning)))
    results = EngineDoctor(None, {"PATH": str(bin_dir)}, runner=runner).run_all()
    assert results[1].line() == (
        "FAIL  test container: podman gives containers no DNS names (services would not find "
        "each other): install aardvark-dns (apt-get install aardvark-dns)"
    )
    assert runner.subcommands()[-1] == "rm"


def test_a_missing_test_image_is_imported_from_the_static_busybox(bin_dir: Path) -> None:
    runner = ScriptedEngine(
        engine_answers(
            image=CommandResult(125, "", "Error: image not known"),
            start=CommandResult(1, "", NETAVARK),
        )
    )
    EngineDoctor(None, {"PATH": str(bin_dir)}, runner=runner).run_all()
    imported = next(argv for argv, _ in runner.calls if argv[1] == "import")
    assert imported[2:4] == (
        "--change",
        'CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]',
    )
    assert imported[-1] == DOCTOR_IMAGE


def test_the_rootfs_holds_busybox_a_shell_link_and_the_page(tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF fake")
    with tarfile.open(fileobj=io.BytesIO(rootfs_tar(busybox))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
        assert members["bin/busybox"].mode == 0o755
        page = tar.extractfile("www/index.html")
        assert page is not None and page.read() == PAGE


def test_static_elf_is_told_from_a_dynamic_one(tmp_path: Path) -> None:
    assert not is_static_elf(Path(sys.executable).resolve())  # CPython links libc
    assert is_static_elf(Path("/bin/busybox"))  # busybox-static, which ./dev installs
    (tmp_path / "text").write_text("#!/bin/sh\n")
    assert not is_static_elf(tmp_path / "text")


def test_data_directory_writable_or_creatable(tmp_path: Path) -> None:
    assert check_data_dir(tmp_path).ok
    later = check_data_dir(tmp_path / "a" / "b")
    assert later.ok and "will be created" in later.detail


def test_data_directory_that_is_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = check_data_dir(tmp_path / "file")
    assert not result.ok and "not a directory" in result.detail


def test_a_secret_file_others_can_read_fails_with_the_chmod(tmp_path: Path) -> None:
    key = tmp_path / KEY_FILE
    key.write_text("k")
    os.chmod(key, 0o644)
    assert check_data_dir(tmp_path).line() == (
        f"FAIL  data directory: {key} is readable by group or others (mode 0644): chmod 600 {key}"
    )
    os.chmod(key, 0o600)
    assert check_data_dir(tmp_path).ok
