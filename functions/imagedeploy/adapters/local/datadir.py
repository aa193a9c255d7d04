"""The data directory of ``imagedeploy serve``: private, writable, and used by one ``serve``.

- **Private.** The directory and every directory in it are 0700, every file 0600: it holds the
  state (``state.db`` and its ``-wal``/``-shm``, which SQLite creates with the database file's
  mode), pre-deploy output, the secret key. Everything here is *created* that way
  (``ensure_private_dir``, ``write_private``, ``create_private``) rather than fixed afterwards,
  so there is no window in which a file is readable by others. ``check_private`` refuses a
  directory where anything is looser, with the ``chmod`` that fixes it: widening modes may have
  been deliberate, and tightening them silently would hide that secrets were exposed.
- **Writable.** ``check_writable`` refuses a read-only or full filesystem at start, instead of
  starting and then failing every write.
- **One ``serve``.** ``ServeLock`` holds an ``flock`` on ``serve.lock`` (which records the PID)
  for the life of the process; a second ``serve`` on the same directory is refused, naming the
  first one's PID. The lock goes away with the process, even when it is killed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import uuid
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
LOCK_FILE = "serve.lock"
MIN_FREE_BYTES = 16 * 1024 * 1024  # room for the WAL to grow and a checkpoint to complete
_PROBE_BYTES = 64 * 1024
_MAX_LISTED = 5
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO})


class DataDirError(RuntimeError):
    """The data directory cannot be used as it is; the message says why and what to do."""


def is_storage_error(exc: OSError) -> bool:
    """A full, read-only or failing filesystem (not a bug of ours, nor the caller's input)."""
    return exc.errno in _STORAGE_ERRNOS


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700, whatever the umask; an existing directory
    is left as it is (``check_private`` judges it)."""
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True)
    except FileExistsError:
        return path
    os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def create_private(path: Path) -> None:
    """Create ``path`` empty as 0600 unless it exists (e.g. before SQLite opens it, so that the
    database, its WAL and its shared-memory file are all 0600)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    try:
        if os.fstat(fd).st_size == 0:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)


def write_private(path: Path, data: str | bytes) -> None:
    """Write ``path`` whole, 0600 from its creation on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # whatever the umask, and for an existing file
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data.encode() if isinstance(data, str) else data)
    finally:
        os.close(fd)


def check_private(data_dir: Path) -> None:
    """Refuse a data directory in which group or others may access anything."""
    loose: list[str] = []
    root = data_dir.resolve()  # a symlinked data dir: judge the directory it points to
    for path in (root, *sorted(root.rglob("*"))):
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue  # removed meanwhile (a log being replaced)
        if stat.S_ISLNK(info.st_mode):
            continue  # its target is judged where it lives
        if info.st_mode & 0o077:
            loose.append(f"{path} ({stat.filemode(info.st_mode)})")
    if not loose:
        return
    listed = ", ".join(loose[:_MAX_LISTED])
    more = f" and {len(loose) - _MAX_LISTED} more" if len(loose) > _MAX_LISTED else ""
    raise DataDirError(
        f"the data directory {data_dir} holds secrets (env var values, webhook secrets, the "
        f"secret key, pre-deploy output) but group or others may access {listed}{more}; run "
        f"`chmod -R go-rwx {_quote(data_dir)}` and start again"
    )


def check_writable(data_dir: Path) -> None:
    """Refuse a read-only or (nearly) full data directory: write, sync and remove a probe."""
    probe = data_dir / f".probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        try:
            os.write(fd, b"\0" * _PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno == errno.EROFS or exc.errno == errno.EACCES:
            raise DataDirError(
                f"the data directory {data_dir} is not writable ({os.strerror(exc.errno)}): "
                "imagedeploy keeps its state there; remount it read-write (or pass another "
                "--data-dir) and start again"
            ) from None
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _full(data_dir) from None
        raise
    finally:
        probe.unlink(missing_ok=True)
    usage = os.statvfs(data_dir)
    if usage.f_bavail * usage.f_frsize < MIN_FREE_BYTES:
        raise _full(data_dir)


def _full(data_dir: Path) -> DataDirError:
    return DataDirError(
        f"the filesystem of the data directory {data_dir} is full (imagedeploy needs at least "
        f"{MIN_FREE_BYTES // (1024 * 1024)} MiB free to write its state safely); free some space "
        "and start again"
    )


class ServeLock:
    """An exclusive ``flock`` on ``<data_dir>/serve.lock``, held until ``release`` or exit."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirError(
                f"another imagedeploy serve (PID {holder}) is using the data directory "
                f"{data_dir}; stop it first, or pass another --data-dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.fchmod(fd, PRIVATE_FILE_MODE)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the flock; the file stays (unlinking it would race)
            self._fd = None


def _quote(path: Path) -> str:
    text = str(path)
    return (
        text
        if all(c.isalnum() or c in "/._-+" for c in text)
        else "'" + text.replace("'", "'\\''") + "'"
    )


def open_data_dir(data_dir: Path) -> ServeLock:
    """Make sure ``data_dir`` exists, is private and writable, and lock it for this ``serve``."""
    ensure_private_dir(data_dir)
    check_private(data_dir)
    check_writable(data_dir)
    return ServeLock(data_dir)
