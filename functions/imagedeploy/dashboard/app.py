"""``Dashboard``: the dashboard's front controller. The API resolver hands it every request for
``/`` and ``/dashboard/...`` before anything else (``api.app.ImagedeployResolver.resolve``).

Per request: open the session cookie (an anonymous one is made when there is none), refuse a
state-changing request whose CSRF token does not match the session's, send a visitor who is not
signed in to the sign-in page, then run the page, whose every read and write is an in-process
API call with the session's key (``dashboard.api``). The pages are one module a concept
(``sign_in``, ``services_list``, ``new_service``, ``service_page``, ``service_actions``,
``observe``, ``credentials``, ``notifications``, ``api_keys``); what they share is in
``dashboard.view``."""

from __future__ import annotations

import functools
import mimetypes
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from imagedeploy.dashboard import (
    api_keys,
    credentials,
    new_service,
    notifications,
    observe,
    service_actions,
    service_page,
    services_list,
    sign_in,
)
from imagedeploy.dashboard.api import ApiCallError, InProcessApi, Resolve
from imagedeploy.dashboard.http import Answer, Request, parse_request, redirect, session_cookie
from imagedeploy.dashboard.paths import PREFIX
from imagedeploy.dashboard.schedule_words import describe
from imagedeploy.dashboard.sessions import COOKIE, Session, SessionSealer, csrf_matches, new_session
from imagedeploy.dashboard.view import View, size, when

_STATIC = re.compile(r"/dashboard/static/([a-z0-9_.-]+)")


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    view: Callable[..., Answer]
    public: bool = False  # served without a signed-in session


def _routes() -> list[_Route]:
    sid, cid, wid, kid = (rf"(?P<{name}>[\w-]+)" for name in ("sid", "cid", "wid", "kid"))
    table: list[tuple[str, str, Callable[..., Answer], bool]] = [
        # sign-in: the only pages served without a signed-in session
        ("GET", r"/", sign_in.home, True),
        ("GET", r"/dashboard/?", sign_in.home, True),
        ("GET", r"/dashboard/sign-in", sign_in.sign_in_form, True),
        ("POST", r"/dashboard/sign-in", sign_in.sign_in, True),
        ("POST", r"/dashboard/sign-out", sign_in.sign_out, True),
        # services
        ("GET", r"/dashboard/services", services_list.services_list, False),
        ("GET", r"/dashboard/new", new_service.new_service_form, False),
        ("POST", r"/dashboard/new/verify", new_service.new_service_verify, False),
        ("POST", r"/dashboard/new", new_service.new_service_create, False),
        ("GET", rf"/dashboard/services/{sid}", service_page.service_page, False),
        ("GET", rf"/dashboard/services/{sid}/logs", observe.service_logs, False),
        (
            "POST",
            rf"/dashboard/services/{sid}/(?P<action>[\w-]+)",
            service_actions.service_action,
            False,
        ),
        # workspace settings
        ("GET", r"/dashboard/credentials", credentials.credentials_page, False),
        ("POST", r"/dashboard/credentials", credentials.credential_create, False),
        ("POST", rf"/dashboard/credentials/{cid}", credentials.credential_update, False),
        ("POST", rf"/dashboard/credentials/{cid}/delete", credentials.credential_delete, False),
        ("GET", r"/dashboard/notifications", notifications.notifications_page, False),
        ("POST", r"/dashboard/notifications", notifications.notifications_update, False),
        ("POST", r"/dashboard/webhooks", notifications.webhook_create, False),
        ("GET", rf"/dashboard/webhooks/{wid}", notifications.webhook_page, False),
        ("POST", rf"/dashboard/webhooks/{wid}", notifications.webhook_update, False),
        ("POST", rf"/dashboard/webhooks/{wid}/delete", notifications.webhook_delete, False),
        ("POST", rf"/dashboard/webhooks/{wid}/edit", notifications.webhook_edit, False),
        ("GET", r"/dashboard/api-keys", api_keys.keys_page, False),
        ("POST", r"/dashboard/api-keys", api_keys.key_create, False),
        ("POST", rf"/dashboard/api-keys/{kid}/revoke", api_keys.key_revoke, False),
    ]
    return [_Route(m, re.compile(p), v, public) for m, p, v, public in table]


