"""The request bodies we accept and refuse (``api.schemas``), checked against Render's own
request schemas: what we accept is a body Render documents, and what we refuse is either not a
Render body at all or a feature image-backed services do not have (refused with a reason)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from devkit.render_openapi import document, validate_request, validate_response
from imagedeploy.api import errors, schemas
from imagedeploy.api.schemas import (
    EnvVarInput,
    EnvVarInputArray,
    EnvVarValueInput,
    ImageVerifyPOST,
    OwnerNotificationSettingsPATCH,
    RegistryCredentialPATCH,
    RegistryCredentialPOST,
    RollbackPOST,
    ScalePOST,
    ServiceNotificationOverridePATCH,
    ServicePATCH,
    ServicePOST,
    TriggerDeployPOST,
    WebhookPATCH,
    WebhookPOST,
)
from imagedeploy.domain.accounts import NotificationsToSend
from imagedeploy.domain.registries import RegistryKind
from imagedeploy.domain.services import Plan, Region, ServiceType

pytestmark = pytest.mark.unit

OWNER = "tea-cph1rs3idesc73a2b2mg"
CREDENTIAL = "rgc-cph1rs3idesc73a2b2mg"


def refusal(model: type[BaseModel], body: Any) -> list[dict[str, Any]]:
    """The errors ``model`` reports for ``body`` (which it must refuse)."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return [dict(error) for error in caught.value.errors()]


