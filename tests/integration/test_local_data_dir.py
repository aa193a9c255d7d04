"""The data directory rules of ``serve`` (``adapters.local.datadir``) and the ``imagedeploy keys``
command, on real files: created private whatever the umask, loose modes refused with the fix,
one ``serve`` per directory, and keys managed from the command line."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagedeploy.adapters.local.datadir import (
    DataDirError,
    ServeLock,
    check_private,
    ensure_private_dir,
    open_data_dir,
    write_private,
)
from imagedeploy.adapters.local.sqlite_store import SqliteStore
from imagedeploy.cli.main import main
from imagedeploy.domain.accounts import hash_key
from imagedeploy.domain.errors import StorageUnavailable
from imagedeploy.embedded import SystemClock
from imagedeploy.usecases.api_keys import ensure_workspace

pytestmark = pytest.mark.integration


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_directories_and_files_are_created_private_whatever_the_umask(
    tmp_path: Path, loose_umask: None
) -> None:
    data = ensure_private_dir(tmp_path / "a" / "data")
    assert _mode(data) == 0o700
    write_private(data / "out.log", "pre-deploy output")
    assert _mode(data / "out.log") == 0o600
    (data / "old.log").write_text("x")
    os.chmod(data / "old.log", 0o644)
    write_private(data / "old.log", "replaced")  # an existing file is made private too
    assert _mode(data / "old.log") == 0o600
    lock = open_data_dir(data)
    try:
        assert _mode(data / "serve.lock") == 0o600
        check_private(data)  # nothing loose
    finally:
        lock.release()


@pytest.mark.parametrize("loose", ["dir", "file", "nested"])
def test_loose_modes_are_refused_with_the_chmod_that_fixes_them(tmp_path: Path, loose: str) -> None:
    data = ensure_private_dir(tmp_path / "data")
    write_private(data / "state.db", "")
    ensure_private_dir(data / "logs")
    write_private(data / "logs" / "dep-1.log", "output")
    target = {
        "dir": data,
        "file": data / "state.db",
        "nested": data / "logs" / "dep-1.log",
    }[loose]
    os.chmod(target, 0o755 if target.is_dir() else 0o644)
    with pytest.raises(DataDirError) as refused:
        check_private(data)
    message = str(refused.value)
    assert str(target) in message
    assert f"`chmod -R go-rwx {data}`" in message
    subprocess.run(["chmod", "-R", "go-rwx", str(data)], check=True)  # the fix it names works
    check_private(data)


def test_a_second_lock_on_the_directory_names_the_holder(tmp_path: Path) -> None:
    first = ServeLock(tmp_path)
    try:
        with pytest.raises(DataDirError, match=f"PID {os.getpid()}"):
            ServeLock(tmp_path)
    finally:
        first.release()
    ServeLock(tmp_path).release()  # free again once released


def test_the_lock_is_released_when_its_process_dies(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; "
        "from imagedeploy.adapters.local.datadir import ServeLock; "
        "ServeLock(Path(sys.argv[1])); print('locked', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(DataDirError, match=f"PID {child.pid}"):
            ServeLock(tmp_path)
    finally:
        child.kill()
        child.wait()
    ServeLock(tmp_path).release()


# -- imagedeploy keys ---------------------------------------------------------------------------


def _keys(data: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(["keys", "--data-dir", str(data), *args], stdout=out)
    return status, out.getvalue()


@pytest.fixture
def served(tmp_path: Path) -> tuple[Path, str]:
    """A data directory as a first ``serve`` leaves it: a workspace and its first key."""
    data = ensure_private_dir(tmp_path / "data")
    store = SqliteStore(data / "state.db")
    try:
        first = ensure_workspace(store, SystemClock())
    finally:
        store.close()
    assert first is not None
    return data, first


def test_keys_create_list_revoke(
    served: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    data, first = served
    status, out = _keys(data, "create", "--name", "ci")
    assert status == 0, out
    secret = out.split("shown once, only its hash is stored): ")[1].strip()
    key_id = out.split()[3]
    status, listing = _keys(data, "list")
    assert status == 0
    lines = listing.splitlines()
    assert lines[0].split("\t") == ["ID", "NAME", "CREATED", "LAST USED"]
    assert [line.split("\t")[1] for line in lines[1:]] == ["first key", "ci"]
    assert all(line.split("\t")[3] == "never" for line in lines[1:])
    assert secret not in listing and first not in listing

    store = SqliteStore(data / "state.db")
    try:
        assert store.get_api_key_by_hash(hash_key(secret)) is not None
        assert store.get_api_key_by_hash(hash_key(first)) is not None  # the first key still works
    finally:
        store.close()

    assert _keys(data, "revoke", key_id)[0] == 0
    assert _keys(data, "revoke", key_id)[0] == 2
    assert "not found" in capsys.readouterr().err
    store = SqliteStore(data / "state.db")
    try:
        assert store.get_api_key_by_hash(hash_key(secret)) is None
    finally:
        store.close()


def test_keys_on_a_directory_serve_never_used_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _ = _keys(tmp_path / "nothing", "list")
    assert status == 2
    assert "start `imagedeploy serve --data-dir" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()  # nothing created


def test_keys_with_a_bad_name_say_what_is_wrong(
    served: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, _ = _keys(served[0], "create", "--name", " ")
    assert status == 2
    assert "name must not be empty" in capsys.readouterr().err


def test_storage_unavailable_is_a_503_with_retry_after() -> None:
    from imagedeploy.api.errors import error_response

    mapped = error_response(StorageUnavailable("the disk is full"))
    assert (mapped.status, mapped.id) == (503, "storage_unavailable")
    assert mapped.headers["Retry-After"] == "30"
