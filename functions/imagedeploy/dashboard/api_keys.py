"""The API keys page: the workspace's keys through ``/v1/api-keys`` (name, created, last used),
creating one and revoking one. A new key is in the API's ``POST`` answer only, so it is shown
on the page that answers the form, once: never stored in the session, never redirected to,
never logged."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import quote

from imagedeploy.dashboard.http import Answer
from imagedeploy.dashboard.view import View, form_outcome, items

KEYS_SHOWN = 100


def keys_page(view: View, *, status: int = 200, **shown: Any) -> Answer:
    """The page; ``shown``: what the form that led here adds (an error, the new key)."""
    listed = view.must("GET", "/v1/api-keys", query={"limit": str(KEYS_SHOWN)})
    return view.render("api_keys.html", {"keys": items(listed, "apiKey"), **shown}, status=status)


def key_create(view: View) -> Answer:
    answer = view.call("POST", "/v1/api-keys", body={"name": view.request.field("name")})
    if not answer.ok:
        return keys_page(view, error=answer.message, status=answer.status)
    created = answer.data if isinstance(answer.data, dict) else {}
    return keys_page(view, new_key=created.get("key"), new_name=created.get("name"))


def key_revoke(view: View, kid: str) -> Answer:
    answer = view.call("DELETE", f"/v1/api-keys/{quote(kid)}")
    return form_outcome(answer, "/dashboard/api-keys", partial(keys_page, view))
