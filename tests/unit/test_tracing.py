"""The handlers' X-Ray Tracer patches botocore only: an httpx request's URL (a webhook URL carries
its token in the path) must never become a trace subsegment."""

from __future__ import annotations

from typing import Any, ClassVar

import aws_lambda_powertools
import pytest

from imagedeploy.handlers import _common

pytestmark = pytest.mark.unit


class RecordingTracer:
    """Stands in for powertools' Tracer: records how it was made, runs the handler as is."""

    made: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **options: Any) -> None:
        RecordingTracer.made.append(options)

    def capture_lambda_handler(self, handler: Any, capture_response: bool) -> Any:
        assert capture_response is False  # responses can carry a deploy hook key
        return handler


def test_the_tracer_patches_botocore_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws_lambda_powertools, "Tracer", RecordingTracer)
    RecordingTracer.made.clear()

    @_common.traced
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"ok": True}

    assert handler({}, None) == {"ok": True}
    assert handler({}, None) == {"ok": True}
    (options,) = RecordingTracer.made  # made once, on the first call
    assert tuple(options["patch_modules"]) == ("botocore",)


def test_without_the_x_ray_sdk_the_handler_runs_untraced(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lambda bundle does not ship aws-xray-sdk (a second botocore, ~150 ms of cold start):
    without its layer, no Tracer is made and the handler still runs."""
    import sys

    monkeypatch.setattr(aws_lambda_powertools, "Tracer", RecordingTracer)
    monkeypatch.setitem(sys.modules, "aws_xray_sdk", None)  # import raises ImportError
    RecordingTracer.made.clear()

    @_common.traced
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"ok": True}

    assert not _common.xray_sdk_installed()
    assert handler({}, None) == {"ok": True}
    assert RecordingTracer.made == []
