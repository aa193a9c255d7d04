"""``SnsNotifier``: the ``Notifier`` port publishing to an SNS topic (email and anything else SNS
reaches). It publishes what it is given: whether the settings let an event out was decided by
``usecases.notifications.notify``.

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
from typing import Any, Final

from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.notifications import is_failure
from imagedeploy.domain.services import Service
from imagedeploy.domain.timestamps import rfc3339

logger = logging.getLogger(__name__)

__all__ = ["MAX_SUBJECT", "SnsNotifier", "message_for", "subject_for"]

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
        "timestamp": rfc3339(event.timestamp),
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
    def __init__(self, topic_arn: str, *, client: Any = None, api_base_url: str = "") -> None:
        if client is None:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]

            client = boto3.client("sns", config=Config(**SNS_CLIENT_CONFIG))
        self._client = client
        self._topic_arn = topic_arn
        self._api_base_url = api_base_url

    def notify(self, service: Service, event: Event) -> None:
        """Publish ``event``; never raises."""
        try:
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


def _ascii(text: str) -> str:
    """Printable ASCII only (SNS subjects): accents dropped, control characters spaced."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = "".join(ch if ch.isprintable() else " " for ch in folded)
    return " ".join(cleaned.split())
