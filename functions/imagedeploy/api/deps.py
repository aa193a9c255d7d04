"""What the API routes need besides the request: the ports, and how to build URLs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from imagedeploy.usecases.context import Ports


class LogPage(NamedTuple):
    """``limit`` bytes of kept output from ``offset`` (decoded, invalid UTF-8 replaced), and the
    size of all of it in bytes."""

    text: str
    size: int


def no_logs(_subject: str, _offset: int, _limit: int | None) -> LogPage | None:
    return None


@dataclass(frozen=True, slots=True)
class ApiDeps:
    ports: Ports
    base_url: str  # the API's own base URL, e.g. http://127.0.0.1:8080
    apps_base_url: str | None = None  # where web services are reached; None: their local port
    # The kept output of a pre-deploy (deploy id, byte offset, byte limit or None for the rest ->
    # a page), where the runtime has it.
    read_logs: Callable[[str, int, int | None], LogPage | None] = no_logs
