"""What every handler shares: the powertools Logger, Tracer and Metrics (CloudWatch embedded
metric format, flushed by ``@metrics.log_metrics``). The Tracer never records a handler's
response (an API response can carry a deploy hook key); it is off outside Lambda."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="imagedeploy")
tracer = Tracer(service="imagedeploy")
metrics = Metrics(namespace="imagedeploy", service="imagedeploy")
