"""Run ``skopeo`` against the test registries (plain HTTP on loopback) without leaking secrets.

Credentials go in argv (``--creds``) because that is what the benchmark compares with; errors
raised here therefore never include the command line, only skopeo's stderr.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from devkit.regclient import Credentials

SKOPEO_TIMEOUT = 60.0


class SkopeoError(RuntimeError):
    pass


def skopeo(*args: str, creds: Credentials | None = None, timeout: float = SKOPEO_TIMEOUT) -> bytes:
    """Run ``skopeo <args>`` with ``--creds`` or ``--no-creds`` inserted after the subcommand.

    ``args[0]`` is the subcommand (``inspect``, ``copy``...). Returns stdout.
    """
    binary = shutil.which("skopeo")
    if binary is None:
        raise SkopeoError("skopeo not found: install the Debian package skopeo (./dev setup)")
    subcommand, *rest = args
    auth = ["--creds", creds.skopeo_creds()] if creds else ["--no-creds"]
    if subcommand == "copy":  # copy has --src-creds/--dest-creds instead
        auth = ["--src-creds", creds.skopeo_creds()] if creds else ["--src-no-creds"]
    try:
        result = subprocess.run(
            [binary, "--insecure-policy", subcommand, *auth, *rest],
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        # TimeoutExpired's message includes argv (and so --creds): replace it.
        raise SkopeoError(f"skopeo {subcommand} timed out after {timeout}s") from None
    if result.returncode != 0:
        # Deliberately without argv: it may contain --creds.
        raise SkopeoError(
            f"skopeo {subcommand} exited {result.returncode}: "
            + result.stderr.decode(errors="replace")[-2000:]
        )
    return result.stdout


def inspect(
    reference: str, *, raw: bool = False, creds: Credentials | None = None
) -> dict[str, Any]:
    """``skopeo inspect [--raw] docker://<reference>`` over plain HTTP, parsed."""
    out = inspect_bytes(reference, raw=raw, creds=creds)
    parsed: dict[str, Any] = json.loads(out)
    return parsed


def inspect_bytes(reference: str, *, raw: bool = False, creds: Credentials | None = None) -> bytes:
    """Like :func:`inspect`, but the exact bytes (``--raw`` gives the manifest as served)."""
    flags = ["--raw"] if raw else []
    return skopeo("inspect", "--tls-verify=false", *flags, f"docker://{reference}", creds=creds)


def copy_to_oci_layout(
    reference: str,
    layout: Path,
    tag: str,
    *,
    all_platforms: bool = False,
    creds: Credentials | None = None,
) -> None:
    """``skopeo copy [--all] docker://<reference> oci:<layout>:<tag>``."""
    flags = ["--all"] if all_platforms else []
    skopeo(
        "copy",
        "--src-tls-verify=false",
        *flags,
        f"docker://{reference}",
        f"oci:{layout}:{tag}",
        creds=creds,
    )
