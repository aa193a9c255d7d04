"""The service's logs page and the instances, one-off jobs and current CPU and memory shown on
its page: reads of ``GET /v1/logs``, ``/v1/services/{id}/instances``, ``/v1/services/{id}/jobs``
and ``/v1/metrics/cpu|memory`` through the public API (``View.call``), shaped for the
templates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from imagedeploy.dashboard.http import Answer
from imagedeploy.dashboard.view import View, items
from imagedeploy.domain.jobs import JobStatus
from imagedeploy.domain.timestamps import rfc3339

LOG_RANGES = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "24h": timedelta(hours=24)}
LOG_RANGE_NAMES = {"15m": "last 15 minutes", "1h": "last hour", "24h": "last 24 hours"}
LOG_LINES_PER_PAGE = 100
JOBS_SHOWN = 20
UNFINISHED_JOBS = tuple(s for s in JobStatus if not s.finished)


def _log_row(entry: dict[str, Any]) -> dict[str, Any]:
    labels = {
        str(label.get("name")): str(label.get("value"))
        for label in entry.get("labels") or []
        if isinstance(label, dict)
    }
    return {
        "timestamp": entry.get("timestamp"),
        "instance": labels.get("instance", ""),
        "type": labels.get("type", ""),
        "level": labels.get("level", ""),
        "message": entry.get("message", ""),
    }


def service_logs(view: View, sid: str) -> Answer:
    """Newest first over the chosen range; "Older lines" follows the API's ``nextEndTime``; with
    ``live`` the page refreshes itself (``data-poll``, app.js) and shows the newest lines."""
    service = view.must("GET", f"/v1/services/{quote(sid)}")
    q = view.request.query
    text = q.get("text", "")
    span = q.get("range", "1h") if q.get("range") in LOG_RANGES else "1h"
    live = q.get("live") == "1"
    now = datetime.now(UTC)
    query = {
        "ownerId": view.session.owner_id or "",
        "resource": sid,
        "direction": "backward",
        "limit": str(LOG_LINES_PER_PAGE),
        "text": text,
        "startTime": q.get("startTime") or rfc3339(now - LOG_RANGES[span]),
        "endTime": "" if live else q.get("endTime", ""),
    }
    answer = view.call("GET", "/v1/logs", query=query)
    data = answer.data if answer.ok and isinstance(answer.data, dict) else {}
    older = None
    if data.get("hasMore") and not live:
        older = "?" + urlencode(
            {
                "text": text,
                "range": span,
                "startTime": data.get("nextStartTime", ""),
                "endTime": data.get("nextEndTime", ""),
            }
        )
    values = {
        "service": service,
        "lines": [_log_row(e) for e in data.get("logs") or [] if isinstance(e, dict)],
        "text": text,
        "range": span,
        "ranges": LOG_RANGE_NAMES,
        "live": live,
        "older": older,
        "error": None if answer.ok else answer.message,
    }
    return view.render("logs.html", values, status=200 if answer.ok else answer.status)


def service_extras(view: View, sid: str, service: dict[str, Any]) -> dict[str, Any]:
    """The service page's instances and one-off jobs (a cron job has neither instances nor
    jobs here)."""
    if service.get("type") == "cron_job":
        return {}
    base = f"/v1/services/{quote(sid)}"
    found = view.call("GET", f"{base}/instances")
    listed = view.call("GET", f"{base}/jobs", query={"limit": str(JOBS_SHOWN)})
    jobs = items(listed.data, "job") if listed.ok else []
    return {
        "usage": current_usage(view, sid),
        "instances": found.data if found.ok and isinstance(found.data, list) else [],
        "jobs": jobs,
        "unfinished_jobs": UNFINISHED_JOBS,
        "jobs_running": any(j.get("status") in UNFINISHED_JOBS for j in jobs),
    }


def _latest_total(view: View, metric: str, sid: str) -> float | None:
    """The sum over the service's instance series of each one's latest point (the API's
    default range: the last hour), or None when there is none."""
    answer = view.call("GET", f"/v1/metrics/{metric}", query={"resource": sid})
    if not answer.ok or not isinstance(answer.data, list):
        return None
    latest = [
        series["values"][-1]["value"]
        for series in answer.data
        if isinstance(series, dict) and series.get("values")
    ]
    numbers = [float(v) for v in latest if isinstance(v, int | float)]
    return sum(numbers) if numbers else None


def current_usage(view: View, sid: str) -> dict[str, Any]:
    """CPU in cores and memory in bytes, each None when the home keeps no samples (yet)."""
    return {"cpu": _latest_total(view, "cpu", sid), "memory": _latest_total(view, "memory", sid)}