def message_of(model: type[BaseModel], body: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return errors.error_response(caught.value).message


def service(service_type: str = "web_service", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": service_type,
        "name": "api",
        "ownerId": OWNER,
        "image": {"ownerId": OWNER, "imagePath": "docker.io/library/nginx:1.27"},
        "serviceDetails": {"runtime": "image"},
    }
    body.update(fields)
    return body


def details(service_type: str = "web_service", **fields: Any) -> dict[str, Any]:
    return service(service_type, serviceDetails={"runtime": "image", **fields})


# -- POST /services: accepted -------------------------------------------------------------


def test_full_web_service() -> None:
    body = {
        "type": "web_service",
        "name": "api",
        "ownerId": OWNER,
        "autoDeploy": "yes",
        "image": {
            "ownerId": OWNER,
            "imagePath": "ghcr.io/acme/api:1.2.3",
            "registryCredentialId": CREDENTIAL,
        },
        "envVars": [
            {"key": "LOG_LEVEL", "value": "info"},
            {"key": "SESSION_SECRET", "generateValue": True},
        ],
        "serviceDetails": {
            "runtime": "image",
            "plan": "pro",
            "region": "frankfurt",
            "numInstances": 3,
            "healthCheckPath": "/healthz",
            "preDeployCommand": "./migrate --yes",
            "maxShutdownDelaySeconds": 120,
            "envSpecificDetails": {"dockerCommand": "./server --port 10000"},
            "pullRequestPreviewsEnabled": "no",
            "previews": {"generation": "off"},
            "autoscaling": {
                "enabled": False,
                "min": 1,
                "max": 3,
                "criteria": {
                    "cpu": {"enabled": False, "percentage": 70},
                    "memory": {"enabled": False, "percentage": 70},
                },
            },
            "ipAllowList": [{"cidrBlock": "0.0.0.0/0", "description": "everywhere"}],
            "renderSubdomainPolicy": "enabled",
        },
    }
    validate_request("POST", "/services", body)
    parsed = ServicePOST.model_validate(body)
    assert parsed.type is ServiceType.WEB_SERVICE
    assert parsed.credential_id == CREDENTIAL
    assert parsed.image.image_path == "ghcr.io/acme/api:1.2.3"
    d = parsed.service_details
    assert (d.plan, d.region, d.num_instances) == (Plan.PRO, Region.FRANKFURT, 3)
    assert (d.health_check_path, d.pre_deploy_command) == ("/healthz", "./migrate --yes")
    assert (d.max_shutdown_delay_seconds, d.docker_command) == (120, "./server --port 10000")
    plain, generated = (env.to_env_var() for env in parsed.env_vars)
    assert (plain.key, plain.value) == ("LOG_LEVEL", "info")
    assert generated.key == "SESSION_SECRET" and len(generated.value) == 44


@pytest.mark.parametrize("service_type", ["private_service", "background_worker"])
def test_private_service_and_worker(service_type: str) -> None:
    body = details(service_type, plan="standard", numInstances=2, preDeployCommand="./migrate")
    validate_request("POST", "/services", body)
    parsed = ServicePOST.model_validate(body)
    assert parsed.service_details.num_instances == 2
    assert parsed.service_details.pre_deploy_command == "./migrate"


def test_cron_job_with_the_deprecated_env_field() -> None:
    body = service(
        "cron_job",
        serviceDetails={
            "env": "image",
            "schedule": "0 3 * * MON-FRI",
            "plan": "starter",
            "envSpecificDetails": {"dockerCommand": "./report --daily"},
        },
    )
    parsed = ServicePOST.model_validate(body)
    assert parsed.service_details.schedule == "0 3 * * MON-FRI"
    assert parsed.service_details.docker_command == "./report --daily"


def test_defaults_are_renders() -> None:
    body = service()
    del body["serviceDetails"]
    validate_request("POST", "/services", body)
    d = ServicePOST.model_validate(body).service_details
    assert (d.plan, d.region, d.num_instances) == (Plan.STARTER, Region.OREGON, 1)
    assert (d.max_shutdown_delay_seconds, d.health_check_path, d.docker_command) == (30, "", "")


def test_unknown_and_ignored_fields_are_ignored() -> None:
    body = details(somethingNew={"x": 1}, cache={"profile": "no-cache"})
    body.update(
        {"rootDir": "app", "buildFilter": {"paths": [], "ignoredPaths": []}, "future": True}
    )
    parsed = ServicePOST.model_validate(body)
    assert "future" not in parsed.model_dump()


@pytest.mark.parametrize(
    ("service_type", "field", "value", "kept"),
    [
        ("background_worker", "healthCheckPath", "/healthz", ""),
        ("private_service", "healthCheckPath", "/healthz", ""),
        ("cron_job", "numInstances", 4, 1),
        ("cron_job", "preDeployCommand", "./migrate", ""),
        ("web_service", "schedule", "* * * * *", ""),
    ],
)
def test_fields_of_another_type_are_ignored_as_render_does(
    service_type: str, field: str, value: Any, kept: Any
) -> None:
    extra = {"schedule": "*/5 * * * *"} if service_type == "cron_job" else {}
    parsed = ServicePOST.model_validate(details(service_type, **{field: value}, **extra))
    attribute = {
        "healthCheckPath": "health_check_path",
        "numInstances": "num_instances",
        "preDeployCommand": "pre_deploy_command",
        "schedule": "schedule",
    }[field]
    assert getattr(parsed.service_details, attribute) == kept


def test_credential_in_env_specific_details_counts_too() -> None:
    body = details(envSpecificDetails={"registryCredentialId": CREDENTIAL})
    assert ServicePOST.model_validate(body).credential_id == CREDENTIAL
    body["image"]["registryCredentialId"] = CREDENTIAL
    assert ServicePOST.model_validate(body).credential_id == CREDENTIAL
    body["image"]["registryCredentialId"] = "rgc-other"
    assert "differ" in message_of(ServicePOST, body)


# -- POST /services: refused --------------------------------------------------------------

UNSUPPORTED_POSTS: list[tuple[str, dict[str, Any], str]] = [
    ("repo", service(repo="https://github.com/acme/api"), "Git repositories"),
    ("branch", service(branch="main"), "Git repositories"),
    ("secretFiles", service(secretFiles=[{"name": ".env", "content": "A=1"}]), "secret files"),
    ("type", service("static_site"), "static sites"),
    ("serviceDetails.runtime", details(runtime="docker"), "runtime 'docker'"),
    ("serviceDetails.runtime", details(runtime="node"), "runtime 'node'"),
    ("serviceDetails.plan", details(plan="free"), "plan 'free' is not offered"),
    ("serviceDetails.plan", details(plan="standard_plus"), "is not offered"),
    ("serviceDetails.disk", details(disk={"name": "data", "mountPath": "/data"}), "disks"),
    (
        "serviceDetails.autoscaling",
        details(
            autoscaling={
                "enabled": True,
                "min": 1,
                "max": 5,
                "criteria": {
                    "cpu": {"enabled": True, "percentage": 70},
                    "memory": {"enabled": False, "percentage": 70},
                },
            }
        ),
        "autoscaling",
    ),
    (
        "serviceDetails.maintenanceMode",
        details(maintenanceMode={"enabled": True, "uri": "https://status.example.com"}),
        "maintenance mode",
    ),
    (
        "serviceDetails.ipAllowList",
        details(ipAllowList=[{"cidrBlock": "10.0.0.0/8", "description": "office"}]),
        "IP allow lists",
    ),
    ("serviceDetails.previews", details(previews={"generation": "automatic"}), "preview"),
    (
        "serviceDetails.pullRequestPreviewsEnabled",
        details(pullRequestPreviewsEnabled="yes"),
        "preview",
    ),
    ("serviceDetails.renderSubdomainPolicy", details(renderSubdomainPolicy="disabled"), "URL"),
    (
        "serviceDetails.envSpecificDetails.dockerfilePath",
        details(envSpecificDetails={"dockerfilePath": "./Dockerfile"}),
        "build setting",
    ),
    (
        "serviceDetails.envSpecificDetails.dockerContext",
        details(envSpecificDetails={"dockerContext": "."}),
        "build setting",
    ),
    (
        "serviceDetails.envSpecificDetails.buildCommand",
        details(envSpecificDetails={"buildCommand": "npm ci", "startCommand": "npm start"}),
        "build setting",
    ),
]


@pytest.mark.parametrize(
    ("field", "body", "reason"), UNSUPPORTED_POSTS, ids=[c[0] for c in UNSUPPORTED_POSTS]
)
def test_features_image_services_lack_are_refused_with_a_reason(
    field: str, body: dict[str, Any], reason: str
) -> None:
    validate_request("POST", "/services", body)  # a body Render itself accepts ...
    problems = refusal(ServicePOST, body)  # ... that we refuse, saying why
    locations = {".".join(str(p) for p in problem["loc"]) for problem in problems}
    assert field in locations
    assert any(p["type"] == schemas.UNSUPPORTED for p in problems)
    message = message_of(ServicePOST, body)
    assert field in message and reason in message


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (details(numInstances=0), "serviceDetails.numInstances"),
        (details(numInstances=101), "serviceDetails.numInstances"),
        (details(numInstances="2"), "serviceDetails.numInstances"),
        (details(numInstances=True), "serviceDetails.numInstances"),
        (details(maxShutdownDelaySeconds=0), "serviceDetails.maxShutdownDelaySeconds"),
        (details(maxShutdownDelaySeconds=301), "serviceDetails.maxShutdownDelaySeconds"),
        (details(region="mars"), "serviceDetails.region"),
        (service(name=""), "name"),
        (service(type="database"), "type"),
        ({k: v for k, v in service().items() if k != "image"}, "image"),
        ({k: v for k, v in service().items() if k != "ownerId"}, "ownerId"),
        (service(image={"ownerId": OWNER}), "image.imagePath"),
        (service(envVars=[{"key": "A"}]), "envVars.0"),
        (service(envVars=[{"key": "", "value": "x"}]), "envVars.0.key"),
        (service(envVars=[{"key": "A", "generateValue": False}]), "envVars.0"),
    ],
)
def test_malformed_bodies_are_refused(body: dict[str, Any], where: str) -> None:
    problems = refusal(ServicePOST, body)
    assert where in {".".join(str(p) for p in problem["loc"]) for problem in problems}


