"""A shared object whose constructor writes a marker file: the payload of the LD_PRELOAD
injection test (issue 8, finding 1). Built with the host's gcc; loading it anywhere on the host
creates ``marker``, so a test can prove that it is never loaded outside a container."""

from __future__ import annotations

import subprocess
from pathlib import Path

_SOURCE = r"""
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void owned(void) {
    int fd = open("%s", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) { write(fd, "owned\n", 6); close(fd); }
}
"""


def build_marker_library(marker: Path, workdir: Path) -> bytes:
    """Compile the library (writing to ``marker`` when loaded) and return its bytes."""
    source = workdir / "marker.c"
    library = workdir / "marker.so"
    source.write_text(_SOURCE % str(marker).replace('"', ""))
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-o", str(library), str(source)],
        check=True,
        capture_output=True,
    )
    return library.read_bytes()


def prove_it_loads(library: Path, marker: Path) -> None:
    """Load the library into a host process once (and remove the marker): the payload is live."""
    subprocess.run(["/bin/true"], env={"LD_PRELOAD": str(library)}, check=True)
    assert marker.read_text() == "owned\n", "the marker library did not run when preloaded"
    marker.unlink()
