"""The API keys page: the workspace's keys through ``/v1/api-keys`` (name, created, last used),
creating one and revoking one. A new key is in the API's ``POST`` answer only, so it is shown
on the page that answers the form, once: never stored in the session, never redirected to,
never logged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from imagedeploy.dashboard.http import Answer, redirect

if TYPE_CHECKING:
    from imagedeploy.dashboard.view import View

KEYS_SHOWN = 100


def keys_page(view: View, *, values: dict[str, Any] | None = None, status: int = 200) -> Answer:
    listed = view.must("GET", "/v1/api-keys", query={"limit": str(KEYS_SHOWN)})
    keys = [e["apiKey"] for e in listed or [] if isinstance(e, dict) and "apiKey" in e]
    return view.render("api_keys.html", {"keys": keys, **(values or {})}, status=status)


def key_create(view: View) -> Answer:
    answer = view.call("POST", "/v1/api-keys", body={"name": view.request.field("name")})
    if not answer.ok:
        return keys_page(view, values={"error": answer.message}, status=answer.status)
    created = answer.data if isinstance(answer.data, dict) else {}
    return keys_page(view, values={"new_key": created.get("key"), "new_name": created.get("name")})


def key_revoke(view: View, kid: str) -> Answer:
    answer = view.call("DELETE", f"/v1/api-keys/{quote(kid)}")
    if answer.ok:
        return redirect("/dashboard/api-keys")
    return keys_page(view, values={"error": answer.message}, status=answer.status)