def test_service_details_need_a_runtime_as_render_requires() -> None:
    body = service(serviceDetails={"plan": "starter"})
    assert "runtime is required" in message_of(ServicePOST, body)


def test_a_cron_job_needs_a_schedule() -> None:
    assert "schedule is required" in message_of(ServicePOST, details("cron_job"))
    assert "schedule is required" in message_of(ServicePOST, details("cron_job", schedule=" "))


def test_image_owner_must_be_the_services_owner() -> None:
    body = service(image={"ownerId": "tea-someoneelse", "imagePath": "nginx"})
    assert "image.ownerId" in message_of(ServicePOST, body)


# -- PATCH /services/{id} -----------------------------------------------------------------


def test_patch_accepts_partial_updates() -> None:
    body = {
        "name": "api-v2",
        "image": {"ownerId": OWNER, "imagePath": "ghcr.io/acme/api:1.3.0"},
        "serviceDetails": {
            "plan": "pro_plus",
            "healthCheckPath": "/ready",
            "preDeployCommand": "",
            "maxShutdownDelaySeconds": 300,
            "envSpecificDetails": {"dockerCommand": ""},
            "schedule": "0 * * * *",
        },
    }
    validate_request("PATCH", "/services/{serviceId}", body)
    parsed = ServicePATCH.model_validate(body)
    assert parsed.name == "api-v2"
    assert parsed.image is not None and parsed.image.image_path == "ghcr.io/acme/api:1.3.0"
    assert "registryCredentialId" not in parsed.image.model_fields_set
    web = parsed.details_for(ServiceType.WEB_SERVICE)
    assert web is not None
    assert (web.plan, web.health_check_path, web.schedule) == (Plan.PRO_PLUS, "/ready", None)
    worker = parsed.details_for(ServiceType.BACKGROUND_WORKER)
    assert worker is not None and worker.health_check_path is None
    assert worker.max_shutdown_delay_seconds == 300
    cron = parsed.details_for(ServiceType.CRON_JOB)
    assert cron is not None
    assert (cron.schedule, cron.pre_deploy_command, cron.plan) == ("0 * * * *", None, Plan.PRO_PLUS)


