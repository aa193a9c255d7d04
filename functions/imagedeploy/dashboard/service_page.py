"""A service's page: the service, its deploys (with the rollback targets whose image is gone),
events, env vars, deploy hook, notification override, settings, a cron job's runs and next run
times, and (``dashboard.observe``) its instances, one-off jobs and current usage."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from imagedeploy.dashboard.credentials import list_credentials
from imagedeploy.dashboard.http import Answer
from imagedeploy.dashboard.notifications import NOTIFY_CHOICES
from imagedeploy.dashboard.observe import service_extras
from imagedeploy.dashboard.schedule_words import next_runs
from imagedeploy.dashboard.view import View, items
from imagedeploy.domain.accounts import NotificationsToSend
from imagedeploy.domain.cron import RunStatus
from imagedeploy.domain.deploys import CANCELABLE, DeployStatus
from imagedeploy.domain.errors import InvalidReference
from imagedeploy.domain.reference import parse_reference
from imagedeploy.domain.services import Plan

PLANS = tuple(Plan)
# a deploy can be canceled exactly while it is unfinished: these are the ones still running
RUNNING = CANCELABLE
PRE_DEPLOY = (DeployStatus.PRE_DEPLOY_IN_PROGRESS, DeployStatus.PRE_DEPLOY_FAILED)
ROLLBACK_CHECKS = 5  # earlier digests checked per page load (one registry request each)


def service_url(sid: str) -> str:
    return f"/dashboard/services/{quote(sid)}"


def service_page(view: View, sid: str, *, status: int = 200, **shown: Any) -> Answer:
    """The page; ``shown``: what the form that led here adds (an error, a new hook URL)."""
    return view.render("service.html", {**service_values(view, sid), **shown}, status=status)


def service_values(view: View, sid: str) -> dict[str, Any]:
    base = f"/v1/services/{quote(sid)}"
    service = view.must("GET", base)
    deploys = items(view.must("GET", f"{base}/deploys", query={"limit": "20"}), "deploy")
    events = items(view.must("GET", f"{base}/events", query={"limit": "30"}), "event")
    env = items(view.must("GET", f"{base}/env-vars", query={"limit": "100"}), "envVar")
    hook = view.must("GET", f"{base}/deploy-hook")
    override = view.must("GET", f"/v1/notification-settings/overrides/services/{quote(sid)}")
    live_id = (service.get("liveDeploy") or {}).get("id")
    details = service.get("serviceDetails") or {}
    docker = details.get("envSpecificDetails") or {}
    credential_id = docker.get("registryCredential", {}).get("id")
    values: dict[str, Any] = {
        "service": service,
        "details": details,
        "deploys": deploys,
        "live_id": live_id,
        "events": [describe_event(e) for e in events],
        "env": env,
        "hook": hook,
        "running": any(d.get("status") in RUNNING for d in deploys),
        "cancelable_deploys": CANCELABLE,
        "plans": PLANS,
        "override": override,
        "override_choices": (NotificationsToSend.DEFAULT, *NOTIFY_CHOICES),
        "credentials": list_credentials(view),
        "credential_id": credential_id,
    }
    pre_deploy = next((d for d in deploys if d.get("status") in PRE_DEPLOY), None) or (
        deploys[0] if deploys else None
    )
    if pre_deploy is not None and docker.get("preDeployCommand"):
        logs = view.call("GET", f"{base}/deploys/{pre_deploy['id']}/logs")
        if logs.ok and logs.data.get("preDeployOutput") is not None:
            values["pre_deploy"] = {"id": pre_deploy["id"], "text": logs.data["preDeployOutput"]}
    values.update(service_extras(view, sid, service))
    values["running"] = values["running"] or values.get("jobs_running", False)
    if not view.request.headers.get("x-dashboard-poll"):  # not on every live refresh
        values["gone"] = _gone_digests(view, credential_id, deploys, live_id)
    if service.get("type") == "cron_job":
        runs = view.must("GET", f"/v1/cron-jobs/{quote(sid)}/runs", query={"limit": "20"})
        values["runs"] = [_run_row(r) for r in items(runs, "cronJobRun")]
        values["running"] = values["running"] or any(
            r["status"] == RunStatus.PENDING
            for r in values["runs"]  # Render's word for running
        )
        values["next_runs"], values["schedule_error"] = next_runs(details.get("schedule", ""))
    return values


def _gone_digests(
    view: View, credential_id: str | None, deploys: list[dict[str, Any]], live_id: str | None
) -> dict[str, str]:
    """Why rolling back to an earlier deploy cannot work, by deploy id: its digest is no longer
    in the registry (``/v1/images/verify`` of ``name@digest``, with the service's credential).
    A registry that does not answer leaves the button enabled: the rollback's own preflight
    decides then."""
    checked: dict[str, str | None] = {}
    gone: dict[str, str] = {}
    for deploy in deploys:
        sha = (deploy.get("image") or {}).get("sha")
        if not sha or deploy.get("id") == live_id or deploy.get("status") in RUNNING:
            continue
        try:
            pinned = f"{parse_reference(deploy['image']['ref']).name}@{sha}"
        except InvalidReference:
            continue
        if pinned not in checked:
            if len(checked) >= ROLLBACK_CHECKS:
                continue
            body = {"imageUrl": pinned, "registryCredentialId": credential_id}
            answer = view.call("POST", "/v1/images/verify", body=body)
            refused = answer.ok and isinstance(answer.data, dict) and not answer.data.get("ok")
            checked[pinned] = str(answer.data.get("message", "")) if refused else None
        if (reason := checked[pinned]) is not None:
            gone[deploy["id"]] = reason
    return gone


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    duration = ""
    if run.get("finishedAt") and run.get("startedAt"):
        start = datetime.fromisoformat(str(run["startedAt"]))
        end = datetime.fromisoformat(str(run["finishedAt"]))
        duration = f"{(end - start).total_seconds():.1f} s"
    return {**run, "duration": duration}


def describe_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as a title and the lines that explain it (pull failures: reason and fix)."""
    details = event.get("details") or {}
    lines: list[str] = []
    if event.get("type") == "image_pull_failed":
        lines.append(f"image: {details.get('imageURL', '')}")
        lines.append(str(details.get("message", "")))
    for key in ("status", "deployStatus", "preDeployStatus"):
        if key in details:
            lines.append(f"{key}: {details[key]}")
    reason = details.get("reason")
    if isinstance(reason, dict):
        pull = reason.get("imagePullFailed")
        if isinstance(pull, dict):
            lines.append(f"reason: {pull.get('reason', '')} — {pull.get('message', '')}")
        failure = reason.get("failure")
        if isinstance(failure, dict) and failure.get("message"):
            lines.append(f"failure: {failure['message']}")
    for key in ("deployId", "message", "exitCode", "numInstances"):
        if key in details and not (key == "message" and event.get("type") == "image_pull_failed"):
            lines.append(f"{key}: {details[key]}")
    return {
        "type": str(event.get("type", "")).replace("_", " "),
        "timestamp": event.get("timestamp"),
        "failed": "failed" in str(event.get("type", "")) or "failed" in str(details),
        "lines": [line for line in lines if line.strip()],
    }
