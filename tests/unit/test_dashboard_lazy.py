"""The dashboard (Jinja2, its pages) loads at its first request, not when the API module is
imported: an API Lambda's cold start and serve's start-up do not pay for it."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def test_importing_the_api_does_not_import_the_dashboard() -> None:
    probe = (
        "import sys, imagedeploy.api.app; "
        "print(sorted(m for m in ('jinja2', 'imagedeploy.dashboard.app') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
