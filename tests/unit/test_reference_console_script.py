"""The installed ``imagedeploy`` console script parses a reference (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).parent / "imagedeploy"


@pytest.mark.skipif(not SCRIPT.exists(), reason="the package is not installed in this venv")
def test_console_script_parses_alpine() -> None:
    done = subprocess.run(
        [str(SCRIPT), "image", "parse", "alpine"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "input": "alpine",
        "registry": "docker.io",
        "repository": "library/alpine",
        "tag": None,
        "digest": None,
        "normalized": "docker.io/library/alpine:latest",
        "familiar": "alpine",
    }
