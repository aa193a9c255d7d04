"""Runtime outcomes (``domain.outcomes``) in Render's words, and the one rule that ends a cron run
from what its runtime saw (``domain.cron.run_outcome``), for both homes."""

from __future__ import annotations

import pytest

from imagedeploy.domain.cron import RunEnd, RunStatus, run_outcome
from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.outcomes import (
    EarlyExit,
    NonZeroExit,
    OomKilled,
    PullFailed,
    ServerFailure,
    Unhealthy,
    failure_reason,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (OomKilled(512), {"evicted": False, "oomKilled": {"memoryLimit": "512Mi"}}),
        (OomKilled(), {"evicted": False, "oomKilled": {"memoryLimit": ""}}),
        (NonZeroExit(3), {"evicted": False, "nonZeroExit": 3}),
        (EarlyExit(), {"evicted": False, "earlyExit": True}),
        (Unhealthy("GET /healthz: 503"), {"evicted": False, "unhealthy": "GET /healthz: 503"}),
        (
            Unhealthy("no answer", timed_out=True),
            {"evicted": False, "unhealthy": "no answer", "timedOutReason": "unhealthy"},
        ),
    ],
)
def test_failure_reason(failure: ServerFailure, reason: dict[str, object]) -> None:
    assert failure_reason(failure) == reason


@pytest.mark.parametrize(
    ("facts", "end"),
    [
        ({"exit_code": 0}, RunEnd(RunStatus.SUCCESSFUL, 0, "")),
        ({"exit_code": 2, "message": "exited"}, RunEnd(RunStatus.UNSUCCESSFUL, 2, "exited")),
        ({"exit_code": None, "timed_out": True}, RunEnd(RunStatus.UNSUCCESSFUL, None, "timed out")),
        (
            {"exit_code": None, "failure": OomKilled(256)},
            RunEnd(RunStatus.UNSUCCESSFUL, 137, "out of memory"),
        ),
        (
            {"exit_code": 137, "failure": OomKilled(256)},
            RunEnd(RunStatus.UNSUCCESSFUL, 137, "out of memory"),
        ),
        (
            {"exit_code": None, "failure": PullFailed(PullFailureReason.NOT_FOUND, "no such tag")},
            RunEnd(RunStatus.UNSUCCESSFUL, None, "image pull failed (not_found): no such tag"),
        ),
        (
            {"exit_code": 143, "canceled": True, "message": "stopped"},
            RunEnd(RunStatus.CANCELED, 143, "stopped"),
        ),
        (
            {"exit_code": None, "failure": Unhealthy("could not start")},
            RunEnd(RunStatus.UNSUCCESSFUL, None, "could not start"),
        ),
        ({"exit_code": None}, RunEnd(RunStatus.UNSUCCESSFUL, None, "")),
    ],
)
def test_run_outcome(facts: dict[str, object], end: RunEnd) -> None:
    assert run_outcome(**facts) == end  # type: ignore[arg-type]