class Dashboard:
    def __init__(
        self, resolve: Resolve, session_secret: bytes | None, *, secure: bool, lifetime: int
    ) -> None:
        self._resolve = resolve
        self._sealer = SessionSealer(session_secret, lifetime) if session_secret else None
        self._secure = secure
        self._routes = _routes()
        self._templates = Environment(
            loader=PackageLoader("imagedeploy.dashboard", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # packaged templates never change: no stat of each one per render
        )
        self._templates.filters["when"] = when
        self._templates.filters["size"] = size
        self._templates.filters["in_words"] = describe

    def handle(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        request = parse_request(event)
        if static := _STATIC.fullmatch(request.path):
            return _static(static.group(1)).to_proxy()
        return self._page(request, context).to_proxy()

    def _page(self, request: Request, context: Any) -> Answer:
        if self._sealer is None:
            return Answer(
                503,
                "the dashboard has no session secret configured "
                "(IMAGEDEPLOY_DASHBOARD_SESSION_SECRET)",
                content_type="text/plain",
            )
        opened = self._sealer.open(request.cookies.get(COOKIE))
        session = opened or new_session()
        route, params = self._match(request)
        if route is None:
            answer = self._render_with(request, session, context, 404, "not_found.html", {})
        elif request.method == "POST" and not csrf_matches(session, request.field("csrf")):
            # also a POST from a browser without our cookie (a cross-site form)
            answer = self._render_with(request, session, context, 403, "csrf.html", {})
        elif not route.public and not session.signed_in:
            answer = redirect(f"{PREFIX}/sign-in")
        else:
            view = View(self, request, session, InProcessApi(self._resolve, context))
            try:
                answer = route.view(view, **params)
            except ApiCallError as exc:
                if exc.answer.status == 401:  # the key was revoked: sign in again
                    answer = redirect(f"{PREFIX}/sign-in")
                    session = new_session()
                else:
                    answer = view.render(
                        "error.html",
                        {"status": exc.answer.status, "message": exc.answer.message},
                        status=exc.answer.status,
                    )
            session = view.session_after or session
        if opened != session:
            answer.cookies.append(self.cookie(session))
        return answer

    def _match(self, request: Request) -> tuple[_Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method == request.method and (m := route.pattern.fullmatch(request.path)):
                return route, m.groupdict()
        return None, {}

    def _render_with(
        self,
        request: Request,
        session: Session,
        context: Any,
        status: int,
        name: str,
        values: dict[str, Any],
    ) -> Answer:
        view = View(self, request, session, InProcessApi(self._resolve, context))
        return view.render(name, values, status=status)

    def render(self, name: str, values: Mapping[str, Any]) -> str:
        return self._templates.get_template(name).render(**values)

    def cookie(self, session: Session) -> str:
        assert self._sealer is not None
        return session_cookie(
            COOKIE,
            self._sealer.seal(session),
            max_age=self._sealer.lifetime_seconds,
            secure=self._secure,
        )


@functools.cache
def _static_files() -> dict[str, tuple[bytes, str]]:
    """The packaged static files by name, with their content type: read once."""
    folder = resources.files("imagedeploy.dashboard").joinpath("static")
    return {
        entry.name: (entry.read_bytes(), _content_type(entry.name))
        for entry in folder.iterdir()
        if entry.is_file()
    }


def _content_type(name: str) -> str:
    return {".js": "text/javascript", ".css": "text/css"}.get(
        name[name.rfind(".") :], mimetypes.guess_type(name)[0] or "application/octet-stream"
    )


def _static(name: str) -> Answer:
    if (found := _static_files().get(name)) is None:
        return Answer(404, "not found", content_type="text/plain")
    body, kind = found
    answer = Answer(200, body, content_type=kind)
    answer.headers["Cache-Control"] = "public, max-age=300"
    return answer
