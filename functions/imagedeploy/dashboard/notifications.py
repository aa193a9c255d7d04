"""The notifications page: the workspace's setting (``/v1/notification-settings/owners/{id}``)
and its webhooks (``/v1/webhooks``: add, enable or disable, edit, delete; a webhook's page
shows its delivery log)."""

from __future__ import annotations

from functools import partial
from urllib.parse import quote

from imagedeploy.dashboard.http import Answer
from imagedeploy.dashboard.view import View, form_outcome, items
from imagedeploy.domain.accounts import NotificationsToSend

# a workspace's settings, from the quietest (a service's override also has "default")
NOTIFY_CHOICES = (NotificationsToSend.NONE, NotificationsToSend.FAILURE, NotificationsToSend.ALL)
HOME = "/dashboard/notifications"


def notifications_page(view: View, *, error: str | None = None, status: int = 200) -> Answer:
    owner = quote(view.session.owner_id or "")
    settings = view.must("GET", f"/v1/notification-settings/owners/{owner}")
    webhooks = items(view.must("GET", "/v1/webhooks", query={"limit": "100"}), "webhook")
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
    return form_outcome(answer, HOME, partial(notifications_page, view))


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
    return form_outcome(answer, HOME, partial(notifications_page, view))


def webhook_update(view: View, wid: str) -> Answer:
    body = {"enabled": view.request.field("enabled") == "true"}
    answer = view.call("PATCH", f"/v1/webhooks/{quote(wid)}", body=body)
    return form_outcome(answer, HOME, partial(notifications_page, view))


def _event_filter(text: str) -> list[str]:
    return text.replace(",", " ").split()


def webhook_page(view: View, wid: str, *, error: str | None = None, status: int = 200) -> Answer:
    webhook = view.must("GET", f"/v1/webhooks/{quote(wid)}")
    deliveries = view.must("GET", f"/v1/webhooks/{quote(wid)}/events", query={"limit": "50"})
    values = {"webhook": webhook, "deliveries": items(deliveries, "webhookEvent"), "error": error}
    return view.render("webhook.html", values, status=status)


def webhook_edit(view: View, wid: str) -> Answer:
    field = view.request.field
    body = {
        "name": field("name"),
        "url": field("url"),
        "eventFilter": _event_filter(field("event_filter")),
    }
    answer = view.call("PATCH", f"/v1/webhooks/{quote(wid)}", body=body)
    return form_outcome(
        answer, f"/dashboard/webhooks/{quote(wid)}", partial(webhook_page, view, wid)
    )


def webhook_delete(view: View, wid: str) -> Answer:
    answer = view.call("DELETE", f"/v1/webhooks/{quote(wid)}")
    return form_outcome(answer, HOME, partial(notifications_page, view))
