"""What every handler shares: the powertools logger (cheap; no tracer or metrics)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="imagedeploy")
