"""When the e2e tests (marker ``e2e``: a real container engine) run, and what stops them.

- They never skip because the engine cannot run containers: ``engine_problems()`` runs the
  doctor's engine checks once per session, and every e2e test then fails with the doctor's
  FAIL lines (the missing piece and its fix) instead of with a raw engine error deep inside.
- They skip only when asked: ``IMAGEDEPLOY_E2E=skip``. That switch is refused where ``CI`` is
  set, so CI always runs them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

from devkit.containers import ENGINE_ENV
from imagedeploy.adapters.local.doctor import EngineDoctor

SWITCH = "IMAGEDEPLOY_E2E"


class E2ESwitchError(Exception):
    """``IMAGEDEPLOY_E2E`` has a value that is not allowed here; the message says why."""


def skip_requested(environ: Mapping[str, str]) -> bool:
    """True when the e2e tests are to be skipped (``IMAGEDEPLOY_E2E=skip``, never in CI)."""
    value = environ.get(SWITCH, "").strip().lower()
    if value in ("", "run"):
        return False
    if value != "skip":
        raise E2ESwitchError(f"{SWITCH}={value!r}: use {SWITCH}=skip, or leave it unset")
    if environ.get("CI"):
        raise E2ESwitchError(
            f"{SWITCH}=skip is refused when CI is set: CI runs the e2e tests (unset {SWITCH})"
        )
    return True


@functools.cache
def engine_problems() -> tuple[str, ...]:
    """The doctor's failed engine checks on this machine (with the tests' engine settings),
    one line each; empty when the engine runs containers."""
    results = EngineDoctor(None, {**os.environ, **ENGINE_ENV}).run_all()
    return tuple(result.line() for result in results if not result.ok)
