"""``Periodic``: the one thread behind serve's metrics sampler, log retention and reconcile."""

from __future__ import annotations

import threading

import pytest

from imagedeploy.adapters.local.periodic import Periodic

pytestmark = pytest.mark.unit


def test_a_failing_action_is_logged_and_called_again(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    third = threading.Event()

    def action() -> None:
        calls.append(1)
        if len(calls) >= 3:
            third.set()
        raise RuntimeError("boom")

    periodic = Periodic("test-periodic", 0.01, action, failure="the action failed").start()
    assert third.wait(5)
    periodic.stop(5)
    count = len(calls)
    assert "the action failed" in caplog.text
    third.clear()
    assert not third.wait(0.05) and len(calls) == count  # stopped: no more calls


def test_stopping_one_never_started_is_fine() -> None:
    # ``serve`` stops what it built when the resume fails, before these were started.
    Periodic("test-periodic", 60, lambda: None, failure="").stop(1)
