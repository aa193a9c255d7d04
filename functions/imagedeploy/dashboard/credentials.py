"""The registry credentials page: ``/v1/registrycredentials`` listed, created, updated (e.g. a
new token) and deleted; also the credential choices of the new-service and service pages."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import quote

from imagedeploy.dashboard.http import Answer
from imagedeploy.dashboard.view import View, form_outcome
from imagedeploy.domain.registries import RegistryKind

REGISTRIES = tuple(RegistryKind)
HOME = "/dashboard/credentials"


def list_credentials(view: View) -> list[dict[str, Any]]:
    data = view.must("GET", "/v1/registrycredentials", query={"limit": "100"})
    return [c for c in data or [] if isinstance(c, dict)]


def credentials_page(view: View, *, error: str | None = None, status: int = 200) -> Answer:
    values = {"credentials": list_credentials(view), "registries": REGISTRIES, "error": error}
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
    return form_outcome(answer, HOME, partial(credentials_page, view))


def credential_update(view: View, cid: str) -> Answer:
    answer = view.call(
        "PATCH", f"/v1/registrycredentials/{quote(cid)}", body=_credential_body(view)
    )
    return form_outcome(answer, HOME, partial(credentials_page, view))


def credential_delete(view: View, cid: str) -> Answer:
    answer = view.call("DELETE", f"/v1/registrycredentials/{quote(cid)}")
    return form_outcome(answer, HOME, partial(credentials_page, view))
