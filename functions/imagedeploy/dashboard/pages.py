"""The dashboard's pages. Each reads and writes through ``View.api`` (the public API in
process, with the session's key); nothing here touches a port or a use case directly. The one
computation done here, a cron schedule's next run times, uses the domain's own evaluator.

A state-changing form posts, and on success redirects back (303) to the page it belongs to; on
an API refusal the page is shown again with the API's message and status."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from imagedeploy.dashboard.api import ApiAnswer, InProcessApi
from imagedeploy.dashboard.http import Answer, Request, redirect
from imagedeploy.dashboard.observe import service_extras
from imagedeploy.dashboard.sessions import Session, new_session
from imagedeploy.domain.errors import InvalidInput, InvalidReference
from imagedeploy.domain.reference import parse_reference
from imagedeploy.domain.schedules import next_fire

if TYPE_CHECKING:
    from imagedeploy.dashboard.app import Dashboard

SERVICE_TYPES = ("web_service", "private_service", "background_worker", "cron_job")
PLANS = ("starter", "standard", "pro", "pro_plus", "pro_max", "pro_ultra")
REGISTRIES = ("DOCKER", "GITHUB", "GITLAB", "GOOGLE_ARTIFACT", "AWS_ECR")
DEPLOY_STATUSES = (
    "created", "queued", "update_in_progress", "pre_deploy_in_progress", "live", "deactivated",
    "update_failed", "pre_deploy_failed", "canceled",
)  # fmt: skip
RUNNING = {"created", "queued", "update_in_progress", "pre_deploy_in_progress"}
NOTIFY_CHOICES = ("none", "failure", "all")
SERVICES_PER_PAGE = 50


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


def when(value: Any) -> str:
    """An RFC 3339 time as ``2026-01-02 03:04:05 UTC``; "" for none."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
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


def _items(data: Any, key: str) -> list[dict[str, Any]]:
    return [entry[key] for entry in data or [] if isinstance(entry, dict) and key in entry]


def _service_url(sid: str) -> str:
    return f"/dashboard/services/{quote(sid)}"


# -- sign-in ----------------------------------------------------------------------------------


def home(view: View) -> Answer:
    return redirect("/dashboard/services" if view.session.signed_in else "/dashboard/sign-in")


def sign_in_form(view: View) -> Answer:
    return view.render("sign_in.html", {})


def sign_in(view: View) -> Answer:
    key = view.request.field("api_key").strip()
    if not key:
        return view.render("sign_in.html", {"error": "Enter an API key."}, status=400)
    answer = view.call_with(key, "GET", "/v1/owners")
    owners = _items(answer.data, "owner") if answer.ok else []
    if not owners:
        message = answer.message if not answer.ok else "this key has no workspace"
        return view.render("sign_in.html", {"error": f"Not signed in: {message}"}, status=401)
    # a new session (and CSRF token) on sign-in: nothing from before it carries over
    view.session_after = new_session(key, str(owners[0]["id"]))
    return redirect("/dashboard/services")


def sign_out(view: View) -> Answer:
    view.session_after = new_session()
    return redirect("/dashboard/sign-in")


