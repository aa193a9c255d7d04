"""What the API routes need besides the request: the ports, and how to build URLs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from imagedeploy.ports import LogReader, Ports
from imagedeploy.settings import Settings


class LogPage(NamedTuple):
    """``limit`` bytes of kept output from ``offset`` (decoded, invalid UTF-8 replaced), and the
    size of all of it in bytes."""

    text: str
    size: int


def no_logs(_subject: str, _offset: int, _limit: int | None) -> LogPage | None:
    return None


def no_session_secret() -> bytes | None:
    return None


@dataclass(frozen=True, slots=True)
class ApiDeps:
    ports: Ports  # as ``request_ports`` makes them
    base_url: str  # the API's own base URL, e.g. http://127.0.0.1:8080
    apps_base_url: str | None = None  # where web services are reached; None: their local port
    # The kept output of a pre-deploy (deploy id, byte offset, byte limit or None for the rest ->
    # a page), where the runtime has it.
    read_logs: Callable[[str, int, int | None], LogPage | None] = no_logs
    log_reader: LogReader | None = None  # services' log lines (``GET /v1/logs``)
    # The dashboard's session cookies are sealed with a key derived from what this returns
    # (None: the dashboard answers 503 saying so), asked at the first dashboard request (on AWS
    # a Secrets Manager read); how long a session lasts.
    session_secret: Callable[[], bytes | None] = no_session_secret
    session_seconds: int = 3600


def request_ports(ports: Ports, settings: Settings) -> Ports:
    """The ports API requests run with, in both homes: registry I/O inside a request (verify,
    an image change) gets the short ``request_registry_budget_seconds``, so a registry that does
    not answer costs the caller a quick 503, not the worker's long retry budget."""
    registry = ports.registry.with_budget(settings.request_registry_budget_seconds)
    return dataclasses.replace(ports, registry=registry)
