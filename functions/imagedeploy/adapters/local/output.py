"""Keep the tail of a container's output in a file, in bounded memory (issue 8, finding 5).

The output is streamed from the engine chunk by chunk; at most ``max_bytes`` of it (plus one
chunk) is held at a time, and when more came, a first line says how many bytes were dropped.
The file is created 0600: output may hold secrets the command printed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from pathlib import Path

from imagedeploy.adapters.local.datadir import write_private


def dropped_marker(dropped: int) -> bytes:
    return f"[imagedeploy: {dropped} bytes of earlier output dropped; the last part follows]\n".encode()


def keep_tail(chunks: Iterable[bytes], path: Path, max_bytes: int) -> int:
    """Write the last ``max_bytes`` of ``chunks`` to ``path`` (0600); return the bytes dropped."""
    kept: deque[bytes] = deque()
    size = dropped = 0
    for chunk in chunks:
        kept.append(chunk)
        size += len(chunk)
        while size - len(kept[0]) >= max_bytes:  # the rest alone still fills the budget
            size -= len(kept[0])
            dropped += len(kept.popleft())
    tail = b"".join(kept)
    if len(tail) > max_bytes:
        dropped += len(tail) - max_bytes
        tail = tail[len(tail) - max_bytes :]
    write_private(path, (dropped_marker(dropped) if dropped else b"") + tail)
    return dropped
