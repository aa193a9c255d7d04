"""Structured logging. Library modules log through ``logging.getLogger(__name__)`` with
``extra=`` fields; entry points call ``configure_logging`` once so those records come out as
Powertools JSON."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

ROOT_LOGGER = "imagedeploy"


def configure_logging(level: int | str = logging.WARNING, stream: TextIO | None = None) -> None:
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LambdaPowertoolsFormatter(service=ROOT_LOGGER))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
