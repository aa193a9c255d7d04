"""When e2e tests may skip: only on ``IMAGEDEPLOY_E2E=skip``, and never where ``CI`` is set."""

from __future__ import annotations

import pytest

from devkit.e2e import E2ESwitchError, skip_requested

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("environ", "skip"),
    [({}, False), ({"IMAGEDEPLOY_E2E": "run"}, False), ({"IMAGEDEPLOY_E2E": "skip"}, True)],
)
def test_the_switch(environ: dict[str, str], skip: bool) -> None:
    assert skip_requested(environ) is skip


def test_ci_refuses_the_skip() -> None:
    with pytest.raises(E2ESwitchError, match="refused when CI is set"):
        skip_requested({"IMAGEDEPLOY_E2E": "skip", "CI": "true"})
    assert skip_requested({"CI": "true"}) is False


def test_an_unknown_value_is_an_error_not_a_silent_run() -> None:
    with pytest.raises(E2ESwitchError, match="use IMAGEDEPLOY_E2E=skip"):
        skip_requested({"IMAGEDEPLOY_E2E": "no"})