def test_patch_without_changes() -> None:
    parsed = ServicePATCH.model_validate({"numInstances": 5, "region": "ohio"})
    assert parsed.details_for(ServiceType.WEB_SERVICE) is None
    assert parsed.name is None and parsed.image is None


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"repo": "https://github.com/acme/api"}, "repo"),
        ({"serviceDetails": {"runtime": "python"}}, "serviceDetails.runtime"),
        ({"serviceDetails": {"plan": "free"}}, "serviceDetails.plan"),
        (
            {"serviceDetails": {"maxShutdownDelaySeconds": 301}},
            "serviceDetails.maxShutdownDelaySeconds",
        ),
        ({"serviceDetails": {"cache": {"profile": "origin-controlled"}}}, "serviceDetails.cache"),
        ({"name": ""}, "name"),
        ({"image": {"imagePath": "nginx"}}, "image.ownerId"),
    ],
)
def test_patch_refusals(body: dict[str, Any], where: str) -> None:
    problems = refusal(ServicePATCH, body)
    assert where in {".".join(str(p) for p in problem["loc"]) for problem in problems}


# -- deploys, rollback, scale -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"imageUrl": "docker.io/library/nginx:1.27"},
        {"imageUrl": "docker.io/library/nginx@sha256:" + "a" * 64, "clearCache": "clear"},
        {"clearCache": "do_not_clear"},
        {"deployMode": "deploy_only"},
    ],
)
def test_trigger_deploy_accepted(body: dict[str, Any]) -> None:
    validate_request("POST", "/services/{serviceId}/deploys", body)
    parsed = TriggerDeployPOST.model_validate(body)
    assert parsed.image_url == body.get("imageUrl")


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"commitId": "9fceb02"}, "not commits"),
        ({"clearCache": "yes"}, "clearCache"),
        ({"deployMode": "deploy_only", "imageUrl": "nginx:1"}, "cannot be combined"),
        ({"imageUrl": ""}, "imageUrl"),
    ],
)
def test_trigger_deploy_refused(body: dict[str, Any], text: str) -> None:
    assert text in message_of(TriggerDeployPOST, body)


def test_rollback() -> None:
    body = {"deployId": "dep-cph1rs3idesc73a2b2mg"}
    validate_request("POST", "/services/{serviceId}/rollback", body)
    assert RollbackPOST.model_validate(body).deploy_id == body["deployId"]
    assert "deployId" in message_of(RollbackPOST, {})
    assert "deployId" in message_of(RollbackPOST, {"deployId": ""})


@pytest.mark.parametrize("count", [1, 3, 100])
def test_scale_accepted(count: int) -> None:
    body = {"numInstances": count}  # Render's documented example is 3
    validate_request("POST", "/services/{serviceId}/scale", body)
    assert ScalePOST.model_validate(body).num_instances == count


@pytest.mark.parametrize("value", [0, -1, 101, "3", 3.5, True, None])
def test_scale_refused(value: Any) -> None:
    assert "numInstances" in message_of(ScalePOST, {"numInstances": value})


# -- env vars -----------------------------------------------------------------------------


