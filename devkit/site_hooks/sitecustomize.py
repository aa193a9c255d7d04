"""Imported at start-up by a Python whose ``PYTHONPATH`` starts here (``devkit.effect_hold``):
with ``DEVKIT_HOLD_EFFECT`` and ``DEVKIT_HOLD_MARKER`` set, the outbox dispatcher blocks for good
before executing the first effect of that type, once it has written the marker file."""

from __future__ import annotations

import os

_EFFECT = os.environ.get("DEVKIT_HOLD_EFFECT", "")
_MARKER = os.environ.get("DEVKIT_HOLD_MARKER", "")

if _EFFECT and _MARKER:
    import threading
    from pathlib import Path
    from typing import Any

    from imagedeploy.usecases import outbox

    _execute = outbox.execute
    _held = threading.Lock()

    def _holding_execute(ports: Any, effect: Any) -> None:
        if type(effect).__name__ == _EFFECT and _held.acquire(blocking=False):
            Path(_MARKER).write_text(f"{effect!r}\n")
            threading.Event().wait()  # until the test kills this process
        _execute(ports, effect)

    outbox.execute = _holding_execute
