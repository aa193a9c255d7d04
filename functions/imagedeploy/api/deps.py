"""What the API routes need besides the request: the ports, and how to build URLs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from imagedeploy.ports import Ports


@dataclass(frozen=True, slots=True)
class ApiDeps:
    ports: Ports
    base_url: str  # the API's own base URL, e.g. http://127.0.0.1:8080
    apps_base_url: str | None = None  # where web services are reached; None: their local port
    # The kept output of a pre-deploy or start-up (deploy id -> text), where the runtime has it.
    read_logs: Callable[[str], str | None] = lambda _subject: None
