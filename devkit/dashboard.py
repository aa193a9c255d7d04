"""Drive the dashboard without a browser: ``FormClient`` sends API Gateway v2 events straight to
the real resolver, keeps the session cookie like a browser, and fills in the CSRF token of the
page it last saw. ``dashboard_over(world)`` is the resolver over the use-case world with a
session secret (the browser suite in tests/browser uses a real ``serve`` and Chromium)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import unescape
from typing import Any
from urllib.parse import urlencode

from devkit.apigw import API_KEY, BASE, Reply, api_over, http_api_event
from devkit.world import World
from imagedeploy.api.app import ImagedeployResolver, build_resolver
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.wsgi import _LocalContext

SESSION_SECRET = b"dashboard tests: not a real secret"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def dashboard_over(world: World, base_url: str = BASE) -> ImagedeployResolver:
    """The resolver over ``world`` with ``API_KEY`` stored, a session secret set and
    ``GET /v1/logs`` reading ``api_over(world).logs`` (``logs.sqlite`` beside the store)."""
    api = api_over(world)  # stores API_KEY for the world's workspace; its log store
    deps = ApiDeps(
        world.ports, base_url, session_secret=lambda: SESSION_SECRET, log_reader=api.logs
    )
    return build_resolver(deps)


Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


@dataclass
class FormClient:
    """``handler``: a resolver's ``resolve``, or a Lambda handler (event, context) -> answer."""

    handler: Handler
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str | None = None
    last: Reply | None = None

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, **kwargs: Any
    ) -> Reply:
        event = http_api_event(method, path, raw_body=urlencode(form) if form else None, **kwargs)
        event["headers"]["content-type"] = "application/x-www-form-urlencoded"
        event["headers"].pop("authorization", None) if "bearer" not in kwargs else None
        if self.cookies:
            event["cookies"] = [f"{k}={v}" for k, v in self.cookies.items()]
        result = self.handler(event, _LocalContext())
        for cookie in result.get("cookies") or []:
            name, _, rest = str(cookie).partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        reply = Reply.of(result)
        reply.headers["set-cookie"] = "\n".join(result.get("cookies") or [])
        if found := _CSRF.search(reply.text):
            self.csrf = unescape(found.group(1))
        self.last = reply
        return reply

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, form: dict[str, str], *, with_csrf: bool = True) -> Reply:
        fields = dict(form)
        if with_csrf and self.csrf is not None:
            fields.setdefault("csrf", self.csrf)
        return self.request("POST", path, fields)

    def sign_in(self, key: str = API_KEY) -> Reply:
        self.get("/dashboard/sign-in")
        return self.post("/dashboard/sign-in", {"api_key": key})
