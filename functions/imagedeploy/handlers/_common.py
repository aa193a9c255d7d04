"""What every handler shares: the powertools Logger, Tracer and Metrics (CloudWatch embedded
metric format, flushed by ``@metrics.log_metrics``).

The Tracer is made on the first invocation (``@traced``), not at import: it loads the X-Ray
SDK and botocore, which would make importing a handler ~8x slower. It never records a handler's
response (an API response can carry a deploy hook key), and it is off outside Lambda.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="imagedeploy")
metrics = Metrics(namespace="imagedeploy", service="imagedeploy")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

#: What the Tracer patches: AWS calls only. Not httpx (powertools' default patches every module
#: X-Ray supports): webhook URLs carry their token in the path and would go to X-Ray.
TRACED_MODULES = ("botocore",)


def xray_sdk_installed() -> bool:
    """The X-Ray SDK is not in the Lambda bundle (functions/requirements.in): it costs ~150 ms
    of every cold start and ships a second botocore. Lambda's active tracing records each
    invocation without it; the stack's optional ``XRaySdkLayerArn`` layer brings it back for
    per-AWS-call subsegments."""
    try:
        import aws_xray_sdk  # type: ignore[import-untyped]  # noqa: F401  (a version string only)
    except ImportError:
        return False
    return True


def traced(handler: Handler) -> Handler:
    """``Tracer.capture_lambda_handler(capture_response=False)``, with the Tracer created on the
    first call, when the X-Ray SDK is installed (``xray_sdk_installed``)."""
    wrapped: Handler | None = None

    @functools.wraps(handler)
    def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        nonlocal wrapped
        if wrapped is None:
            if not xray_sdk_installed():
                wrapped = handler
            else:
                from aws_lambda_powertools import Tracer

                tracer = Tracer(service="imagedeploy", patch_modules=TRACED_MODULES)
                wrapped = tracer.capture_lambda_handler(handler, capture_response=False)
        return wrapped(event, context)

    return run
