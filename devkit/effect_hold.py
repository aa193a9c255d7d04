"""Stop a ``serve`` between a commit and the dispatch of its effects (issue 9: ``serve``
SIGKILLed while an outbox record is committed and not yet dispatched).

``ServeProcess.start(..., extra_env=hold_effect_env("StartRollout", marker))`` starts ``serve``
with ``devkit/site_hooks`` first on its ``PYTHONPATH``; the ``sitecustomize`` there makes the
outbox dispatcher, about to execute the first effect of that type, write ``marker`` and block
for good (the record stays in the store, its effect not run). The test then kills ``serve`` and
starts it again without the hold. No code of the platform knows about this hook.
"""

from __future__ import annotations

import os
from pathlib import Path

SITE_HOOKS = Path(__file__).parent / "site_hooks"
EFFECT_VAR = "DEVKIT_HOLD_EFFECT"
MARKER_VAR = "DEVKIT_HOLD_MARKER"


def hold_effect_env(effect_type: str, marker: Path) -> dict[str, str]:
    """The environment that makes a ``serve`` hold the first ``effect_type`` it dispatches."""
    path = os.pathsep.join(p for p in (str(SITE_HOOKS), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, EFFECT_VAR: effect_type, MARKER_VAR: str(marker)}
