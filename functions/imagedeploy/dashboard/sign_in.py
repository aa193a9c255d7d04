"""Signing in and out: the key is checked with ``GET /v1/owners``, then sealed in a new session
(``dashboard.sessions``)."""

from __future__ import annotations

from imagedeploy.dashboard.http import Answer, redirect
from imagedeploy.dashboard.sessions import new_session
from imagedeploy.dashboard.view import View, items


def home(view: View) -> Answer:
    return redirect("/dashboard/services" if view.session.signed_in else "/dashboard/sign-in")


def sign_in_form(view: View) -> Answer:
    return view.render("sign_in.html", {})


def sign_in(view: View) -> Answer:
    key = view.request.field("api_key").strip()
    if not key:
        return view.render("sign_in.html", {"error": "Enter an API key."}, status=400)
    answer = view.call_with(key, "GET", "/v1/owners")
    owners = items(answer.data, "owner") if answer.ok else []
    if not owners:
        message = answer.message if not answer.ok else "this key has no workspace"
        return view.render("sign_in.html", {"error": f"Not signed in: {message}"}, status=401)
    # a new session (and CSRF token) on sign-in: nothing from before it carries over
    view.session_after = new_session(key, str(owners[0]["id"]))
    return redirect("/dashboard/services")


def sign_out(view: View) -> Answer:
    view.session_after = new_session()
    return redirect("/dashboard/sign-in")
