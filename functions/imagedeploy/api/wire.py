"""Render's wire format: pure functions from domain entities to the JSON that Render's public
API v1 returns (``reference/render-openapi.json``), plus the list wrappers and their cursors.

Every function returns plain ``dict``/``list`` values ready for ``json.dumps``. Field names, enum
spellings and nesting are Render's. Where Render *requires* a field that an image-backed service
has no value for, the neutral value Render itself shows for such services is emitted; each one is
marked ``# neutral:`` below. Optional Render fields we have no value for are omitted. A few
imagedeploy additions (``# extension:``) ride along as extra properties, which Render's schemas
allow; clients that do not know them ignore them.

Timestamps are RFC 3339 in UTC with a ``Z`` suffix.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

from imagedeploy.domain.accounts import (
    ApiKey,
    CredentialRecord,
    NotificationOverride,
    NotificationSettings,
    NotificationsToSend,
    Owner,
    Webhook,
    WebhookDelivery,
)
from imagedeploy.domain.cron import CronRun
from imagedeploy.domain.deploys import Deploy
from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.services import EnvVar, Service, ServiceType
from imagedeploy.domain.timestamps import rfc3339
from imagedeploy.ports import Page

__all__ = [
    "START",
    "ListPosition",
    "credential_json",
    "credential_list_json",
    "credential_summary_json",
    "cron_run_json",
    "cron_run_list_json",
    "dashboard_url",
    "decode_cursor",
    "deploy_hook_json",
    "deploy_json",
    "deploy_list_json",
    "encode_cursor",
    "env_var_json",
    "env_var_list_json",
    "event_details_json",
    "event_json",
    "event_list_json",
    "item_cursors",
    "notification_override_json",
    "notification_override_list_json",
    "notification_settings_json",
    "owner_json",
    "owner_list_json",
    "private_service_address",
    "read_page",
    "rfc3339",
    "service_and_deploy_json",
    "service_json",
    "service_list_json",
    "web_service_url",
    "webhook_event_json",
    "webhook_event_list_json",
    "webhook_json",
    "webhook_list_json",
]

JSON = dict[str, Any]
T = TypeVar("T")


# -- cursors ------------------------------------------------------------------------------
#
# Render gives every list item its own cursor: passing an item's cursor returns the items after
# it, and a client pages until it receives an empty list. The Store's ``Page`` has one opaque
# ``next_cursor`` per page, so an item cursor here is (store cursor the page was read from,
# number of items to skip in it). The last item of a full store page gets the store's
# ``next_cursor`` with nothing to skip, which is what clients use almost always; the last item of
# the last page gets a position that yields an empty list, so "page until empty" terminates.

MAX_STORE_PAGE: Final = 100  # the store's own page limit
MAX_SKIP: Final = 1_000  # bounds what one request reads (skip + limit items)
_MAX_STORE_READS: Final = 20
_CURSOR_PREFIX: Final = "c1."
# Longer than any cursor issued (a store cursor of at most 1024 characters, wrapped): anything
# longer is refused before it is decoded.
MAX_CURSOR_CHARS: Final = 2048


@dataclass(frozen=True, slots=True)
class ListPosition:
    """Where a list response starts: ``skip`` items into the store listing read from ``base``
    (None: the beginning)."""

    base: str | None = None
    skip: int = 0


START: Final = ListPosition()


def encode_cursor(position: ListPosition) -> str:
    """The opaque cursor for ``position`` (URL-safe)."""
    raw = json.dumps([position.base, position.skip], separators=(",", ":")).encode()
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> ListPosition:
    """The position a ``cursor`` query parameter names; None or "" is the beginning.

    Raises ``InvalidInput`` for a cursor this API did not issue.
    """
    if not cursor:
        return START
    invalid = InvalidInput(
        "cursor is not one this API issued; pass the cursor of a list item unchanged"
    )
    if len(cursor) > MAX_CURSOR_CHARS or not cursor.startswith(_CURSOR_PREFIX):
        raise invalid
    body = cursor.removeprefix(_CURSOR_PREFIX)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise invalid from None
    match decoded:
        case [str() | None as base, int() as skip] if 0 <= skip <= MAX_SKIP:
            return ListPosition(base, skip)
    raise invalid


def read_page(
    fetch: Callable[[int, str | None], Page[T]], cursor: str | None, limit: int
) -> tuple[Page[T], ListPosition]:
    """Read one page of a list for the request's ``cursor`` and ``limit``.

    ``fetch(limit, store_cursor)`` is the store call, e.g.
    ``lambda n, c: store.list_deploys(service_id, n, c)``. Returns the page (already skipped
    past the cursor's position) and the position to hand to the ``*_list_json`` function. A
    store may return fewer items than asked (a capped page size): the skip then carries over
    to the following store pages, so a short store page never ends a listing early.
    """
    position = decode_cursor(cursor)
    for _ in range(_MAX_STORE_READS):
        page = fetch(min(position.skip + limit, MAX_STORE_PAGE), position.base)
        if len(page.items) > position.skip or page.next_cursor is None:
            break
        position = ListPosition(page.next_cursor, position.skip - len(page.items))
    return Page(page.items[position.skip :], page.next_cursor), position


def item_cursors(page: Page[Any], position: ListPosition) -> list[str]:
    """One cursor per item of ``page`` (as returned by ``read_page``): the position after it."""
    cursors = [
        encode_cursor(ListPosition(position.base, position.skip + index + 1))
        for index in range(len(page.items))
    ]
    if cursors and page.next_cursor is not None:
        cursors[-1] = encode_cursor(ListPosition(page.next_cursor, 0))
    return cursors


def wrap_items(
    key: str, bodies: Iterable[JSON], page: Page[Any], position: ListPosition
) -> list[JSON]:
    """Render's list items: ``[{key: body, "cursor": "..."}]``, one per item of ``page``."""
    return [
        {key: body, "cursor": cursor}
        for body, cursor in zip(bodies, item_cursors(page, position), strict=True)
    ]


# -- URLs ---------------------------------------------------------------------------------


def dashboard_url(service: Service, base_url: str) -> str:
    """Render's ``dashboardUrl``: the service's page of the dashboard (``imagedeploy.dashboard``)."""
    return f"{base_url.rstrip('/')}/dashboard/services/{service.id}"


def web_service_url(service: Service, base_url: str) -> str:
    """The public URL of a web service, from the installation's base URL for services:

    * a template with ``{slug}`` or ``{id}``: host routing (``https://{slug}.apps.example.com``,
      an ALB host rule per service) or path routing (``https://apps.example.com/{slug}``);
    * a plain base URL when the embedded runtime gave the service a router port
      (``local_port``): that port on the base URL's host;
    * otherwise per-path routing under the base URL: ``<base_url>/<slug>``.
    """
    if "{slug}" in base_url or "{id}" in base_url:
        return base_url.replace("{slug}", service.slug).replace("{id}", service.id)
    parts = urlsplit(base_url)
    if service.local_port is not None and parts.hostname:
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return urlunsplit((parts.scheme, f"{host}:{service.local_port}", "", "", ""))
    return f"{base_url.rstrip('/')}/{service.slug}"


def private_service_address(service: Service) -> str:
    """A private service's internal ``host:port`` (Render's ``privateServiceDetails.url``): the
    slug resolves on the platform's private network (Cloud Map / the local container network)."""
    return f"{service.slug}:{service.port}"


# -- registry credentials -----------------------------------------------------------------


def credential_json(record: CredentialRecord) -> JSON:
    """Render ``registryCredential``. The token is write-only and never part of it."""
    return {
        "id": record.id,
        "name": record.name,
        "registry": record.registry.value,
        "username": record.username,
        "updatedAt": rfc3339(record.updated_at),
    }


def credential_summary_json(record: CredentialRecord) -> JSON:
    """Render ``registryCredentialSummary`` (the service's top-level ``registryCredential``)."""
    return {"id": record.id, "name": record.name}


def credential_list_json(records: Iterable[CredentialRecord]) -> list[JSON]:
    """``GET /registrycredentials``: Render returns a *bare* array, with no cursors."""
    return [credential_json(record) for record in records]


def _checked_credential(
    credential_id: str | None, credential: CredentialRecord | None, what: str
) -> CredentialRecord | None:
    if credential_id is None:
        if credential is not None:
            raise ValueError(f"{what} has no registry credential, but one was passed")
        return None
    if credential is None or credential.id != credential_id:
        raise ValueError(f"{what} uses registry credential {credential_id}: pass that record")
    return credential


# -- services -----------------------------------------------------------------------------


def _docker_details(service: Service, credential: CredentialRecord | None) -> JSON:
    details: JSON = {
        "dockerCommand": service.docker_command,
        "dockerContext": "",  # neutral: image-backed services have no build context
        "dockerfilePath": "",  # neutral: nor a Dockerfile
    }
    if service.type.long_running:
        details["preDeployCommand"] = service.pre_deploy_command
    if credential is not None:
        details["registryCredential"] = credential_json(credential)
    return details


def _service_details(
    service: Service,
    credential: CredentialRecord | None,
    apps_base_url: str,
    last_successful_run_at: datetime | None,
) -> JSON:
    details: JSON = {
        "env": "image",  # deprecated twin of runtime; Render still sends it
        "runtime": "image",
        "envSpecificDetails": _docker_details(service, credential),
        "plan": service.plan.value,
        "region": service.region.value,
        "buildPlan": "starter",  # neutral: nothing is built
    }
    if service.type is ServiceType.CRON_JOB:
        details["schedule"] = service.schedule
        if last_successful_run_at is not None:
            details["lastSuccessfulRunAt"] = rfc3339(last_successful_run_at)
        return details
    details["numInstances"] = service.num_instances
    details["maxShutdownDelaySeconds"] = service.max_shutdown_delay_seconds
    details["pullRequestPreviewsEnabled"] = "no"  # neutral: no preview environments
    details["previews"] = {"generation": "off"}
    if service.type is ServiceType.WEB_SERVICE:
        details["healthCheckPath"] = service.health_check_path
        details["openPorts"] = [{"port": service.port, "protocol": "TCP"}]
        details["url"] = web_service_url(service, apps_base_url)
    elif service.type is ServiceType.PRIVATE_SERVICE:
        details["openPorts"] = [{"port": service.port, "protocol": "TCP"}]
        details["url"] = private_service_address(service)
    return details


def service_json(
    service: Service,
    *,
    base_url: str,
    credential: CredentialRecord | None,
    live_deploy: Deploy | None = None,
    last_successful_run_at: datetime | None = None,
    apps_base_url: str | None = None,
) -> JSON:
    """Render ``service``.

    ``credential`` must be the record of ``service.credential_id`` (or None when it has none).
    ``live_deploy``, when given, adds the ``liveDeploy`` extension (what is running now).
    ``last_successful_run_at`` fills a cron job's ``lastSuccessfulRunAt``. ``apps_base_url`` is
    the base for web service URLs (see ``web_service_url``; default ``base_url``).
    """
    credential = _checked_credential(service.credential_id, credential, f"service {service.id}")
    body: JSON = {
        "id": service.id,
        "name": service.name,
        "ownerId": service.owner_id,
        "type": service.type.value,
        "createdAt": rfc3339(service.created_at),
        "updatedAt": rfc3339(service.updated_at),
        "dashboardUrl": dashboard_url(service, base_url),
        "suspended": "suspended" if service.suspended else "not_suspended",
        "suspenders": ["user"] if service.suspended else [],
        "autoDeploy": "no",  # image-backed services never redeploy by themselves
        "notifyOnFail": "default",  # neutral: overrides live in /notification-settings
        "slug": service.slug,
        "rootDir": "",  # neutral: no repository
        "imagePath": service.image_path,
        "serviceDetails": _service_details(
            service, credential, apps_base_url or base_url, last_successful_run_at
        ),
    }
    if credential is not None:
        body["registryCredential"] = credential_summary_json(credential)
    if live_deploy is not None:
        # extension: the deploy serving now and the image it runs
        body["liveDeploy"] = {"id": live_deploy.id, "image": _deploy_image(live_deploy, credential)}
    return body


def service_list_json(
    page: Page[Service],
    position: ListPosition,
    *,
    base_url: str,
    credentials: Mapping[str, CredentialRecord],
    apps_base_url: str | None = None,
) -> list[JSON]:
    """``GET /services``: ``[{"service": {...}, "cursor": "..."}]``. ``credentials`` maps the
    credential ids the page's services use to their records."""
    bodies = (
        service_json(
            service,
            base_url=base_url,
            credential=credentials.get(service.credential_id) if service.credential_id else None,
            apps_base_url=apps_base_url,
        )
        for service in page.items
    )
    return wrap_items("service", bodies, page, position)


def service_and_deploy_json(
    service: Service,
    deploy_id: str,
    *,
    base_url: str,
    credential: CredentialRecord | None,
    apps_base_url: str | None = None,
) -> JSON:
    """``POST /services`` (201): Render ``serviceAndDeploy`` ``{service, deployId}``."""
    return {
        "service": service_json(
            service, base_url=base_url, credential=credential, apps_base_url=apps_base_url
        ),
        "deployId": deploy_id,
    }


# -- env vars -----------------------------------------------------------------------------


def env_var_json(env_var: EnvVar) -> JSON:
    """Render ``envVar``."""
    return {"key": env_var.key, "value": env_var.value}


def env_var_list_json(page: Page[EnvVar], position: ListPosition = START) -> list[JSON]:
    """``GET|PUT /services/{id}/env-vars``: ``[{"envVar": {...}, "cursor": "..."}]``.

    Env vars live on the service, so the "store" is the service's tuple:
    ``read_page(lambda n, _c: Page(list(service.env_vars[:n]), None), cursor, limit)``; a PUT
    answers with every variable: ``env_var_list_json(Page(list(env_vars), None))``.
    """
    return wrap_items("envVar", (env_var_json(ev) for ev in page.items), page, position)


# -- deploys ------------------------------------------------------------------------------


def _deploy_image(deploy: Deploy, credential: CredentialRecord | None) -> JSON:
    image: JSON = {"ref": deploy.image_ref}
    if deploy.image_sha is not None:
        image["sha"] = deploy.image_sha
    if deploy.credential_id is not None:
        # Render documents this as the credential's *name*; a credential deleted since the
        # deploy leaves only its id to show.
        image["registryCredential"] = (
            credential.name
            if credential is not None and credential.id == deploy.credential_id
            else deploy.credential_id
        )
    return image


def deploy_json(deploy: Deploy, *, credential: CredentialRecord | None = None) -> JSON:
    """Render ``deploy``: no ``commit`` (image deploys have none); ``image {ref, sha,
    registryCredential}`` where ``sha`` appears once the preflight resolved the reference.
    ``credential`` is the record of ``deploy.credential_id``, for its name."""
    body: JSON = {
        "id": deploy.id,
        "status": deploy.status.value,
        "trigger": deploy.trigger.value,
        "image": _deploy_image(deploy, credential),
        "createdAt": rfc3339(deploy.created_at),
        "updatedAt": rfc3339(deploy.updated_at),
    }
    if deploy.started_at is not None:
        body["startedAt"] = rfc3339(deploy.started_at)
    if deploy.finished_at is not None:
        body["finishedAt"] = rfc3339(deploy.finished_at)
    return body


def deploy_list_json(
    page: Page[Deploy],
    position: ListPosition,
    *,
    credentials: Mapping[str, CredentialRecord] | None = None,
) -> list[JSON]:
    """``GET /services/{id}/deploys``: ``[{"deploy": {...}, "cursor": "..."}]``."""
    known = credentials or {}
    bodies = (
        deploy_json(d, credential=known.get(d.credential_id) if d.credential_id else None)
        for d in page.items
    )
    return wrap_items("deploy", bodies, page, position)


def deploy_hook_json(deploy_id: str) -> JSON:
    """The deploy hook's 200 body, ``{"deploy": {"id": ...}}`` (not in the OpenAPI: Render's
    hook lives outside /v1)."""
    return {"deploy": {"id": deploy_id}}


# -- events -------------------------------------------------------------------------------

# Render's deprecated integer ``status`` beside deployStatus/preDeployStatus, still required by
# its schema. 2 (succeeded) and 4 (failed) are what Render sends; 3 for canceled is inferred.
_ENDED_STATUS_CODES: Final = {"succeeded": 2, "canceled": 3, "failed": 4}
_TRIGGER_FLAGS: Final = (
    "firstBuild",
    "envUpdated",
    "manual",
    "deployedByRender",
    "clearCache",
    "rollback",
)
_INSTANCE_ID = re.compile(r"srv-[0-9a-z]{20}-[0-9a-z]{5}", re.ASCII)


def _failure(reason: Any) -> Any:
    """Render's failure reason (``server_failed``, ``failure`` of an ended deploy, a cron run's
    reason) requires ``evicted``."""
    if isinstance(reason, Mapping):
        return {"evicted": False, **reason}
    return reason


def _ended_reason(reason: Any) -> JSON:
    """``{newDeploy: {id}}`` / ``{failure: {...}}`` / our ``imagePullFailed``; ``{}`` if none."""
    if not isinstance(reason, Mapping):
        return {}
    out = dict(reason)
    if "failure" in out:
        out["failure"] = _failure(out["failure"])
    return out


def _ended(details: JSON, status_key: str) -> JSON:
    out = {**details, "reason": _ended_reason(details.get("reason"))}
    if not isinstance(out.get("status"), int):
        out["status"] = _ENDED_STATUS_CODES.get(str(out.get(status_key, "")), 0)
    return out


def _deploy_trigger(details: JSON) -> JSON:
    """Render's trigger object from a stored ``DeployTrigger`` value (or a partial object)."""
    trigger = details.get("trigger")
    if isinstance(trigger, Mapping):
        return {**dict.fromkeys(_TRIGGER_FLAGS, False), **trigger}
    flags: JSON = dict.fromkeys(_TRIGGER_FLAGS, False)
    flags["firstBuild"] = bool(details.get("firstBuild", False))
    flags["manual"] = trigger in ("manual", "api")
    flags["envUpdated"] = trigger == "service_updated"
    flags["deployedByRender"] = trigger == "deployed_by_render"
    flags["rollback"] = trigger == "rollback"
    target = details.get("rollbackTargetDeployId")
    if isinstance(target, str):
        flags["rollbackTargetDeployId"] = target
    return flags


def _deploy_started(details: JSON) -> JSON:
    return {**details, "trigger": _deploy_trigger(details)}


def _pre_deploy_started(details: JSON) -> JSON:
    return {"deployCommandExecutionId": "", **details}


def _pre_deploy_ended(details: JSON) -> JSON:
    return _ended({"deployCommandExecutionId": "", **details}, "preDeployStatus")


def _server_failed(details: JSON) -> JSON:
    out = dict(details)
    if "reason" in out:
        out["reason"] = _failure(out["reason"])
    if not (isinstance(out.get("instanceID"), str) and _INSTANCE_ID.fullmatch(out["instanceID"])):
        out.pop("instanceID", None)  # Render's id pattern; ours (task ids) do not fit
    return out


def _cron_run_ended(details: JSON) -> JSON:
    out = dict(details)
    reason = out.get("reason")
    if isinstance(reason, str):
        out.pop("reason")
        if reason:
            out["message"] = reason  # extension: a reason for people
    elif reason is not None:
        out["reason"] = _failure(reason)
    return out


_DETAILS: Final[Mapping[EventType, Callable[[JSON], JSON]]] = {
    EventType.DEPLOY_STARTED: _deploy_started,
    EventType.DEPLOY_ENDED: lambda d: _ended(d, "deployStatus"),
    EventType.PRE_DEPLOY_STARTED: _pre_deploy_started,
    EventType.PRE_DEPLOY_ENDED: _pre_deploy_ended,
    EventType.IMAGE_PULL_FAILED: lambda d: {"imageURL": "", "message": "", **d},
    EventType.SERVER_FAILED: _server_failed,
    EventType.SERVER_RESTARTED: lambda d: {"triggeredByUser": None, **d},
    EventType.CRON_JOB_RUN_ENDED: _cron_run_ended,
}


def event_details_json(event_type: EventType, details: Mapping[str, Any]) -> JSON:
    """An event's ``details`` in Render's shape for its type: fields Render requires but the
    stored details may lack get their neutral values (``status`` codes, ``evicted: false``,
    ``triggeredByUser: null``, the trigger flags); everything stored is kept."""
    normalize = _DETAILS.get(event_type)
    plain = dict(details)
    return normalize(plain) if normalize is not None else plain


def event_json(event: Event) -> JSON:
    """Render's service event (``serviceEventWithCursor.event``; also ``GET /events/{id}``)."""
    return {
        "id": event.id,
        "timestamp": rfc3339(event.timestamp),
        "serviceId": event.service_id,
        "type": event.type.value,
        "details": event_details_json(event.type, event.details),
    }


def event_list_json(page: Page[Event], position: ListPosition) -> list[JSON]:
    """``GET /services/{id}/events``: ``[{"event": {...}, "cursor": "..."}]``."""
    return wrap_items("event", (event_json(e) for e in page.items), page, position)


# -- owners -------------------------------------------------------------------------------


def owner_json(owner: Owner) -> JSON:
    """Render ``owner`` (the workspace)."""
    return {"id": owner.id, "name": owner.name, "email": owner.email, "type": owner.type}


def owner_list_json(page: Page[Owner], position: ListPosition) -> list[JSON]:
    """``GET /owners``: ``[{"owner": {...}, "cursor": "..."}]``."""
    return wrap_items("owner", (owner_json(o) for o in page.items), page, position)


# -- cron job runs ------------------------------------------------------------------------


def cron_run_json(run: CronRun) -> JSON:
    """Render ``cronJobRun``. ``triggeredBy`` is ``schedule`` or ``manual`` (Render names a
    user there; we have no users). ``exitCode``/``reason`` are extensions."""
    body: JSON = {
        "id": run.id,
        "status": run.status.value,
        "startedAt": rfc3339(run.started_at),
        "triggeredBy": run.trigger.value,
    }
    return body | ending_json(run.finished_at, run.exit_code, run.reason)


def ending_json(finished_at: datetime | None, exit_code: int | None, reason: str) -> JSON:
    """How a run or job ended, once it has: ``finishedAt``, and the extensions ``exitCode`` and
    ``reason`` where known."""
    body: JSON = {}
    if finished_at is not None:
        body["finishedAt"] = rfc3339(finished_at)
    if exit_code is not None:
        body["exitCode"] = exit_code  # extension
    if reason:
        body["reason"] = reason  # extension
    return body


def cron_run_list_json(page: Page[CronRun], position: ListPosition) -> list[JSON]:
    """``GET /cron-jobs/{id}/runs`` (imagedeploy's; Render has none), wrapped the Render way:
    ``[{"cronJobRun": {...}, "cursor": "..."}]``."""
    return wrap_items("cronJobRun", (cron_run_json(r) for r in page.items), page, position)


# -- webhooks -----------------------------------------------------------------------------


def api_key_json(key: ApiKey, secret: str | None = None) -> JSON:
    """``apiKey`` (ours: Render has no API-key endpoints). The key itself (``key``) only in the
    answer that created it; only its hash is stored."""
    body: JSON = {
        "id": key.id,
        "ownerId": key.owner_id,
        "name": key.name,
        "createdAt": rfc3339(key.created_at),
        "lastUsedAt": None if key.last_used_at is None else rfc3339(key.last_used_at),
    }
    if secret is not None:
        body["key"] = secret
    return body


def api_key_list_json(page: Page[ApiKey], position: ListPosition) -> list[JSON]:
    """``GET /api-keys``: ``[{"apiKey": {...}, "cursor": "..."}]``."""
    return wrap_items("apiKey", (api_key_json(k) for k in page.items), page, position)


def webhook_json(webhook: Webhook) -> JSON:
    """Render ``webhook``; the signing ``secret`` is included, as Render does."""
    return {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "secret": webhook.secret,
        "enabled": webhook.enabled,
        "eventFilter": list(webhook.event_filter),
    }


def webhook_list_json(page: Page[Webhook], position: ListPosition) -> list[JSON]:
    """``GET /webhooks``: ``[{"webhook": {...}, "cursor": "..."}]``."""
    return wrap_items("webhook", (webhook_json(w) for w in page.items), page, position)


def webhook_event_json(delivery: WebhookDelivery) -> JSON:
    """Render ``webhookEvent``: one delivery of one event (no ``responseBody``: not kept)."""
    body: JSON = {
        "id": delivery.id,
        "eventId": delivery.event_id,
        "eventType": delivery.event_type,
        "sentAt": rfc3339(delivery.sent_at),
    }
    if delivery.status_code is not None:
        body["statusCode"] = delivery.status_code
    if delivery.error:
        body["error"] = delivery.error
    return body


def webhook_event_list_json(page: Page[WebhookDelivery], position: ListPosition) -> list[JSON]:
    """``GET /webhooks/{id}/events``: ``[{"webhookEvent": {...}, "cursor": "..."}]``."""
    return wrap_items("webhookEvent", (webhook_event_json(d) for d in page.items), page, position)


# -- notification settings ----------------------------------------------------------------


def notification_settings_json(
    settings: NotificationSettings, *, email_enabled: bool = False
) -> JSON:
    """``GET|PATCH /notification-settings/owners/{ownerId}``. ``email_enabled`` says whether
    email goes out (an SNS topic with email subscriptions); Slack and preview notifications do
    not exist here (neutral ``false``)."""
    if settings.notifications_to_send is NotificationsToSend.DEFAULT:
        raise ValueError("a workspace's notificationsToSend cannot be 'default'")
    return {
        "ownerId": settings.owner_id,
        "slackEnabled": False,  # neutral
        "emailEnabled": email_enabled,
        "previewNotificationsEnabled": False,  # neutral
        "notificationsToSend": settings.notifications_to_send.value,
    }


def notification_override_json(override: NotificationOverride) -> JSON:
    """``GET|PATCH /notification-settings/overrides/services/{serviceId}``."""
    return {
        "serviceId": override.service_id,
        "previewNotificationsEnabled": "default",  # neutral: no previews
        "notificationsToSend": override.notifications_to_send.value,
    }


def notification_override_list_json(
    page: Page[NotificationOverride], position: ListPosition
) -> list[JSON]:
    """``GET /notification-settings/overrides``: ``[{"override": {...}, "cursor": "..."}]``.
    Render requires an untyped ``type`` in each override; ``"service"`` is what it overrides."""
    bodies = ({**notification_override_json(o), "type": "service"} for o in page.items)
    return wrap_items("override", bodies, page, position)
