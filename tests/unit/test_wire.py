"""Every serializer in ``api.wire`` against Render's own OpenAPI document, operation by operation;
the harness itself; list cursors; and error bodies."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from devkit.render_openapi import (
    operation,
    response_schema,
    validate_response,
    validate_schema,
)
from imagedeploy.api import errors, wire
from imagedeploy.domain.accounts import (
    CredentialRecord,
    NotificationOverride,
    NotificationSettings,
    NotificationsToSend,
    Owner,
    Webhook,
    WebhookDelivery,
)
from imagedeploy.domain.cron import CronRun, RunStatus, RunTrigger
from imagedeploy.domain.deploys import Deploy, DeploySettings, DeployStatus, DeployTrigger
from imagedeploy.domain.errors import (
    ConcurrentUpdate,
    Conflict,
    ImagePullError,
    InvalidInput,
    InvalidReference,
    NotFound,
    PullFailureReason,
    RateLimited,
    Unauthenticated,
)
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.registries import RegistryKind
from imagedeploy.domain.services import EnvVar, Plan, Region, Service, ServiceType
from imagedeploy.ports import Page

pytestmark = pytest.mark.unit

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
BASE = "https://imagedeploy.example.com"
OWNER = new_id("tea")
SHA = "sha256:" + "ab" * 32
PLATFORM_SHA = "sha256:" + "cd" * 32
CREDENTIAL = CredentialRecord(
    id=new_id("rgc"),
    owner_id=OWNER,
    name="ghcr read-only",
    registry=RegistryKind.GITHUB,
    username="octocat",
    updated_at=T0,
)


def make_service(service_type: ServiceType, **changes: Any) -> Service:
    service = Service(
        id=new_id(service_type.id_prefix),
        owner_id=OWNER,
        type=service_type,
        name=f"my {service_type.value}",
        slug=f"my-{service_type.value.replace('_', '-')}",
        image_path="ghcr.io/acme/api:1.2.3",
        credential_id=CREDENTIAL.id,
        plan=Plan.STANDARD,
        region=Region.FRANKFURT,
        num_instances=1 if service_type is ServiceType.CRON_JOB else 2,
        docker_command="./server --port 10000",
        pre_deploy_command="" if service_type is ServiceType.CRON_JOB else "./migrate",
        health_check_path="/healthz" if service_type is ServiceType.WEB_SERVICE else "",
        port=10000,
        max_shutdown_delay_seconds=30,
        schedule="*/10 * * * *" if service_type is ServiceType.CRON_JOB else "",
        env_vars=(EnvVar("DATABASE_URL", "postgres://db/app"), EnvVar("LOG_LEVEL", "info")),
        suspended=False,
        hook_key_hash="0" * 64,
        created_at=T0,
        updated_at=T0 + timedelta(minutes=5),
    )
    return replace(service, **changes)


def make_deploy(status: DeployStatus = DeployStatus.LIVE, **changes: Any) -> Deploy:
    started = status not in (DeployStatus.CREATED, DeployStatus.QUEUED)
    deploy = Deploy(
        id=new_id("dep"),
        service_id=new_id("srv"),
        status=status,
        trigger=DeployTrigger.API,
        image_ref="ghcr.io/acme/api:1.2.3",
        credential_id=CREDENTIAL.id,
        settings=DeploySettings("./server", "./migrate", "/healthz", 10000, Plan.STARTER),
        created_at=T0,
        updated_at=T0 + timedelta(seconds=30),
        image_sha=SHA if started else None,
        platform_digest=PLATFORM_SHA if started else None,
        started_at=T0 + timedelta(seconds=1) if started else None,
        finished_at=T0 + timedelta(seconds=30) if status.finished else None,
    )
    return replace(deploy, **changes)


def page(items: list[Any], next_cursor: str | None = None) -> Page[Any]:
    return Page(items, next_cursor)


# -- services -----------------------------------------------------------------------------

ALL_TYPES = list(ServiceType)
DETAILS_SCHEMA = {
    ServiceType.WEB_SERVICE: "webServiceDetails",
    ServiceType.PRIVATE_SERVICE: "privateServiceDetails",
    ServiceType.BACKGROUND_WORKER: "backgroundWorkerDetails",
    ServiceType.CRON_JOB: "cronJobDetails",
}


@pytest.mark.parametrize("service_type", ALL_TYPES)
@pytest.mark.parametrize("with_credential", [True, False])
@pytest.mark.parametrize("suspended", [False, True])
def test_service_json_matches_retrieve_service(
    service_type: ServiceType, with_credential: bool, suspended: bool
) -> None:
    service = make_service(
        service_type,
        credential_id=CREDENTIAL.id if with_credential else None,
        suspended=suspended,
    )
    body = wire.service_json(
        service,
        base_url=BASE,
        credential=CREDENTIAL if with_credential else None,
        live_deploy=make_deploy(),
        last_successful_run_at=T0,
    )
    validate_response("GET", "/services/{serviceId}", 200, body)
    validate_response("PATCH", "/services/{serviceId}", 200, body)
    validate_schema(DETAILS_SCHEMA[service_type], body["serviceDetails"])
    validate_schema("dockerDetails", body["serviceDetails"]["envSpecificDetails"])

    assert body["type"] == service_type.value
    assert body["autoDeploy"] == "no"
    assert body["suspended"] == ("suspended" if suspended else "not_suspended")
    assert body["suspenders"] == (["user"] if suspended else [])
    assert body["imagePath"] == "ghcr.io/acme/api:1.2.3"
    assert body["createdAt"] == "2024-05-01T12:00:00Z"
    details = body["serviceDetails"]
    assert details["runtime"] == details["env"] == "image"
    assert details["envSpecificDetails"]["dockerCommand"] == "./server --port 10000"
    if with_credential:
        assert body["registryCredential"] == {"id": CREDENTIAL.id, "name": "ghcr read-only"}
        assert details["envSpecificDetails"]["registryCredential"]["username"] == "octocat"
    else:
        assert "registryCredential" not in body
        assert "registryCredential" not in details["envSpecificDetails"]


def test_service_details_per_type() -> None:
    web = wire.service_json(
        make_service(ServiceType.WEB_SERVICE), base_url=BASE, credential=CREDENTIAL
    )
    details = web["serviceDetails"]
    assert details["healthCheckPath"] == "/healthz"
    assert details["openPorts"] == [{"port": 10000, "protocol": "TCP"}]
    assert details["url"] == f"{BASE}/my-web-service"
    assert details["numInstances"] == 2
    assert details["maxShutdownDelaySeconds"] == 30
    assert details["envSpecificDetails"]["preDeployCommand"] == "./migrate"

    private = wire.service_json(
        make_service(ServiceType.PRIVATE_SERVICE), base_url=BASE, credential=CREDENTIAL
    )["serviceDetails"]
    assert private["url"] == "my-private-service:10000"
    assert "healthCheckPath" not in private

    worker = wire.service_json(
        make_service(ServiceType.BACKGROUND_WORKER), base_url=BASE, credential=CREDENTIAL
    )["serviceDetails"]
    assert "url" not in worker and "openPorts" not in worker

    cron = wire.service_json(
        make_service(ServiceType.CRON_JOB),
        base_url=BASE,
        credential=CREDENTIAL,
        last_successful_run_at=T0,
    )
    assert cron["id"].startswith("crn-")
    cron_details = cron["serviceDetails"]
    assert cron_details["schedule"] == "*/10 * * * *"
    assert cron_details["lastSuccessfulRunAt"] == "2024-05-01T12:00:00Z"
    assert "numInstances" not in cron_details
    assert "preDeployCommand" not in cron_details["envSpecificDetails"]


def test_service_json_refuses_a_credential_that_is_not_the_services() -> None:
    service = make_service(ServiceType.WEB_SERVICE)
    with pytest.raises(ValueError, match="registry credential"):
        wire.service_json(service, base_url=BASE, credential=None)
    other = replace(CREDENTIAL, id=new_id("rgc"))
    with pytest.raises(ValueError, match="registry credential"):
        wire.service_json(service, base_url=BASE, credential=other)
    with pytest.raises(ValueError, match="no registry credential"):
        wire.service_json(
            replace(service, credential_id=None), base_url=BASE, credential=CREDENTIAL
        )


def test_service_live_deploy_extension() -> None:
    live = make_deploy()
    body = wire.service_json(
        make_service(ServiceType.WEB_SERVICE),
        base_url=BASE,
        credential=CREDENTIAL,
        live_deploy=live,
    )
    assert body["liveDeploy"] == {
        "id": live.id,
        "image": {"ref": live.image_ref, "sha": SHA, "registryCredential": CREDENTIAL.name},
    }


def test_list_services_wraps_each_service_with_a_cursor() -> None:
    services = [make_service(t) for t in ALL_TYPES]
    body = wire.service_list_json(
        page(services, "store-next"),
        wire.START,
        base_url=BASE,
        credentials={CREDENTIAL.id: CREDENTIAL},
    )
    validate_response("GET", "/services", 200, body)
    assert [item["service"]["id"] for item in body] == [s.id for s in services]
    assert all(isinstance(item["cursor"], str) and item["cursor"] for item in body)


def test_create_service_response_is_service_and_deploy() -> None:
    service = make_service(ServiceType.WEB_SERVICE)
    deploy = make_deploy(DeployStatus.CREATED)
    body = wire.service_and_deploy_json(service, deploy.id, base_url=BASE, credential=CREDENTIAL)
    validate_response("POST", "/services", 201, body)
    assert body["deployId"] == deploy.id
    assert body["service"]["id"] == service.id


@pytest.mark.parametrize(
    ("base_url", "changes", "expected"),
    [
        ("https://{slug}.apps.example.com", {}, "https://my-web-service.apps.example.com"),
        ("https://apps.example.com/{slug}", {}, "https://apps.example.com/my-web-service"),
        ("https://apps.example.com/s/{id}", {"id": "srv-x"}, "https://apps.example.com/s/srv-x"),
        ("http://127.0.0.1:8484", {"local_port": 20001}, "http://127.0.0.1:20001"),
        ("http://[::1]:8484/", {"local_port": 20001}, "http://[::1]:20001"),
        ("http://127.0.0.1:8484/", {}, "http://127.0.0.1:8484/my-web-service"),
    ],
)
def test_web_service_url(base_url: str, changes: dict[str, Any], expected: str) -> None:
    service = make_service(ServiceType.WEB_SERVICE, **changes)
    assert wire.web_service_url(service, base_url) == expected


def test_apps_base_url_is_separate_from_the_api_base_url() -> None:
    body = wire.service_json(
        make_service(ServiceType.WEB_SERVICE),
        base_url=BASE,
        credential=CREDENTIAL,
        apps_base_url="https://{slug}.apps.example.com",
    )
    assert body["serviceDetails"]["url"] == "https://my-web-service.apps.example.com"
    assert body["dashboardUrl"] == f"{BASE}/dashboard/services/{body['id']}"


# -- env vars -----------------------------------------------------------------------------


def test_env_vars() -> None:
    env_vars = [EnvVar("A", "1"), EnvVar("B", ""), EnvVar("C", "x=y z")]
    listed = wire.env_var_list_json(page(env_vars))
    validate_response("GET", "/services/{serviceId}/env-vars", 200, listed)
    validate_response("PUT", "/services/{serviceId}/env-vars", 200, listed)
    assert [item["envVar"] for item in listed] == [
        {"key": "A", "value": "1"},
        {"key": "B", "value": ""},
        {"key": "C", "value": "x=y z"},
    ]
    single = wire.env_var_json(EnvVar("A", "1"))
    validate_response("GET", "/services/{serviceId}/env-vars/{envVarKey}", 200, single)
    validate_response("PUT", "/services/{serviceId}/env-vars/{envVarKey}", 200, single)
    validate_response(
        "GET", "/services/{serviceId}/env-vars", 200, wire.env_var_list_json(page([]))
    )


# -- deploys ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(DeployStatus))
def test_deploy_json_for_every_status(status: DeployStatus) -> None:
    deploy = make_deploy(status)
    body = wire.deploy_json(deploy, credential=CREDENTIAL)
    validate_response("GET", "/services/{serviceId}/deploys/{deployId}", 200, body)
    assert body["status"] == status.value
    assert "commit" not in body
    assert body["image"]["ref"] == "ghcr.io/acme/api:1.2.3"
    assert body["image"]["registryCredential"] == "ghcr read-only"
    assert ("sha" in body["image"]) == (deploy.image_sha is not None)
    assert ("startedAt" in body) == (deploy.started_at is not None)
    assert ("finishedAt" in body) == status.finished


@pytest.mark.parametrize("trigger", list(DeployTrigger))
def test_deploy_json_for_every_trigger(trigger: DeployTrigger) -> None:
    body = wire.deploy_json(make_deploy(trigger=trigger, credential_id=None))
    validate_response("GET", "/services/{serviceId}/deploys/{deployId}", 200, body)
    assert body["trigger"] == trigger.value
    assert "registryCredential" not in body["image"]


def test_deploy_of_a_deleted_credential_shows_its_id() -> None:
    gone = new_id("rgc")
    body = wire.deploy_json(make_deploy(credential_id=gone))
    assert body["image"]["registryCredential"] == gone


def test_deploy_operations() -> None:
    queued = make_deploy(DeployStatus.CREATED, trigger=DeployTrigger.API)
    validate_response("POST", "/services/{serviceId}/deploys", 201, wire.deploy_json(queued))
    validate_response("POST", "/services/{serviceId}/deploys", 202, None)
    rollback = make_deploy(DeployStatus.CREATED, trigger=DeployTrigger.ROLLBACK, image_ref=SHA)
    validate_response("POST", "/services/{serviceId}/rollback", 201, wire.deploy_json(rollback))
    canceled = make_deploy(DeployStatus.CANCELED)
    validate_response(
        "POST", "/services/{serviceId}/deploys/{deployId}/cancel", 200, wire.deploy_json(canceled)
    )


def test_list_deploys() -> None:
    deploys = [make_deploy(status) for status in DeployStatus]
    body = wire.deploy_list_json(page(deploys), wire.START, credentials={CREDENTIAL.id: CREDENTIAL})
    validate_response("GET", "/services/{serviceId}/deploys", 200, body)
    assert [item["deploy"]["id"] for item in body] == [d.id for d in deploys]


def test_deploy_hook_body() -> None:
    assert wire.deploy_hook_json("dep-x") == {"deploy": {"id": "dep-x"}}


# -- events -------------------------------------------------------------------------------

DEPLOY_ID = new_id("dep")
RUN_ID = new_id("run")
EXECUTION_ID = new_id("exe")

# (type, details as the use cases store them, per docs/architecture.md §4.3, §9.3, §10)
REALISTIC_EVENTS: list[tuple[EventType, dict[str, Any]]] = [
    (EventType.DEPLOY_STARTED, {"deployId": DEPLOY_ID, "trigger": "api"}),
    (EventType.DEPLOY_STARTED, {"deployId": DEPLOY_ID, "trigger": "api", "firstBuild": True}),
    (
        EventType.DEPLOY_STARTED,
        {"deployId": DEPLOY_ID, "trigger": "rollback", "rollbackTargetDeployId": new_id("dep")},
    ),
    (EventType.DEPLOY_STARTED, {"deployId": DEPLOY_ID, "trigger": {"manual": True}}),
    (
        EventType.DEPLOY_ENDED,
        {"deployId": DEPLOY_ID, "deployStatus": "succeeded", "reason": {}},
    ),
    (
        EventType.DEPLOY_ENDED,
        {
            "deployId": DEPLOY_ID,
            "deployStatus": "failed",
            "reason": {"failure": {"nonZeroExit": 1}},
        },
    ),
    (
        EventType.DEPLOY_ENDED,
        {
            "deployId": DEPLOY_ID,
            "deployStatus": "failed",
            "reason": {"failure": {"oomKilled": {"memoryLimit": "512Mi"}}},
        },
    ),
    (
        EventType.DEPLOY_ENDED,
        {
            "deployId": DEPLOY_ID,
            "deployStatus": "failed",
            "reason": {"failure": {"timedOutSeconds": 900, "unhealthy": "GET /healthz: 503"}},
        },
    ),
    (
        EventType.DEPLOY_ENDED,
        {
            "deployId": DEPLOY_ID,
            "deployStatus": "failed",
            "reason": {
                "imagePullFailed": {"reason": "wrong_platform", "message": "linux/arm64 only"}
            },
        },
    ),
    (
        EventType.DEPLOY_ENDED,
        {
            "deployId": DEPLOY_ID,
            "deployStatus": "canceled",
            "reason": {"newDeploy": {"id": new_id("dep")}},
        },
    ),
    (
        EventType.PRE_DEPLOY_STARTED,
        {"deployId": DEPLOY_ID, "deployCommandExecutionId": EXECUTION_ID},
    ),
    (
        EventType.PRE_DEPLOY_ENDED,
        {
            "deployId": DEPLOY_ID,
            "deployCommandExecutionId": EXECUTION_ID,
            "preDeployStatus": "succeeded",
            "reason": {},
        },
    ),
    (
        EventType.PRE_DEPLOY_ENDED,
        {
            "deployId": DEPLOY_ID,
            "deployCommandExecutionId": EXECUTION_ID,
            "preDeployStatus": "failed",
            "reason": {"failure": {"nonZeroExit": 3}},
        },
    ),
    (
        EventType.IMAGE_PULL_FAILED,
        {
            "imageURL": "ghcr.io/acme/api:1.2.3",
            "message": "the credential was refused by ghcr.io: update it",
            "reason": "unauthorized",
        },
    ),
    (EventType.SERVER_FAILED, {"reason": {"nonZeroExit": 137}}),
    (EventType.SERVER_FAILED, {"reason": {"oomKilled": {"memoryLimit": "2Gi"}}}),
    (EventType.SERVER_FAILED, {"reason": {"earlyExit": True}, "instanceID": "ecs-task-1234"}),
    (EventType.SERVER_AVAILABLE, {}),
    (EventType.SERVER_RESTARTED, {}),
    (EventType.CRON_JOB_RUN_STARTED, {"cronJobRunId": RUN_ID}),
    (EventType.CRON_JOB_RUN_ENDED, {"cronJobRunId": RUN_ID, "status": "successful"}),
    (
        EventType.CRON_JOB_RUN_ENDED,
        {"cronJobRunId": RUN_ID, "status": "unsuccessful", "reason": {"nonZeroExit": 2}},
    ),
    (
        EventType.CRON_JOB_RUN_ENDED,
        {"cronJobRunId": RUN_ID, "status": "canceled", "reason": "a manual run replaced it"},
    ),
    (EventType.SERVICE_SUSPENDED, {}),
    (EventType.SERVICE_RESUMED, {}),
    (EventType.INSTANCE_COUNT_CHANGED, {"fromInstances": 1, "toInstances": 3}),
]


def make_event(event_type: EventType, details: dict[str, Any]) -> Event:
    return Event(new_id("evt"), new_id("srv"), event_type, T0, details)


def test_every_event_type_is_exercised() -> None:
    assert {event_type for event_type, _ in REALISTIC_EVENTS} == set(EventType)


@pytest.mark.parametrize(
    ("event_type", "details"),
    REALISTIC_EVENTS,
    ids=[f"{t.value}-{i}" for i, (t, _) in enumerate(REALISTIC_EVENTS)],
)
def test_event_json(event_type: EventType, details: dict[str, Any]) -> None:
    event = make_event(event_type, details)
    body = wire.event_json(event)
    validate_response("GET", "/events/{eventId}", 200, body)
    listed = wire.event_list_json(page([event]), wire.START)
    validate_response("GET", "/services/{serviceId}/events", 200, listed)
    assert body["type"] == event_type.value
    assert body["timestamp"] == "2024-05-01T12:00:00Z"
    assert event.details == details, "serializing must not change the stored details"


def test_deploy_ended_details() -> None:
    def details(status: str, reason: dict[str, Any]) -> dict[str, Any]:
        event = make_event(
            EventType.DEPLOY_ENDED,
            {"deployId": DEPLOY_ID, "deployStatus": status, "reason": reason},
        )
        result: dict[str, Any] = wire.event_json(event)["details"]
        return result

    assert details("succeeded", {})["status"] == 2
    failed = details("failed", {"failure": {"nonZeroExit": 1}})
    assert failed["status"] == 4
    assert failed["reason"] == {"failure": {"evicted": False, "nonZeroExit": 1}}
    canceled = details("canceled", {"newDeploy": {"id": "dep-next"}})
    assert canceled["status"] == 3
    assert canceled["reason"] == {"newDeploy": {"id": "dep-next"}}


def test_deploy_started_trigger_flags() -> None:
    def trigger(details: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = wire.event_json(make_event(EventType.DEPLOY_STARTED, details))[
            "details"
        ]["trigger"]
        return result

    api = trigger({"deployId": DEPLOY_ID, "trigger": "api", "firstBuild": True})
    assert api == {
        "firstBuild": True,
        "envUpdated": False,
        "manual": True,
        "deployedByRender": False,
        "clearCache": False,
        "rollback": False,
    }
    target = new_id("dep")
    rollback = trigger(
        {"deployId": DEPLOY_ID, "trigger": "rollback", "rollbackTargetDeployId": target}
    )
    assert rollback["rollback"] is True and rollback["rollbackTargetDeployId"] == target
    assert trigger({"deployId": DEPLOY_ID, "trigger": "deploy_hook"})["manual"] is False


def test_other_event_normalizations() -> None:
    failed = wire.event_json(
        make_event(EventType.SERVER_FAILED, {"reason": {"earlyExit": True}, "instanceID": "task/1"})
    )["details"]
    assert failed == {"reason": {"evicted": False, "earlyExit": True}}
    good_instance = "srv-" + "a" * 20 + "-bcdef"
    kept = wire.event_json(make_event(EventType.SERVER_FAILED, {"instanceID": good_instance}))
    assert kept["details"]["instanceID"] == good_instance
    restarted = wire.event_json(make_event(EventType.SERVER_RESTARTED, {}))["details"]
    assert restarted == {"triggeredByUser": None}
    run_ended = wire.event_json(
        make_event(
            EventType.CRON_JOB_RUN_ENDED,
            {"cronJobRunId": RUN_ID, "status": "canceled", "reason": "replaced"},
        )
    )["details"]
    assert run_ended == {"cronJobRunId": RUN_ID, "status": "canceled", "message": "replaced"}


# -- registry credentials -----------------------------------------------------------------


@pytest.mark.parametrize("kind", list(RegistryKind))
def test_registry_credentials(kind: RegistryKind) -> None:
    record = replace(CREDENTIAL, registry=kind)
    body = wire.credential_json(record)
    for method, path in [
        ("GET", "/registrycredentials/{registryCredentialId}"),
        ("PATCH", "/registrycredentials/{registryCredentialId}"),
        ("POST", "/registrycredentials"),
    ]:
        validate_response(method, path, 200, body)
    listed = wire.credential_list_json([record, CREDENTIAL])
    validate_response("GET", "/registrycredentials", 200, listed)
    assert listed[0] == body, "Render's credential list is a bare array"
    assert set(body) == {"id", "name", "registry", "username", "updatedAt"}
    assert "token" not in json.dumps(listed).lower()


# -- owners, cron runs --------------------------------------------------------------------


def test_owners() -> None:
    owner = Owner(OWNER, "Acme", "ops@acme.example")
    body = wire.owner_json(owner)
    validate_response("GET", "/owners/{ownerId}", 200, body)
    listed = wire.owner_list_json(page([owner]), wire.START)
    validate_response("GET", "/owners", 200, listed)
    assert listed[0]["owner"] == {
        "id": OWNER,
        "name": "Acme",
        "email": "ops@acme.example",
        "type": "team",
    }


@pytest.mark.parametrize("status", list(RunStatus))
@pytest.mark.parametrize("trigger", list(RunTrigger))
def test_cron_runs(status: RunStatus, trigger: RunTrigger) -> None:
    finished = status is not RunStatus.PENDING
    run = CronRun(
        id=RUN_ID,
        service_id=new_id("crn"),
        status=status,
        trigger=trigger,
        deploy_id=DEPLOY_ID,
        image=f"ghcr.io/acme/api@{PLATFORM_SHA}",
        started_at=T0,
        finished_at=T0 + timedelta(minutes=1) if finished else None,
        exit_code=(0 if status is RunStatus.SUCCESSFUL else 2) if finished else None,
        reason="exit code 2" if status is RunStatus.UNSUCCESSFUL else "",
    )
    body = wire.cron_run_json(run)
    validate_response("POST", "/cron-jobs/{cronJobId}/runs", 200, body)
    validate_schema("cronJobRun", wire.cron_run_list_json(page([run]), wire.START)[0]["cronJobRun"])
    assert body["status"] == status.value
    assert body["triggeredBy"] == trigger.value
    assert ("finishedAt" in body) == finished


# -- webhooks -----------------------------------------------------------------------------


def test_webhooks() -> None:
    webhook = Webhook(
        id=new_id("whk"),
        owner_id=OWNER,
        name="deploys to chat",
        url="https://hooks.example.com/render",
        secret="whsec_" + "A" * 32,
        enabled=True,
        event_filter=("deploy_ended", "image_pull_failed"),
    )
    body = wire.webhook_json(webhook)
    validate_response("POST", "/webhooks", 201, body)
    validate_response("GET", "/webhooks/{webhookId}", 200, body)
    validate_response("PATCH", "/webhooks/{webhookId}", 200, body)
    validate_response("GET", "/webhooks", 200, wire.webhook_list_json(page([webhook]), wire.START))
    every_event = replace(webhook, event_filter=())
    assert wire.webhook_json(every_event)["eventFilter"] == []


@pytest.mark.parametrize(
    ("status_code", "delivered", "error"),
    [(200, True, ""), (500, False, "HTTP 500"), (None, False, "timed out after 15 s")],
)
def test_webhook_events(status_code: int | None, delivered: bool, error: str) -> None:
    delivery = WebhookDelivery(
        id=new_id("whe"),
        webhook_id=new_id("whk"),
        event_id=new_id("evt"),
        event_type="deploy_ended",
        sent_at=T0,
        status_code=status_code,
        attempts=3,
        delivered=delivered,
        error=error,
    )
    listed = wire.webhook_event_list_json(page([delivery]), wire.START)
    validate_response("GET", "/webhooks/{webhookId}/events", 200, listed)
    body = listed[0]["webhookEvent"]
    assert ("statusCode" in body) == (status_code is not None)
    assert ("error" in body) == bool(error)


# -- notification settings ----------------------------------------------------------------


@pytest.mark.parametrize(
    "to_send", [NotificationsToSend.ALL, NotificationsToSend.FAILURE, NotificationsToSend.NONE]
)
def test_owner_notification_settings(to_send: NotificationsToSend) -> None:
    body = wire.notification_settings_json(NotificationSettings(OWNER, to_send), email_enabled=True)
    validate_response("GET", "/notification-settings/owners/{ownerId}", 200, body)
    validate_response("PATCH", "/notification-settings/owners/{ownerId}", 200, body)
    assert body["notificationsToSend"] == to_send.value
    with pytest.raises(ValueError, match="default"):
        wire.notification_settings_json(NotificationSettings(OWNER, NotificationsToSend.DEFAULT))


@pytest.mark.parametrize("to_send", list(NotificationsToSend))
def test_service_notification_overrides(to_send: NotificationsToSend) -> None:
    override = NotificationOverride(new_id("srv"), to_send)
    body = wire.notification_override_json(override)
    path = "/notification-settings/overrides/services/{serviceId}"
    validate_response("GET", path, 200, body)
    validate_response("PATCH", path, 200, body)
    listed = wire.notification_override_list_json(page([override]), wire.START)
    validate_response("GET", "/notification-settings/overrides", 200, listed)


# -- documented bodiless responses --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("DELETE", "/services/{serviceId}", 204),
        ("POST", "/services/{serviceId}/suspend", 202),
        ("POST", "/services/{serviceId}/resume", 202),
        ("POST", "/services/{serviceId}/restart", 200),
        ("POST", "/services/{serviceId}/scale", 202),
        ("DELETE", "/registrycredentials/{registryCredentialId}", 204),
        ("DELETE", "/cron-jobs/{cronJobId}/runs", 204),
        ("DELETE", "/webhooks/{webhookId}", 204),
        ("DELETE", "/services/{serviceId}/env-vars/{envVarKey}", 204),
    ],
)
def test_bodiless_responses(method: str, path: str, status: int) -> None:
    assert response_schema(method, path, status) is None
    validate_response(method, path, status, None)


# -- timestamps ---------------------------------------------------------------------------


def test_rfc3339() -> None:
    assert wire.rfc3339(T0) == "2024-05-01T12:00:00Z"
    assert wire.rfc3339(T0.replace(microsecond=123456)) == "2024-05-01T12:00:00.123456Z"
    two_hours_east = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert wire.rfc3339(two_hours_east) == "2024-05-01T12:00:00Z"
    assert wire.rfc3339(datetime(2024, 5, 1, 12, 0)) == "2024-05-01T12:00:00Z"


# -- cursors ------------------------------------------------------------------------------


class ListStore:
    """A store list with opaque cursors (the index of the next item, disguised)."""

    def __init__(self, items: list[int]) -> None:
        self.items = items
        self.calls: list[tuple[int, str | None]] = []

    def list(self, limit: int, cursor: str | None) -> Page[int]:
        self.calls.append((limit, cursor))
        start = int(cursor.removeprefix("k")) if cursor else 0
        chunk = self.items[start : start + limit]
        end = start + len(chunk)
        return Page(chunk, f"k{end}" if end < len(self.items) else None)


def walk(store: ListStore, limit: int, choose: Callable[[list[str]], str]) -> list[int]:
    """Page like a Render client: pass a cursor from the last answer until a page is empty."""
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(100):
        got, position = wire.read_page(store.list, cursor, limit)
        if not got.items:
            return seen
        seen.extend(got.items)
        cursor = choose(wire.item_cursors(got, position))
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("total", [0, 1, 5, 6, 7, 23])
def test_paging_with_the_last_cursor_sees_every_item_once_and_ends(total: int) -> None:
    store = ListStore(list(range(total)))
    assert walk(store, 3, lambda cursors: cursors[-1]) == list(range(total))


def test_paging_from_any_item_cursor_continues_after_that_item() -> None:
    store = ListStore(list(range(10)))
    got, position = wire.read_page(store.list, None, 4)
    cursors = wire.item_cursors(got, position)
    after_second, _ = wire.read_page(store.list, cursors[1], 4)
    assert after_second.items == [2, 3, 4, 5]
    # stepping one item at a time (always the first item's cursor) visits every item in order
    firsts: list[int] = []
    cursor: str | None = None
    while True:
        got, position = wire.read_page(store.list, cursor, 4)
        if not got.items:
            break
        firsts.append(got.items[0])
        cursor = wire.item_cursors(got, position)[0]
    assert firsts == list(range(10))


def test_last_cursor_of_a_full_page_is_the_store_cursor() -> None:
    store = ListStore(list(range(10)))
    got, position = wire.read_page(store.list, None, 5)
    assert wire.decode_cursor(wire.item_cursors(got, position)[-1]) == wire.ListPosition("k5", 0)
    store.calls.clear()
    wire.read_page(store.list, wire.item_cursors(got, position)[-1], 5)
    assert store.calls == [(5, "k5")]


class CappedStore(ListStore):
    """A store that never returns more than 3 items, whatever the limit."""

    def list(self, limit: int, cursor: str | None) -> Page[int]:
        return super().list(min(limit, 3), cursor)


@pytest.mark.parametrize("step", [0, 1, 2])
def test_a_store_with_a_capped_page_size_never_ends_a_listing_early(step: int) -> None:
    store = CappedStore(list(range(11)))
    firsts: list[int] = []
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(50):
        got, position = wire.read_page(store.list, cursor, 5)
        if not got.items:
            break
        firsts.append(got.items[0])
        seen.extend(got.items)
        cursors = wire.item_cursors(got, position)
        cursor = cursors[min(step, len(cursors) - 1)]
    if step == 2:  # the last cursor of every (3-item) page: every item exactly once
        assert seen == list(range(11))
    assert firsts == sorted(set(firsts)) and set(seen) == set(range(11))


@pytest.mark.parametrize("cursor", [None, ""])
def test_no_cursor_is_the_start(cursor: str | None) -> None:
    assert wire.decode_cursor(cursor) == wire.START


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "c1.", "c1.!!!", "c1." + "e30", wire.encode_cursor(wire.ListPosition(None, -1))],
)
def test_foreign_cursors_are_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        wire.decode_cursor(cursor)


def _crafted(payload: str) -> str:
    return "c1." + base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _crafted("[" * 100_000),  # nested past the decoder's recursion limit
        _crafted("[" * 1_500),  # nested, within the length cap
        _crafted('["x",' + "9" * 5_000 + "]"),  # an integer too long to convert
        _crafted(json.dumps(["x" * 3_000, 0])),  # well-formed but longer than any we issue
        "c1." + "A" * wire.MAX_CURSOR_CHARS,
    ],
    ids=["deeply-nested", "nested", "huge-int", "too-long", "over-the-cap"],
)
def test_crafted_cursors_are_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        wire.decode_cursor(cursor)


def test_the_longest_cursor_a_store_issues_fits_the_cap() -> None:
    longest_store_cursor = "x" * 1024  # the stores' own cap (sqlite_store, dynamodb_store)
    cursor = wire.encode_cursor(wire.ListPosition(longest_store_cursor, wire.MAX_SKIP))
    assert len(cursor) <= wire.MAX_CURSOR_CHARS
    assert wire.decode_cursor(cursor).base == longest_store_cursor


def test_cursor_round_trip() -> None:
    position = wire.ListPosition("opaque/store+cursor==", 7)
    cursor = wire.encode_cursor(position)
    assert wire.decode_cursor(cursor) == position
    assert cursor.replace("-", "").replace("_", "").replace(".", "").isalnum()


# -- error bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status", "error_id"),
    [
        (InvalidInput("name is empty"), 400, "invalid_input"),
        (InvalidReference("'Nginx' is not valid"), 400, "invalid_reference"),
        (Unauthenticated("no API key"), 401, "unauthorized"),
        (NotFound("no service srv-x"), 404, "not_found"),
        (Conflict("credential in use by srv-x"), 409, "conflict"),
        (ConcurrentUpdate("service srv-x changed"), 409, "concurrent_update"),
        (
            RateLimited("10 deploys a minute", limit=10, remaining=0, reset_seconds=42),
            429,
            "rate_limited",
        ),
        (ImagePullError(PullFailureReason.NOT_FOUND, "no such tag"), 400, "image_pull_failed"),
        (ImagePullError(PullFailureReason.WRONG_PLATFORM, "arm64 only"), 400, "image_pull_failed"),
        (ImagePullError(PullFailureReason.REGISTRY_UNAVAILABLE, "503"), 503, "image_pull_failed"),
        (
            ImagePullError(PullFailureReason.RATE_LIMITED, "toomanyrequests"),
            503,
            "image_pull_failed",
        ),
        (RuntimeError("secret-token-abc in a traceback"), 500, "internal_error"),
    ],
)
def test_error_responses(exc: Exception, status: int, error_id: str) -> None:
    mapped = errors.error_response(exc)
    assert (mapped.status, mapped.id) == (status, error_id)
    assert set(mapped.body) == {"id", "message"}
    assert "secret-token-abc" not in mapped.message
    # Render documents an error body for these statuses on PATCH /services/{serviceId}
    if status in (400, 401, 404, 409, 429, 500, 503):
        validate_response("PATCH", "/services/{serviceId}", status, mapped.body)


def test_rate_limit_headers() -> None:
    mapped = errors.error_response(
        RateLimited("slow down", limit=10, remaining=0, reset_seconds=42)
    )
    assert mapped.headers == {
        "Ratelimit-Limit": "10",
        "Ratelimit-Remaining": "0",
        "Ratelimit-Reset": "42",
        "Retry-After": "42",
    }


def test_to_response_builds_a_powertools_response() -> None:
    response = errors.to_response(NotFound("no service srv-x"))
    assert response.status_code == 404
    assert json.loads(str(response.body)) == {"id": "not_found", "message": "no service srv-x"}
    assert response.headers["Content-Type"] == "application/json"


# -- the harness must not pass vacuously --------------------------------------------------


def _fails(method: str, path: str, status: int, body: Any, *fragments: str) -> None:
    with pytest.raises(AssertionError) as caught:
        validate_response(method, path, status, body)
    for fragment in fragments:
        assert fragment in str(caught.value)


def good_deploy() -> dict[str, Any]:
    return wire.deploy_json(make_deploy())


def good_service() -> dict[str, Any]:
    return wire.service_json(
        make_service(ServiceType.WEB_SERVICE), base_url=BASE, credential=CREDENTIAL
    )


def test_harness_rejects_a_missing_required_field() -> None:
    body = good_service()
    del body["dashboardUrl"]
    _fails("GET", "/services/{serviceId}", 200, body, "$", "'dashboardUrl' is a required property")


def test_harness_rejects_a_wrong_enum_value() -> None:
    body = good_deploy()
    body["status"] = "succeeded"
    _fails("GET", "/services/{serviceId}/deploys/{deployId}", 200, body, "$.status", "enum")


def test_harness_rejects_a_wrong_type() -> None:
    body = good_service()
    body["serviceDetails"]["numInstances"] = "2"
    _fails("GET", "/services/{serviceId}", 200, body, "$.serviceDetails.numInstances", "type")


def test_harness_checks_service_details_against_the_services_type() -> None:
    body = good_service()
    del body["serviceDetails"]["healthCheckPath"]  # still a fine private service's details
    _fails("GET", "/services/{serviceId}", 200, body, "healthCheckPath")


def test_harness_checks_event_details_against_the_events_type() -> None:
    body = wire.event_json(make_event(EventType.DEPLOY_ENDED, {"deployId": DEPLOY_ID}))
    body["details"] = {"deployId": DEPLOY_ID}  # valid "Server Available"-style details
    _fails("GET", "/events/{eventId}", 200, body, "$.details", "deployStatus")
    listed = [{"event": body, "cursor": "c"}]
    _fails("GET", "/services/{serviceId}/events", 200, listed, "$[0].event.details", "deployStatus")


@pytest.mark.parametrize(
    "event_type",
    [
        EventType.DEPLOY_STARTED,
        EventType.DEPLOY_ENDED,
        EventType.PRE_DEPLOY_STARTED,
        EventType.PRE_DEPLOY_ENDED,
        EventType.IMAGE_PULL_FAILED,
        EventType.SERVER_RESTARTED,
        EventType.CRON_JOB_RUN_STARTED,
        EventType.CRON_JOB_RUN_ENDED,
        EventType.INSTANCE_COUNT_CHANGED,
    ],
)
def test_harness_pins_each_event_type_to_its_details_branch(event_type: EventType) -> None:
    body = {**wire.event_json(make_event(event_type, {})), "details": {}}
    _fails("GET", "/events/{eventId}", 200, body, "$.details", "required")


def test_harness_checks_patterns_formats_and_wrappers() -> None:
    event = wire.event_json(make_event(EventType.SERVICE_RESUMED, {}))
    _fails("GET", "/events/{eventId}", 200, {**event, "id": "evt-SHORT"}, "$.id", "pattern")
    _fails("GET", "/events/{eventId}", 200, {**event, "timestamp": "2024-05-01 12:00"}, "date-time")
    _fails("GET", "/services/{serviceId}/events", 200, [event], "$[0]", "'event' is a required")
    _fails(
        "GET",
        "/registrycredentials",
        200,
        [{"registryCredential": wire.credential_json(CREDENTIAL)}],
        "$[0]",
    )


def test_harness_checks_nullable_only_where_render_allows_null() -> None:
    restarted = wire.event_json(make_event(EventType.SERVER_RESTARTED, {}))
    validate_response("GET", "/events/{eventId}", 200, restarted)  # triggeredByUser: null
    body = good_deploy()
    body["startedAt"] = None
    _fails("GET", "/services/{serviceId}/deploys/{deployId}", 200, body, "$.startedAt")


def test_harness_checks_statuses_and_bodies() -> None:
    _fails("GET", "/services/{serviceId}", 201, good_service(), "documents no 201")
    _fails("POST", "/services/{serviceId}/deploys", 202, good_deploy(), "documents no body")
    _fails(
        "GET",
        "/services/{serviceId}/deploys/{deployId}",
        200,
        {**good_deploy(), "x": T0},
        "not plain JSON",
    )
    with pytest.raises(AssertionError, match="no path"):
        operation("GET", "/v1/nope")
    with pytest.raises(AssertionError, match="only"):
        operation("PUT", "/v1/services")
    assert operation("GET", "/v1/services")["operationId"] == "list-services"
