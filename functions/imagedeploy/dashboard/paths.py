"""Which requests are the dashboard's: decided without importing the dashboard (Jinja2 and its
pages load on the first dashboard request, not on an API cold start)."""

from __future__ import annotations

PREFIX = "/dashboard"


def is_dashboard_path(path: str) -> bool:
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")
