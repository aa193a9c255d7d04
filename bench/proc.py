"""What the benchmarks read from ``/proc``: a process's CPU time, its children, and a note on
the machine (cores, load) for the report's heading."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name (which may hold spaces): state, ppid, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, *, waited_children: bool = False) -> float:
    """User + system CPU time of a process; with ``waited_children``, plus that of the
    children it has waited for (a server's finished subprocesses)."""
    fields = _stat_fields(pid)
    ticks = sum(int(v) for v in fields[11 : 15 if waited_children else 13])
    return ticks / TICKS


def children(pid: int) -> list[tuple[int, bytes]]:
    """The running children of ``pid``: each one's pid and command line (arguments joined by
    spaces)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid:
            found.append((int(entry.name), cmdline))
    return found


def machine_note() -> str:
    load = Path("/proc/loadavg").read_text().split()[:3]
    return f"{os.cpu_count()} cores, load average {' '.join(load)} at start"
