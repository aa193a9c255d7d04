"""``SnsNotifier``: the ``Notifier`` port publishing to an SNS topic (email and anything else SNS
reaches), and ``CompositeNotifier``, which hands every event to several notifiers (webhooks
and SNS).

The same settings decide as for webhooks (``domain.notifications.should_notify``): the
workspace's ``notificationsToSend`` (``failure`` when never set) and the service's override.
A message has a readable subject (ASCII, at most 100 characters, as SNS requires) and a JSON
body with the event type, the service, the event's details and links to the API resources;
message attributes ``eventType``, ``serviceId``, ``serviceType`` and ``failure`` let
subscriptions filter (``{"failure": ["true"]}`` for an on-call address). Never a secret: events
carry none, and env vars are never included. ``notify`` never raises: a failure is logged and
dropped (best effort, like the webhooks' delivery log).
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from imagedeploy.domain.accounts import NotificationsToSend
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.notifications import is_failure, should_notify
from imagedeploy.domain.services import Service
from imagedeploy.ports import Notifier, Store

logger = logging.getLogger(__name__)

__all__ = ["MAX_SUBJECT", "CompositeNotifier", "SnsNotifier", "message_for", "subject_for"]

MAX_SUBJECT: Final = 100
MAX_MESSAGE_BYTES: Final = 200_000  # SNS takes 256 KiB; details past this are left out

_WHAT: Final[dict[EventType, str]] = {
    EventType.DEPLOY_STARTED: "deploy started",
    EventType.DEPLOY_ENDED: "deploy ended",
    EventType.PRE_DEPLOY_STARTED: "pre-deploy command started",
    EventType.PRE_DEPLOY_ENDED: "pre-deploy command ended",
    EventType.IMAGE_PULL_FAILED: "image pull failed",
    EventType.SERVER_FAILED: "server failed",
    EventType.SERVER_AVAILABLE: "server available",
    EventType.SERVER_RESTARTED: "server restarted",
    EventType.CRON_JOB_RUN_STARTED: "cron job run started",
    EventType.CRON_JOB_RUN_ENDED: "cron job run ended",
    EventType.SERVICE_SUSPENDED: "service suspended",
    EventType.SERVICE_RESUMED: "service resumed",
    EventType.INSTANCE_COUNT_CHANGED: "instance count changed",
}


def subject_for(service: Service, event: Event) -> str:
    """``[imagedeploy] <service name>: deploy failed``: printable ASCII, at most 100 chars."""
    what = _WHAT.get(event.type, event.type.value.replace("_", " "))
    details = event.details
    if event.type is EventType.DEPLOY_ENDED and details.get("deployStatus"):
        what = f"deploy {details['deployStatus']}"
    elif event.type is EventType.PRE_DEPLOY_ENDED and details.get("preDeployStatus"):
        what = f"pre-deploy command {details['preDeployStatus']}"
    elif event.type is EventType.CRON_JOB_RUN_ENDED and details.get("status"):
        what = f"cron job run {details['status']}"
    name = _ascii(service.name) or service.id
    room = MAX_SUBJECT - len(f"[imagedeploy] : {what}")
    if len(name) > room:
        name = name[: room - 3].rstrip() + "..."
    return f"[imagedeploy] {name}: {what}"[:MAX_SUBJECT]


def message_for(service: Service, event: Event, api_base_url: str = "") -> dict[str, Any]:
    """The JSON body: what happened, to which service, the event's details, and links."""
    base = api_base_url.rstrip("/")
    message: dict[str, Any] = {
        "type": event.type.value,
        "failure": is_failure(event),
        "timestamp": _timestamp(event.timestamp),
        "service": {"id": service.id, "name": service.name, "type": service.type.value},
        "event": {"id": event.id, "details": event.details},
        "links": {
            "event": f"{base}/v1/events/{event.id}",
            "service": f"{base}/v1/services/{service.id}",
            "events": f"{base}/v1/services/{service.id}/events",
        },
    }
    if len(json.dumps(message, default=str).encode()) > MAX_MESSAGE_BYTES:
        message["event"] = {"id": event.id, "details": "(too large: see the event link)"}
    return message


#: botocore Config of the SNS client. Short timeouts and few retries: a notification must not
#: hold up a deploy (aws_bootstrap gives the functions' SNS client this config too).
SNS_CLIENT_CONFIG: Final[Mapping[str, Any]] = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "retries": {"mode": "standard", "max_attempts": 2},
}


class SnsNotifier:
    def __init__(
        self,
        topic_arn: str,
        store: Store,
        *,
        client: Any = None,
        api_base_url: str = "",
    ) -> None:
        if client is None:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]

            client = boto3.client("sns", config=Config(**SNS_CLIENT_CONFIG))
        self._client = client
        self._topic_arn = topic_arn
        self._store = store
        self._api_base_url = api_base_url

    def notify(self, service: Service, event: Event) -> None:
        """Publish ``event`` if the settings let it out; never raises."""
        try:
            if not self._wanted(service, event):
                return
            self._client.publish(
                TopicArn=self._topic_arn,
                Subject=subject_for(service, event),
                Message=json.dumps(
                    message_for(service, event, self._api_base_url), default=str, indent=2
                ),
                MessageAttributes={
                    "eventType": {"DataType": "String", "StringValue": event.type.value},
                    "serviceId": {"DataType": "String", "StringValue": service.id},
                    "serviceType": {"DataType": "String", "StringValue": service.type.value},
                    "failure": {
                        "DataType": "String",
                        "StringValue": "true" if is_failure(event) else "false",
                    },
                },
            )
        except Exception:  # best effort: a notification never fails its caller
            logger.exception(
                "SNS notification failed",
                extra={"service_id": service.id, "event_id": event.id},
            )

    def _wanted(self, service: Service, event: Event) -> bool:
        settings = self._store.get_notification_settings(service.owner_id)
        override = self._store.get_notification_override(service.id)
        workspace = settings.notifications_to_send if settings else NotificationsToSend.FAILURE
        own = override.notifications_to_send if override else NotificationsToSend.DEFAULT
        return should_notify(event, workspace, own)


class CompositeNotifier:
    """Hands every event to each notifier in turn; one failing never stops the others."""

    def __init__(self, *notifiers: Notifier) -> None:
        self._notifiers = notifiers

    def notify(self, service: Service, event: Event) -> None:
        for notifier in self._notifiers:
            try:
                notifier.notify(service, event)
            except Exception:
                logger.exception(
                    "a notifier failed",
                    extra={"notifier": type(notifier).__name__, "event_id": event.id},
                )


def _ascii(text: str) -> str:
    """Printable ASCII only (SNS subjects): accents dropped, control characters spaced."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = "".join(ch if ch.isprintable() else " " for ch in folded)
    return " ".join(cleaned.split())


def _timestamp(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z"
