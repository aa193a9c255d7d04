"""What every page shares: ``View`` (one request being answered, with the API bound to its
session's key), how a form's outcome is answered, and the small shaping helpers the pages and
templates use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from imagedeploy.dashboard.api import ApiAnswer, InProcessApi
from imagedeploy.dashboard.http import Answer, Request, redirect
from imagedeploy.dashboard.sessions import Session

if TYPE_CHECKING:
    from imagedeploy.dashboard.app import Dashboard


class View:
    """One request being answered: the request, its session and the API bound to its key."""

    def __init__(
        self, dashboard: Dashboard, request: Request, session: Session, api: InProcessApi
    ) -> None:
        self.dashboard = dashboard
        self.request = request
        self.session = session
        self._api = api
        self.session_after: Session | None = None  # set by sign-in / sign-out

    def call(self, method: str, path: str, **kwargs: Any) -> ApiAnswer:
        return self._api.call(self.session.api_key or "", method, path, **kwargs)

    def call_with(self, api_key: str, method: str, path: str) -> ApiAnswer:
        """A call with a key that is not (yet) the session's: the sign-in check."""
        return self._api.call(api_key, method, path)

    def must(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._api.must(self.session.api_key or "", method, path, **kwargs)

    def render(self, name: str, values: Mapping[str, Any], *, status: int = 200) -> Answer:
        session = self.session_after or self.session
        html = self.dashboard.render(
            name,
            {
                "csrf": session.csrf,
                "signed_in": session.signed_in,
                "path": self.request.path,
                **values,
            },
        )
        return Answer(status, html)


def form_outcome(answer: ApiAnswer, location: str, again: Callable[..., Answer]) -> Answer:
    """A form posted: back to ``location`` (303) when the API did it; on a refusal the page
    again (``again(error=, status=)``) with the API's message and status."""
    if answer.ok:
        return redirect(location)
    return again(error=answer.message, status=answer.status)


def when(value: Any) -> str:
    """An RFC 3339 time as ``2026-01-02 03:04:05 UTC``; "" for none."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def size(value: Any) -> str:
    """A byte count as ``1.0 MiB (1032737 bytes)``."""
    if not isinstance(value, int):
        return ""
    scaled, unit = float(value), "bytes"
    for next_unit in ("KiB", "MiB", "GiB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, next_unit
    return f"{value} bytes" if unit == "bytes" else f"{scaled:.1f} {unit} ({value} bytes)"


def items(data: Any, key: str) -> list[dict[str, Any]]:
    """The entries of a Render-style list answer (``[{key: {...}, "cursor": ...}]``)."""
    return [entry[key] for entry in data or [] if isinstance(entry, dict) and key in entry]
