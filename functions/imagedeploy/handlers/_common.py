"""What every handler shares: the powertools Logger and Metrics (CloudWatch embedded metric
format, flushed by ``@metrics.log_metrics``; no extra dependency). The Tracer is not used: it
needs the X-Ray SDK in the bundle and active tracing in the template, for a cold-start cost."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="imagedeploy")
metrics = Metrics(namespace="imagedeploy", service="imagedeploy")