def test_env_var_bodies() -> None:
    body = [{"key": "A", "value": "1"}, {"key": "B", "generateValue": True}]
    validate_request("PUT", "/services/{serviceId}/env-vars", body)
    from pydantic import TypeAdapter

    parsed = TypeAdapter(EnvVarInputArray).validate_python(body)
    assert [env.key for env in parsed] == ["A", "B"]
    single = {"value": "postgres://db"}
    validate_request("PUT", "/services/{serviceId}/env-vars/{envVarKey}", single)
    assert EnvVarValueInput.model_validate(single).to_env_var("DB").value == "postgres://db"
    generated = EnvVarValueInput.model_validate({"generateValue": True}).to_env_var(
        "K", lambda: "g"
    )
    assert generated.value == "g"
    assert "value is required" in message_of(EnvVarValueInput, {})
    assert "needs a value" in message_of(EnvVarInput, {"key": "A"})


def test_generated_values_differ() -> None:
    assert schemas.generate_env_value() != schemas.generate_env_value()


# -- registry credentials and image verification ------------------------------------------

CREDENTIAL_BODY = {
    "registry": "AWS_ECR",
    "name": "prod ecr",
    "username": "123456789012",
    "authToken": "eyJwYXlsb2FkIjoi-SECRET-TOKEN",
    "ownerId": OWNER,
}


def test_registry_credential_post() -> None:
    validate_request("POST", "/registrycredentials", CREDENTIAL_BODY)
    parsed = RegistryCredentialPOST.model_validate(CREDENTIAL_BODY)
    assert parsed.registry is RegistryKind.AWS_ECR
    assert parsed.auth_token.get_secret_value() == CREDENTIAL_BODY["authToken"]
    assert "SECRET-TOKEN" not in repr(parsed) and "SECRET-TOKEN" not in str(parsed)


def test_registry_credential_patch_requires_everything_as_render_does() -> None:
    body = {k: v for k, v in CREDENTIAL_BODY.items() if k != "ownerId"}
    validate_request("PATCH", "/registrycredentials/{registryCredentialId}", body)
    assert RegistryCredentialPATCH.model_validate(body).name == "prod ecr"
    for missing in body:
        partial = {k: v for k, v in body.items() if k != missing}
        assert missing in message_of(RegistryCredentialPATCH, partial)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"registry": "QUAY"}, "registry"),
        ({"authToken": ""}, "authToken"),
        ({"authToken": 12345}, "authToken"),
        ({"username": ""}, "username"),
    ],
)
def test_registry_credential_refusals_never_echo_the_token(
    change: dict[str, Any], where: str
) -> None:
    body = {**CREDENTIAL_BODY, **change}
    message = message_of(RegistryCredentialPOST, body)
    assert where in message
    assert "SECRET-TOKEN" not in message and "12345" not in message


def test_image_verify() -> None:
    body = {"imageUrl": "https://ghcr.io/acme/api:1.2.3", "registryCredentialId": CREDENTIAL}
    parsed = ImageVerifyPOST.model_validate(body)
    assert (parsed.image_url, parsed.registry_credential_id) == (body["imageUrl"], CREDENTIAL)
    assert "imageUrl" in message_of(ImageVerifyPOST, {"registryCredentialId": CREDENTIAL})


# -- webhooks and notifications -----------------------------------------------------------

WEBHOOK = {
    "ownerId": OWNER,
    "name": "deploys",
    "url": "https://hooks.example.com/render",
    "enabled": True,
    "eventFilter": ["deploy_ended", "image_pull_failed", "postgres_available"],
}


def test_webhook_bodies() -> None:
    validate_request("POST", "/webhooks", WEBHOOK)
    parsed = WebhookPOST.model_validate(WEBHOOK)
    assert parsed.event_filter == WEBHOOK["eventFilter"]
    patch = {"enabled": False, "eventFilter": []}
    validate_request("PATCH", "/webhooks/{webhookId}", patch)
    assert WebhookPATCH.model_validate(patch).enabled is False
    assert WebhookPATCH.model_validate({}).url is None


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"eventFilter": ["deploy_ended", "deploy_exploded"]}, "deploy_exploded"),
        ({"url": "ftp://hooks.example.com"}, "url"),
        ({"url": "https://"}, "url"),
        ({"enabled": "true"}, "enabled"),
        ({"name": ""}, "name"),
    ],
)
def test_webhook_refusals(change: dict[str, Any], text: str) -> None:
    assert text in message_of(WebhookPOST, {**WEBHOOK, **change})


