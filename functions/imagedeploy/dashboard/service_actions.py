"""The forms of a service's page (``POST /dashboard/services/{id}/{action}``): each is one API
call; on success back to the page (303), on a refusal the page again with the API's message."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import quote

from imagedeploy.dashboard.api import ApiAnswer
from imagedeploy.dashboard.http import Answer, redirect
from imagedeploy.dashboard.service_page import service_page, service_url
from imagedeploy.dashboard.view import View, form_outcome


def service_action(view: View, sid: str, action: str) -> Answer:
    result = _service_action_call(view, sid, action)
    if isinstance(result, Answer):
        return result
    return form_outcome(result, service_url(sid), partial(service_page, view, sid))


def _service_action_call(view: View, sid: str, action: str) -> ApiAnswer | Answer:
    base = f"/v1/services/{quote(sid)}"
    field = view.request.field
    match action:
        case "deploy":
            image_url = field("image_url").strip()  # none: the service's own reference
            body = {"imageUrl": image_url} if image_url else {}
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
                error = "Not deleted: type the service's name exactly to confirm."
                return service_page(view, sid, error=error, status=400)
            answer = view.call("DELETE", base)
            return redirect("/dashboard/services") if answer.ok else answer
        case "hook":
            answer = view.call("POST", f"{base}/deploy-hook/regenerate")
            if not answer.ok:
                return answer
            # shown this once; stored hashed
            return service_page(view, sid, hook_url=answer.data["url"])
    return view.render("not_found.html", {}, status=404)
