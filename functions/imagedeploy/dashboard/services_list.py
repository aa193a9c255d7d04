"""The services list: ``GET /v1/services`` (name and type filters, cursor pages) with each
service's latest and live deploy; the latest deploy's status filters here (the API has no such
filter)."""

from __future__ import annotations

from urllib.parse import urlencode

from imagedeploy.dashboard.http import Answer
from imagedeploy.dashboard.view import View, items
from imagedeploy.domain.services import ServiceType

SERVICE_TYPES = tuple(ServiceType)
# the statuses an image deploy can have, in the order a deploy goes through them
DEPLOY_STATUSES = (
    "created", "queued", "update_in_progress", "pre_deploy_in_progress", "live", "deactivated",
    "update_failed", "pre_deploy_failed", "canceled",
)  # fmt: skip
SERVICES_PER_PAGE = 50


def services_list(view: View) -> Answer:
    q = view.request.query
    filters = {"type": q.get("type", ""), "name": q.get("name", ""), "status": q.get("status", "")}
    query = {
        "limit": str(SERVICES_PER_PAGE),
        "type": filters["type"],
        "name": filters["name"],
        "cursor": q.get("cursor", ""),
    }
    answer = view.call("GET", "/v1/services", query=query)
    listed = answer.data if answer.ok and isinstance(answer.data, list) else []
    next_page = None
    if len(listed) == SERVICES_PER_PAGE and isinstance(listed[-1], dict):
        next_page = "?" + urlencode(
            {**{k: v for k, v in filters.items() if v}, "cursor": listed[-1]["cursor"]}
        )
    error = None if answer.ok else answer.message
    rows = []
    for service in items(answer.data, "service") if answer.ok else []:
        deploys = items(
            view.must("GET", f"/v1/services/{service['id']}/deploys", query={"limit": "10"}),
            "deploy",
        )
        latest = deploys[0] if deploys else None
        if filters["status"] and (latest or {}).get("status") != filters["status"]:
            continue
        live = service.get("liveDeploy") or next(
            (d for d in deploys if d.get("status") == "live"), None
        )
        rows.append({"service": service, "latest": latest, "live": live})
    return view.render(
        "services.html",
        {
            "rows": rows,
            "filters": filters,
            "types": SERVICE_TYPES,
            "statuses": DEPLOY_STATUSES,
            "error": error,
            "next_page": next_page,
        },
        status=200 if answer.ok else answer.status,
    )
