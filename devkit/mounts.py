"""Small real filesystems for storage-failure tests (needs root: ``mount``, loop devices).

``loop_ext4`` mounts a fresh ext4 image (no blocks reserved for root, so root fills it like
anyone) and unmounts it afterwards. ``fill`` writes until the filesystem is full.
``fail_read_only`` makes ext4 hit an error with ``errors=remount-ro``: the kernel turns the
filesystem read-only at once, open files and all, the way a failing disk does (``mount -o
remount,ro`` would refuse while a process has a file open for writing).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def loop_ext4(directory: Path, size_mb: int = 64) -> Iterator[Path]:
    """A fresh ext4 filesystem of ``size_mb`` mounted at ``directory/mnt``."""
    image = directory / "disk.img"
    mount_point = directory / "mnt"
    mount_point.mkdir(parents=True)
    with image.open("wb") as out:
        out.truncate(size_mb * 1024 * 1024)
    _run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
    _run("mount", "-o", "loop,errors=remount-ro", str(image), str(mount_point))
    try:
        yield mount_point
    finally:
        for _ in range(20):  # a process that just exited may still hold a file for a moment
            if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        else:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
        image.unlink(missing_ok=True)


def fail_read_only(mount_point: Path) -> None:
    """Make the ext4 filesystem at ``mount_point`` fail over to read-only, like a bad disk."""
    device = Path(_run("findmnt", "-no", "SOURCE", str(mount_point))).name
    Path(f"/sys/fs/ext4/{device}/trigger_fs_error").write_text("1\n")
    probe = mount_point / ".ro-probe"
    try:
        probe.write_text("x")
    except OSError as exc:
        if exc.errno != errno.EROFS:
            raise
        return
    raise AssertionError(f"{mount_point} is still writable")


def fill(mount_point: Path) -> Path:
    """Write a file until the filesystem is full; returns it (delete it to free the space)."""
    filler = mount_point / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1024 * 1024, 4096, 1):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
    return filler
