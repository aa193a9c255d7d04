"""The new-service page: verify an image (``POST /v1/images/verify``), then its settings (with
a cron schedule's next run times on "Preview schedule") and ``POST /v1/services``."""

from __future__ import annotations

from typing import Any

from imagedeploy.dashboard.credentials import list_credentials
from imagedeploy.dashboard.http import Answer, redirect
from imagedeploy.dashboard.schedule_words import next_runs
from imagedeploy.dashboard.service_page import PLANS, service_url
from imagedeploy.dashboard.services_list import SERVICE_TYPES
from imagedeploy.dashboard.view import View


def new_service_form(view: View) -> Answer:
    return view.render("new_service.html", _new_values(view, {}))


def _form(view: View) -> dict[str, str]:
    return {
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


def _new_values(view: View, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "form": _form(view),
        "credentials": list_credentials(view),
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
    form = _form(view)
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
    return redirect(service_url(answer.data["service"]["id"]))