def test_event_types_are_renders() -> None:
    webhook = document()["components"]["schemas"]["webhookEventWithCursor"]
    enum = webhook["properties"]["webhookEvent"]["properties"]["eventType"]["enum"]
    assert frozenset(enum) == schemas.RENDER_EVENT_TYPES


def test_notification_settings_bodies() -> None:
    owner = {"notificationsToSend": "failure", "emailEnabled": True}
    validate_request("PATCH", "/notification-settings/owners/{ownerId}", owner)
    parsed = OwnerNotificationSettingsPATCH.model_validate(owner)
    assert parsed.notifications_to_send is NotificationsToSend.FAILURE
    assert "notificationsToSend" in message_of(
        OwnerNotificationSettingsPATCH, {"notificationsToSend": "default"}
    )
    override = {"notificationsToSend": "default", "previewNotificationsEnabled": "false"}
    path = "/notification-settings/overrides/services/{serviceId}"
    validate_request("PATCH", path, override)
    parsed_override = ServiceNotificationOverridePATCH.model_validate(override)
    assert parsed_override.notifications_to_send is NotificationsToSend.DEFAULT
    assert "notificationsToSend" in message_of(
        ServiceNotificationOverridePATCH, {"notificationsToSend": "sometimes"}
    )


# -- through powertools: validation errors are Render's 400 -------------------------------


class _Context(LambdaContext):
    _function_name = "api"
    _memory_limit_in_mb = 128
    _invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    _aws_request_id = "req-1"


def _event(method: str, path: str, body: str | None) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


@pytest.fixture(scope="module")
def app() -> APIGatewayHttpResolver:
    resolver = APIGatewayHttpResolver(enable_validation=True)
    errors.install(resolver)

    @resolver.post("/v1/services")
    def create(body: Annotated[ServicePOST, Body()]) -> dict[str, Any]:
        return {"name": body.name}

    @resolver.put("/v1/services/<service_id>/env-vars")
    def put_env(service_id: str, body: Annotated[EnvVarInputArray, Body()]) -> dict[str, Any]:
        return {"count": len(body)}

    @resolver.post("/v1/registrycredentials")
    def create_credential(body: Annotated[RegistryCredentialPOST, Body()]) -> dict[str, Any]:
        return {"name": body.name}

    return resolver


def call(app: APIGatewayHttpResolver, method: str, path: str, body: Any) -> tuple[int, Any]:
    raw = body if isinstance(body, str) or body is None else json.dumps(body)
    response = app.resolve(_event(method, path, raw), _Context())
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (details(numInstances=0), "serviceDetails.numInstances"),
        (service(repo="https://github.com/acme/api"), "Git repositories"),
        ("{not json", "not valid JSON"),
        (None, "body is required"),
        ([1, 2], "valid dictionary"),
    ],
)
def test_invalid_bodies_become_renders_400(
    app: APIGatewayHttpResolver, body: Any, text: str
) -> None:
    status, answer = call(app, "POST", "/v1/services", body)
    assert status == 400
    assert answer["id"] == "invalid_input" and text in answer["message"]
    validate_response("POST", "/services", 400, answer)


def test_valid_bodies_reach_the_handler(app: APIGatewayHttpResolver) -> None:
    assert call(app, "POST", "/v1/services", service()) == (200, {"name": "api"})
    env = [{"key": "A", "value": "1"}, {"key": "B", "generateValue": True}]
    assert call(app, "PUT", "/v1/services/srv-x/env-vars", env) == (200, {"count": 2})


def test_a_refused_credential_never_echoes_its_token(app: APIGatewayHttpResolver) -> None:
    status, answer = call(
        app, "POST", "/v1/registrycredentials", {**CREDENTIAL_BODY, "registry": "QUAY"}
    )
    assert status == 400 and "registry" in answer["message"]
    assert "SECRET-TOKEN" not in json.dumps(answer)


def test_unknown_routes_are_renders_404(app: APIGatewayHttpResolver) -> None:
    status, answer = call(app, "GET", "/v1/nothing-here", None)
    assert status == 404 and answer["id"] == "not_found"
    validate_response("GET", "/services/{serviceId}", 404, answer)
