"""The dashboard's view of an API Gateway HTTP API (v2) event, and its answers as proxy
responses, with the security headers every answer carries."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

# No inline script or style anywhere: everything the pages use is a file under /dashboard/static.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
MAX_FORM_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    cookies: Mapping[str, str]
    form: Mapping[str, list[str]]

    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0] if values else default


def parse_request(event: Mapping[str, Any]) -> Request:
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    method = str((event.get("requestContext") or {}).get("http", {}).get("method", "GET")).upper()
    path = str(event.get("rawPath") or "/")
    query = {
        key: values[-1] for key, values in parse_qs(str(event.get("rawQueryString") or "")).items()
    }
    cookie_lines = list(event.get("cookies") or [])
    if headers.get("cookie"):
        cookie_lines.append(headers["cookie"])
    cookies: dict[str, str] = {}
    for line in cookie_lines:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(str(line))
        except CookieError:
            continue
        cookies.update({name: morsel.value for name, morsel in jar.items()})
    form: dict[str, list[str]] = {}
    body = event.get("body")
    is_form = headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    if body and method == "POST" and is_form:
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode()
        if len(raw) <= MAX_FORM_BYTES:
            form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return Request(method, path, query, headers, cookies, form)


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes | str = ""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)

    def to_proxy(self) -> dict[str, Any]:
        headers = {**SECURITY_HEADERS, "Content-Type": self.content_type, **self.headers}
        binary = isinstance(self.body, bytes)
        body = (
            base64.b64encode(self.body).decode("ascii")
            if isinstance(self.body, bytes)
            else self.body
        )
        result: dict[str, Any] = {
            "statusCode": self.status,
            "headers": headers,
            "body": body,
            "isBase64Encoded": binary,
        }
        if self.cookies:
            result["cookies"] = list(self.cookies)
        return result


def redirect(location: str, status: int = 303) -> Answer:
    return Answer(status, "", headers={"Location": location})


def session_cookie(name: str, value: str, *, max_age: int, secure: bool) -> str:
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
