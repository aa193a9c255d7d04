"""``serve`` with no container engine to drive refuses to start, saying why and what the
doctor's engine check finds (the checks otherwise run after the API is up)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from imagedeploy.adapters.local.engine_service import DOCKER_SOCKET
from imagedeploy.cli.main import main
from imagedeploy.cli.serve import EXIT_REFUSED
from imagedeploy.settings import Settings

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(Path(DOCKER_SOCKET).exists(), reason="docker's socket is an engine"),
]


def test_serve_without_an_engine_refuses_with_the_doctors_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    status = main(
        ["serve", "--data-dir", str(tmp_path / "data"), "--engine", "no-such-engine"],
        stdout=out,
        settings=Settings(),
    )
    err = capsys.readouterr().err  # serve's log lines and its refusal
    assert status == EXIT_REFUSED
    assert "imagedeploy serve: no container engine found" in err
    assert "imagedeploy doctor: FAIL  container engine: no-such-engine not found on PATH" in err
    assert out.getvalue() == ""  # no API was served
    assert not (tmp_path / "data").exists()  # nothing written