# -- services ---------------------------------------------------------------------------------


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
    for service in _items(answer.data, "service") if answer.ok else []:
        deploys = _items(
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


def _credentials(view: View) -> list[dict[str, Any]]:
    data = view.must("GET", "/v1/registrycredentials", query={"limit": "100"})
    return [c for c in data or [] if isinstance(c, dict)]


def new_service_form(view: View) -> Answer:
    return view.render("new_service.html", _new_values(view, {}))


def _new_values(view: View, values: dict[str, Any]) -> dict[str, Any]:
    form = {
        "image_url": view.request.field("image_url"),
        "credential": view.request.field("credential"),
        "type": view.request.field("type", "web_service"),
        "name": view.request.field("name"),
        "plan": view.request.field("plan", "starter"),
        "instances": view.request.field("instances", "1"),
        "command": view.request.field("command"),
        "health_check_path": view.request.field("health_check_path"),
        "pre_deploy_command": view.request.field("pre_deploy_command"),
        "schedule": view.request.field("schedule"),
        "env": view.request.field("env"),
    }
    return {
        "form": form,
        "credentials": _credentials(view),
        "types": SERVICE_TYPES,
        "plans": PLANS,
        **values,
    }


def new_service_verify(view: View) -> Answer:
    image_url = view.request.field("image_url").strip()
    body: dict[str, Any] = {"imageUrl": image_url}
    if credential := view.request.field("credential"):
        body["registryCredentialId"] = credential
    answer = view.call("POST", "/v1/images/verify", body=body)
    values: dict[str, Any] = {"verified": answer.data if answer.ok else None}
    if not answer.ok:
        values["error"] = answer.message
    return view.render(
        "new_service.html", _new_values(view, values), status=200 if answer.ok else answer.status
    )


def next_runs(schedule: str, count: int = 5) -> tuple[list[str], str | None]:
    """The next ``count`` run times in UTC, or the schedule's problem."""
    times: list[str] = []
    moment = datetime.now(UTC)
    try:
        for _ in range(count):
            moment = next_fire(schedule, moment)
            times.append(moment.strftime("%Y-%m-%d %H:%M UTC (%A)"))
    except InvalidInput as exc:
        return [], exc.message
    return times, None


def _env_lines(text: str) -> tuple[list[dict[str, str]], str | None]:
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            return [], f"env var line {number} is not KEY=value"
        pairs.append({"key": key.strip(), "value": value})
    return pairs, None


def new_service_create(view: View) -> Answer:
    form = _new_values(view, {})["form"]
    verified = {"ok": True, "imageUrl": form["image_url"]}
    if view.request.field("intent") == "preview":
        runs, problem = next_runs(form["schedule"])
        return view.render(
            "new_service.html",
            _new_values(view, {"verified": verified, "runs": runs, "schedule_error": problem}),
        )
    env, problem = _env_lines(form["env"])
    if problem:
        return view.render(
            "new_service.html",
            _new_values(view, {"verified": verified, "error": problem}),
            status=400,
        )
    owner = view.session.owner_id
    details: dict[str, Any] = {
        "runtime": "image",
        "plan": form["plan"],
        "envSpecificDetails": {"dockerCommand": form["command"]},
    }
    if form["type"] == "cron_job":
        details["schedule"] = form["schedule"]
    else:
        try:
            details["numInstances"] = int(form["instances"] or "1")
        except ValueError:
            details["numInstances"] = form["instances"]  # the API says what is wrong
        details["preDeployCommand"] = form["pre_deploy_command"]
        if form["type"] == "web_service":
            details["healthCheckPath"] = form["health_check_path"]
    image: dict[str, Any] = {"ownerId": owner, "imagePath": form["image_url"]}
    if form["credential"]:
        image["registryCredentialId"] = form["credential"]
    body = {
        "type": form["type"],
        "name": form["name"],
        "ownerId": owner,
        "image": image,
        "envVars": env,
        "serviceDetails": details,
    }
    answer = view.call("POST", "/v1/services", body=body)
    if not answer.ok:
        return view.render(
            "new_service.html",
            _new_values(view, {"verified": verified, "error": answer.message}),
            status=answer.status,
        )
    return redirect(_service_url(answer.data["service"]["id"]))


def _service_values(view: View, sid: str) -> dict[str, Any]:
    base = f"/v1/services/{quote(sid)}"
    service = view.must("GET", base)
    deploys = _items(view.must("GET", f"{base}/deploys", query={"limit": "20"}), "deploy")
    events = _items(view.must("GET", f"{base}/events", query={"limit": "30"}), "event")
    env = _items(view.must("GET", f"{base}/env-vars", query={"limit": "100"}), "envVar")
    hook = view.must("GET", f"{base}/deploy-hook")
    override = view.must("GET", f"/v1/notification-settings/overrides/services/{quote(sid)}")
    live_id = (service.get("liveDeploy") or {}).get("id")
    values: dict[str, Any] = {
        "service": service,
        "details": service.get("serviceDetails") or {},
        "deploys": deploys,
        "live_id": live_id,
        "events": [describe_event(e) for e in events],
        "env": env,
        "hook": hook,
        "running": any(d.get("status") in RUNNING for d in deploys),
        "plans": PLANS,
        "override": override,
        "override_choices": ("default", *NOTIFY_CHOICES),
        "credentials": _credentials(view),
        "credential_id": ((service.get("serviceDetails") or {}).get("envSpecificDetails") or {})
        .get("registryCredential", {})
        .get("id"),
    }
    pre_deploy = next(
        (d for d in deploys if d.get("status") in ("pre_deploy_in_progress", "pre_deploy_failed")),
        None,
    ) or (deploys[0] if deploys else None)
    docker = (service.get("serviceDetails") or {}).get("envSpecificDetails") or {}
    if pre_deploy is not None and docker.get("preDeployCommand"):
        logs = view.call("GET", f"{base}/deploys/{pre_deploy['id']}/logs")
        if logs.ok and logs.data.get("preDeployOutput") is not None:
            values["pre_deploy"] = {"id": pre_deploy["id"], "text": logs.data["preDeployOutput"]}
    values.update(service_extras(view, sid, service))
    values["running"] = values["running"] or values.get("jobs_running", False)
    if not view.request.headers.get("x-dashboard-poll"):  # not on every live refresh
        values["gone"] = _gone_digests(view, service, deploys, live_id)
    if service.get("type") == "cron_job":
        runs = view.must("GET", f"/v1/cron-jobs/{quote(sid)}/runs", query={"limit": "20"})
        values["runs"] = [_run_row(r) for r in _items(runs, "cronJobRun")]
        values["running"] = values["running"] or any(
            r["status"] in ("pending", "running", "started") for r in values["runs"]
        )
        schedule = (service.get("serviceDetails") or {}).get("schedule", "")
        values["next_runs"], values["schedule_error"] = next_runs(schedule)
    return values


ROLLBACK_CHECKS = 5  # earlier digests checked per page load (one registry request each)


def _gone_digests(
    view: View, service: dict[str, Any], deploys: list[dict[str, Any]], live_id: str | None
) -> dict[str, str]:
    """Why rolling back to an earlier deploy cannot work, by deploy id: its digest is no longer
    in the registry (``/v1/images/verify`` of ``name@digest``, with the service's credential).
    A registry that does not answer leaves the button enabled: the rollback's own preflight
    decides then."""
    credential = (
        ((service.get("serviceDetails") or {}).get("envSpecificDetails") or {})
        .get("registryCredential", {})
        .get("id")
    )
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
            body = {"imageUrl": pinned, "registryCredentialId": credential}
            answer = view.call("POST", "/v1/images/verify", body=body)
            refused = answer.ok and isinstance(answer.data, dict) and not answer.data.get("ok")
            checked[pinned] = str(answer.data.get("message", "")) if refused else None
        if (reason := checked[pinned]) is not None:
            gone[deploy["id"]] = reason
    return gone


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    duration = ""
    if run.get("finishedAt") and run.get("startedAt"):
        start = datetime.fromisoformat(str(run["startedAt"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(run["finishedAt"]).replace("Z", "+00:00"))
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
        "id": event.get("id"),
        "type": str(event.get("type", "")).replace("_", " "),
        "timestamp": event.get("timestamp"),
        "failed": "failed" in str(event.get("type", "")) or "failed" in str(details),
        "lines": [line for line in lines if line.strip()],
    }


def service_page(view: View, sid: str) -> Answer:
    return view.render("service.html", _service_values(view, sid))


def _service_action_call(view: View, sid: str, action: str) -> ApiAnswer | Answer:
    base = f"/v1/services/{quote(sid)}"
    field = view.request.field
    match action:
        case "deploy":
            body = {"imageUrl": field("image_url").strip()} if field("image_url").strip() else {}
            return view.call("POST", f"{base}/deploys", body=body)
        case "rollback":
            return view.call("POST", f"{base}/rollback", body={"deployId": field("deploy_id")})
        case "cancel-deploy":
            return view.call("POST", f"{base}/deploys/{quote(field('deploy_id'))}/cancel")
        case "suspend" | "resume" | "restart":
            return view.call("POST", f"{base}/{action}")
        case "scale":
            raw = field("instances")
            count: Any = int(raw) if raw.strip().isdigit() else raw
            return view.call("POST", f"{base}/scale", body={"numInstances": count})
        case "settings":
            details: dict[str, Any] = {"plan": field("plan")}
            for form_name, api_name in (
                ("health_check_path", "healthCheckPath"),
                ("pre_deploy_command", "preDeployCommand"),
                ("schedule", "schedule"),
            ):
                if form_name in view.request.form:
                    details[api_name] = field(form_name)
            if "max_shutdown_delay" in view.request.form:
                delay = field("max_shutdown_delay").strip()
                details["maxShutdownDelaySeconds"] = int(delay) if delay.isdigit() else delay
            details["envSpecificDetails"] = {"dockerCommand": field("command")}
            patch: dict[str, Any] = {"name": field("name"), "serviceDetails": details}
            return view.call("PATCH", base, body=patch)
        case "image":
            # the whole image source: an empty credential means pulling anonymously
            image = {
                "ownerId": view.session.owner_id,
                "imagePath": field("image_url").strip(),
                "registryCredentialId": field("credential") or None,
            }
            return view.call("PATCH", base, body={"image": image})
        case "env-set":
            key = field("key").strip()
            return view.call(
                "PUT", f"{base}/env-vars/{quote(key, safe='')}", body={"value": field("value")}
            )
        case "env-delete":
            return view.call("DELETE", f"{base}/env-vars/{quote(field('key'), safe='')}")
        case "notifications":
            body = {"notificationsToSend": field("notifications_to_send")}
            path = f"/v1/notification-settings/overrides/services/{quote(sid)}"
            return view.call("PATCH", path, body=body)
        case "run":
            return view.call("POST", f"/v1/cron-jobs/{quote(sid)}/runs")
        case "cancel-run":
            return view.call("DELETE", f"/v1/cron-jobs/{quote(sid)}/runs")
        case "run-job":
            return view.call("POST", f"{base}/jobs", body={"startCommand": field("command")})
        case "cancel-job":
            return view.call("POST", f"{base}/jobs/{quote(field('job_id'), safe='')}/cancel")
        case "delete":
            service = view.must("GET", base)
            if field("confirm_name") != service.get("name"):
                values = _service_values(view, sid)
                values["error"] = "Not deleted: type the service's name exactly to confirm."
                return view.render("service.html", values, status=400)
            answer = view.call("DELETE", base)
            return redirect("/dashboard/services") if answer.ok else answer
        case "hook":
            answer = view.call("POST", f"{base}/deploy-hook/regenerate")
            if not answer.ok:
                return answer
            values = _service_values(view, sid)
            values["hook_url"] = answer.data["url"]  # shown this once; stored hashed
            return view.render("service.html", values)
    return view.render("not_found.html", {}, status=404)


def service_action(view: View, sid: str, action: str) -> Answer:
    result = _service_action_call(view, sid, action)
    if isinstance(result, Answer):
        return result
    if result.ok:
        return redirect(_service_url(sid))
    values = _service_values(view, sid)
    values["error"] = result.message
    return view.render("service.html", values, status=result.status)


# -- registry credentials -----------------------------------------------------------------------


def credentials_page(view: View, *, error: str | None = None, status: int = 200) -> Answer:
    values = {"credentials": _credentials(view), "registries": REGISTRIES, "error": error}
    return view.render("credentials.html", values, status=status)


def _credential_body(view: View) -> dict[str, Any]:
    field = view.request.field
    return {
        "registry": field("registry"),
        "name": field("name"),
        "username": field("username"),
        "authToken": field("token"),
    }


def credential_create(view: View) -> Answer:
    body = {**_credential_body(view), "ownerId": view.session.owner_id}
    answer = view.call("POST", "/v1/registrycredentials", body=body)
    if answer.ok:
        return redirect("/dashboard/credentials")
    return credentials_page(view, error=answer.message, status=answer.status)


def credential_update(view: View, cid: str) -> Answer:
    answer = view.call(
        "PATCH", f"/v1/registrycredentials/{quote(cid)}", body=_credential_body(view)
    )
    if answer.ok:
        return redirect("/dashboard/credentials")
    return credentials_page(view, error=answer.message, status=answer.status)


def credential_delete(view: View, cid: str) -> Answer:
    answer = view.call("DELETE", f"/v1/registrycredentials/{quote(cid)}")
    if answer.ok:
        return redirect("/dashboard/credentials")
    return credentials_page(view, error=answer.message, status=answer.status)


# -- notifications and webhooks -------------------------------------------------------------------


def notifications_page(view: View, *, error: str | None = None, status: int = 200) -> Answer:
    owner = quote(view.session.owner_id or "")
    settings = view.must("GET", f"/v1/notification-settings/owners/{owner}")
    webhooks = _items(view.must("GET", "/v1/webhooks", query={"limit": "100"}), "webhook")
    values = {
        "settings": settings,
        "webhooks": webhooks,
        "choices": NOTIFY_CHOICES,
        "error": error,
    }
    return view.render("notifications.html", values, status=status)


def notifications_update(view: View) -> Answer:
    owner = quote(view.session.owner_id or "")
    body = {"notificationsToSend": view.request.field("notifications_to_send")}
    answer = view.call("PATCH", f"/v1/notification-settings/owners/{owner}", body=body)
    if answer.ok:
        return redirect("/dashboard/notifications")
    return notifications_page(view, error=answer.message, status=answer.status)


def webhook_create(view: View) -> Answer:
    field = view.request.field
    body = {
        "ownerId": view.session.owner_id,
        "name": field("name"),
        "url": field("url"),
        "enabled": True,
        "eventFilter": _event_filter(field("event_filter")),
    }
    answer = view.call("POST", "/v1/webhooks", body=body)
    if answer.ok:
        return redirect("/dashboard/notifications")
    return notifications_page(view, error=answer.message, status=answer.status)


def webhook_update(view: View, wid: str) -> Answer:
    body = {"enabled": view.request.field("enabled") == "true"}
    answer = view.call("PATCH", f"/v1/webhooks/{quote(wid)}", body=body)
    if answer.ok:
        return redirect("/dashboard/notifications")
    return notifications_page(view, error=answer.message, status=answer.status)


def _event_filter(text: str) -> list[str]:
    return [v for v in text.replace(",", " ").split() if v]


def webhook_page(view: View, wid: str, *, error: str | None = None, status: int = 200) -> Answer:
    webhook = view.must("GET", f"/v1/webhooks/{quote(wid)}")
    deliveries = view.must("GET", f"/v1/webhooks/{quote(wid)}/events", query={"limit": "50"})
    values = {"webhook": webhook, "deliveries": _items(deliveries, "webhookEvent"), "error": error}
    return view.render("webhook.html", values, status=status)


def webhook_edit(view: View, wid: str) -> Answer:
    field = view.request.field
    body = {
        "name": field("name"),
        "url": field("url"),
        "eventFilter": _event_filter(field("event_filter")),
    }
    answer = view.call("PATCH", f"/v1/webhooks/{quote(wid)}", body=body)
    if answer.ok:
        return redirect(f"/dashboard/webhooks/{quote(wid)}")
    return webhook_page(view, wid, error=answer.message, status=answer.status)


def webhook_delete(view: View, wid: str) -> Answer:
    answer = view.call("DELETE", f"/v1/webhooks/{quote(wid)}")
    if answer.ok:
        return redirect("/dashboard/notifications")
    return notifications_page(view, error=answer.message, status=answer.status)
