"""The request bodies the API accepts: pydantic models of Render's request schemas.

Field names are Render's (camelCase aliases; snake_case attributes). Validation here is about
the *shape* of a request; rules that need state (does the credential exist, is the image
reference valid, is the schedule a valid cron) belong to ``domain`` and the use cases.

Unknown and undocumented fields are ignored, as Render ignores them. Of the fields Render
documents:

* accepted and **ignored** (they change nothing for an image-backed service): ``autoDeploy``
  (images never redeploy by themselves), ``buildFilter``, ``rootDir``, ``environmentId``,
  ``clearCache``, ``deployMode``, ``emailEnabled`` and ``previewNotificationsEnabled`` of
  notification settings; a field documented for one service type only (``healthCheckPath`` on a
  worker, ``numInstances`` on a cron job, ...) is ignored on the others, as Render does;
* **refused** with a 400 naming the field, because honouring them would change behaviour we do
  not implement: ``repo``, ``branch``, ``commitId``, ``secretFiles``, ``runtime``/``env`` other
  than ``"image"``, ``type: static_site``, ``dockerContext``/``dockerfilePath``,
  ``buildCommand``/``startCommand``, ``disk``, ``autoscaling`` (unless disabled),
  ``maintenanceMode`` (unless disabled), ``ipAllowList`` (unless it allows everything),
  previews (unless off), ``renderSubdomainPolicy: disabled``, an edge ``cache`` profile other
  than ``no-cache``, and the plans Render has that imagedeploy does not (``free``,
  ``starter_plus``, ``standard_plus``, ``custom``).

Constraints (``numInstances`` 1-100, ``maxShutdownDelaySeconds`` 1-300, non-empty names, ...)
are ``Field`` constraints, so request validation reports them before a handler runs. Numbers
and booleans are strict (``"3"`` is not 3, ``1`` is not ``true``), as Render's Go decoder is.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from imagedeploy.domain.accounts import NotificationsToSend
from imagedeploy.domain.registries import RegistryKind
from imagedeploy.domain.services import EnvVar, Plan, Region, ServiceType

__all__ = [
    "RENDER_EVENT_TYPES",
    "UNSUPPORTED",
    "DockerDetailsInput",
    "EnvVarInput",
    "EnvVarInputArray",
    "EnvVarValueInput",
    "ImageInput",
    "ImageVerifyPOST",
    "OwnerNotificationSettingsPATCH",
    "RegistryCredentialPATCH",
    "RegistryCredentialPOST",
    "RollbackPOST",
    "ScalePOST",
    "ServiceDetailsPATCH",
    "ServiceDetailsPOST",
    "ServiceNotificationOverridePATCH",
    "ServicePATCH",
    "ServicePOST",
    "TriggerDeployPOST",
    "WebhookPATCH",
    "WebhookPOST",
    "generate_env_value",
]

UNSUPPORTED: Final = "unsupported"  # the pydantic error type of a refused field

StrictBool = Annotated[bool, Field(strict=True)]
NonEmpty = Annotated[str, Field(min_length=1)]
NumInstances = Annotated[int, Field(strict=True, ge=1, le=100)]
ShutdownDelay = Annotated[int, Field(strict=True, ge=1, le=300)]

# Every event type Render's webhooks can filter on (``webhookEvent.eventType``).
RENDER_EVENT_TYPES: Final = frozenset(
    {
        *("autoscaling_config_changed", "autoscaling_ended", "autoscaling_started"),
        *("branch_deleted", "build_ended", "build_started", "commit_ignored"),
        *("cron_job_run_ended", "cron_job_run_started", "deploy_ended", "deploy_started"),
        *("disk_created", "disk_updated", "disk_deleted", "image_pull_failed"),
        *("instance_count_changed", "job_run_ended", "maintenance_mode_enabled"),
        *("maintenance_mode_uri_updated", "maintenance_ended", "maintenance_started"),
        *("pipeline_minutes_exhausted", "plan_changed", "pre_deploy_ended", "pre_deploy_started"),
        *("server_available", "server_failed", "server_hardware_failure", "server_restarted"),
        *("service_resumed", "service_suspended", "zero_downtime_redeploy_ended"),
        *("zero_downtime_redeploy_started", "edge_cache_enabled", "edge_cache_disabled"),
        *("edge_cache_purged", "postgres_available", "postgres_backup_completed"),
        *("postgres_backup_failed", "postgres_backup_started", "postgres_cluster_leader_changed"),
        *("postgres_created", "postgres_disk_size_changed"),
        *("postgres_disk_autoscaling_enabled_changed", "postgres_ha_status_changed"),
        *("postgres_restarted", "postgres_unavailable", "postgres_upgrade_failed"),
        *("postgres_upgrade_started", "postgres_upgrade_succeeded", "postgres_restore_failed"),
        *("postgres_restore_succeeded", "postgres_read_replicas_changed"),
        *("postgres_pitr_checkpoint_started", "postgres_pitr_checkpoint_failed"),
        *("postgres_pitr_checkpoint_completed", "postgres_read_replica_stale"),
        *("postgres_wal_archive_failed", "key_value_available", "key_value_config_restart"),
        "key_value_unhealthy",
    }
)
_RENDER_ONLY_PLANS: Final = frozenset({"free", "starter_plus", "standard_plus", "custom"})
_PLANS_TEXT: Final = ", ".join(plan.value for plan in Plan)
_NO_REPO: Final = (
    "image-backed services deploy a prebuilt image (image.imagePath); "
    "Git repositories are not supported"
)
_NO_BUILD: Final = (
    "is a build setting; image-backed services run a prebuilt image and build nothing"
)


class _Body(BaseModel):
    """Render's JSON conventions: camelCase names, unknown fields ignored, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


# -- refusals -----------------------------------------------------------------------------


def _absent(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _refused(why: str, allowed: Callable[[Any], bool] = _absent) -> AfterValidator:
    """A field accepted only with a value that changes nothing; anything else is refused."""

    def check(value: Any) -> Any:
        if not allowed(value):
            raise PydanticCustomError(UNSUPPORTED, why)
        return value

    return AfterValidator(check)


def _disabled(value: Any) -> bool:
    return _absent(value) or (isinstance(value, dict) and value.get("enabled") is False)


def _allows_everything(value: Any) -> bool:
    if _absent(value):
        return True
    return isinstance(value, list) and all(
        isinstance(entry, dict) and entry.get("cidrBlock") in ("0.0.0.0/0", "::/0")
        for entry in value
    )


def _image_runtime(value: Any) -> Any:
    if value is not None and value != "image":
        raise PydanticCustomError(
            UNSUPPORTED,
            "runtime '{value}' builds from source; image-backed services use runtime 'image'",
            {"value": value},
        )
    return value


def _offered_plan(value: Any) -> Any:
    if isinstance(value, str) and value in _RENDER_ONLY_PLANS:
        raise PydanticCustomError(
            UNSUPPORTED,
            "plan '{value}' is not offered; choose one of {plans}",
            {"value": value, "plans": _PLANS_TEXT},
        )
    return value


Refused = Annotated[Any, Field(default=None, exclude=True, repr=False)]
ImageRuntime = Annotated[Literal["image"] | None, BeforeValidator(_image_runtime)]
OfferedPlan = Annotated[Plan, BeforeValidator(_offered_plan)]


# -- building blocks ----------------------------------------------------------------------


def generate_env_value() -> str:
    """A value for ``generateValue: true``: 256 random bits, base64, as Render generates."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class EnvVarInput(_Body):
    """Render ``envVarInput``: ``{key, value}`` or ``{key, generateValue: true}``."""

    key: NonEmpty
    value: str | None = None
    generate_value: StrictBool | None = None

    @model_validator(mode="after")
    def _value_or_generated(self) -> EnvVarInput:
        if self.value is None and self.generate_value is not True:
            raise PydanticCustomError(
                "missing",
                "env var '{key}' needs a value (or generateValue: true)",
                {"key": self.key},
            )
        return self

    def to_env_var(self, generate: Callable[[], str] = generate_env_value) -> EnvVar:
        """The variable to store; a generated value is made now (once, at write time)."""
        return EnvVar(self.key, self.value if self.value is not None else generate())


EnvVarInputArray = list[EnvVarInput]  # the body of PUT /services/{id}/env-vars


class EnvVarValueInput(_Body):
    """``PUT /services/{id}/env-vars/{key}``: ``{value}`` or ``{generateValue: true}``."""

    value: str | None = None
    generate_value: StrictBool | None = None

    @model_validator(mode="after")
    def _value_or_generated(self) -> EnvVarValueInput:
        if self.value is None and self.generate_value is not True:
            raise PydanticCustomError("missing", "value is required (or generateValue: true)")
        return self

    def to_env_var(self, key: str, generate: Callable[[], str] = generate_env_value) -> EnvVar:
        return EnvVar(key, self.value if self.value is not None else generate())


class ImageInput(_Body):
    """Render ``image``: where the service's image comes from."""

    owner_id: NonEmpty
    image_path: NonEmpty
    registry_credential_id: str | None = None


class DockerDetailsInput(_Body):
    """Render ``envSpecificDetails`` for image services (``dockerDetailsPOST``/``PATCH``).
    ``dockerCommand`` overrides the image's CMD ("" = the image's own)."""

    docker_command: str | None = None
    registry_credential_id: str | None = None
    docker_context: Annotated[Refused, _refused(f"dockerContext {_NO_BUILD}")]
    dockerfile_path: Annotated[Refused, _refused(f"dockerfilePath {_NO_BUILD}")]
    build_command: Annotated[Refused, _refused(f"buildCommand {_NO_BUILD}")]
    start_command: Annotated[
        Refused,
        _refused("startCommand belongs to native runtimes; set dockerCommand to override CMD"),
    ]


class _WebOnlyRefusals(_Body):
    """Render web service settings with behaviour imagedeploy does not have."""

    maintenance_mode: Annotated[Refused, _refused("maintenance mode is not supported", _disabled)]
    ip_allow_list: Annotated[
        Refused,
        _refused(
            "IP allow lists are not supported; services accept every address", _allows_everything
        ),
    ]
    render_subdomain_policy: Annotated[
        Refused,
        _refused(
            "a web service always has its URL; renderSubdomainPolicy 'disabled' is not supported",
            lambda v: _absent(v) or v == "enabled",
        ),
    ]
    cache: Annotated[
        Refused,
        _refused(
            "edge caching is not supported (profile 'no-cache' only)",
            lambda v: _absent(v) or (isinstance(v, dict) and v.get("profile") == "no-cache"),
        ),
    ]


class _DetailsRefusals(_WebOnlyRefusals):
    previews: Annotated[
        Refused,
        _refused(
            "preview environments are not supported",
            lambda v: _absent(v) or (isinstance(v, dict) and v.get("generation") in (None, "off")),
        ),
    ]
    pull_request_previews_enabled: Annotated[
        Refused,
        _refused("preview environments are not supported", lambda v: _absent(v) or v == "no"),
    ]
    autoscaling: Annotated[
        Refused,
        _refused("autoscaling is not supported; set numInstances (or use /scale)", _disabled),
    ]
    disk: Annotated[
        Refused, _refused("persistent disks are not supported; images run without a disk")
    ]


# -- services -----------------------------------------------------------------------------

# The serviceDetails fields Render documents for each type (servicePOST/servicePATCH); a field
# outside its type's set is ignored, as Render ignores it.
_COMMON: Final = frozenset({"runtime", "env", "env_specific_details", "plan", "region"})
_LONG_RUNNING: Final = _COMMON | {
    "num_instances",
    "pre_deploy_command",
    "max_shutdown_delay_seconds",
}
_APPLIES: Final[dict[ServiceType, frozenset[str]]] = {
    ServiceType.WEB_SERVICE: _LONG_RUNNING | {"health_check_path"},
    ServiceType.PRIVATE_SERVICE: _LONG_RUNNING,
    ServiceType.BACKGROUND_WORKER: _LONG_RUNNING,
    ServiceType.CRON_JOB: _COMMON | {"schedule"},
}


def _service_type(value: Any) -> Any:
    if value == "static_site":
        raise PydanticCustomError(
            UNSUPPORTED,
            "image-backed services cannot be static sites; choose web_service, private_service, "
            "background_worker or cron_job",
        )
    return value


class ServiceDetailsPOST(_DetailsRefusals):
    """Render ``serviceDetails`` of ``servicePOST`` for the four image-backed types (the union of
    their fields, with Render's defaults). ``ServicePOST`` resets the fields that do not apply
    to its type to these defaults."""

    runtime: ImageRuntime = None
    env: ImageRuntime = None  # deprecated twin of runtime
    plan: OfferedPlan = Plan.STARTER
    region: Region = Region.OREGON
    num_instances: NumInstances = 1
    env_specific_details: DockerDetailsInput = DockerDetailsInput()
    health_check_path: str = ""
    pre_deploy_command: str = ""
    max_shutdown_delay_seconds: ShutdownDelay = 30
    schedule: str = ""

    @model_validator(mode="after")
    def _runtime_given(self) -> ServiceDetailsPOST:
        if self.runtime is None and self.env is None:
            raise PydanticCustomError("missing", "runtime is required: use runtime 'image'")
        return self

    @property
    def docker_command(self) -> str:
        """The CMD override ("" = the image's own)."""
        return self.env_specific_details.docker_command or ""


class ServicePOST(_Body):
    """``POST /services`` (Render ``servicePOST``), image-backed services only."""

    type: Annotated[ServiceType, BeforeValidator(_service_type)]
    name: NonEmpty
    owner_id: NonEmpty
    image: ImageInput
    env_vars: list[EnvVarInput] = []
    service_details: ServiceDetailsPOST = ServiceDetailsPOST(runtime="image")
    repo: Annotated[Refused, _refused(_NO_REPO)]
    branch: Annotated[Refused, _refused(_NO_REPO)]
    secret_files: Annotated[Refused, _refused("secret files are not supported; use envVars")]

    @model_validator(mode="after")
    def _consistent(self) -> ServicePOST:
        if self.image.owner_id != self.owner_id:
            raise PydanticCustomError("invalid", "image.ownerId must be the service's ownerId")
        _credential_id(self.image, self.service_details.env_specific_details)
        details = self.service_details
        if self.type is ServiceType.CRON_JOB and not details.schedule.strip():
            raise PydanticCustomError(
                "missing", "serviceDetails.schedule is required for a cron_job"
            )
        defaults = ServiceDetailsPOST(runtime="image")
        resets = {
            name: getattr(defaults, name)
            for name in type(details).model_fields
            if name not in _APPLIES[self.type] and name in details.model_fields_set
        }
        if resets:
            # Render ignores fields another type documents; so do we (they keep defaults)
            object.__setattr__(self, "service_details", details.model_copy(update=resets))
        return self

    @property
    def credential_id(self) -> str | None:
        """The registry credential: ``image.registryCredentialId`` or, equivalently,
        ``serviceDetails.envSpecificDetails.registryCredentialId``."""
        return _credential_id(self.image, self.service_details.env_specific_details)


def _credential_id(image: ImageInput | None, docker: DockerDetailsInput | None) -> str | None:
    from_image = image.registry_credential_id if image is not None else None
    from_details = docker.registry_credential_id if docker is not None else None
    if from_image and from_details and from_image != from_details:
        raise PydanticCustomError(
            "invalid",
            "image.registryCredentialId and envSpecificDetails.registryCredentialId differ; "
            "give one",
        )
    return from_image or from_details or None


class ServiceDetailsPATCH(_DetailsRefusals):
    """Render ``serviceDetails`` of ``servicePATCH`` (the union over the four types; None =
    unchanged). Use ``ServicePATCH.details_for(type)`` to drop what another type documents."""

    runtime: ImageRuntime = None
    env: ImageRuntime = None
    plan: OfferedPlan | None = None
    env_specific_details: DockerDetailsInput | None = None
    health_check_path: str | None = None
    pre_deploy_command: str | None = None
    max_shutdown_delay_seconds: ShutdownDelay | None = None
    schedule: str | None = None


class ServicePATCH(_Body):
    """``PATCH /services/{id}`` (Render ``servicePATCH``). ``region`` and ``numInstances`` are
    not part of it (a region cannot change; scaling is ``POST /scale``) and are ignored.

    ``image`` replaces the whole image source: without ``registryCredentialId`` the image is
    pulled anonymously (``"registryCredentialId" in image.model_fields_set`` tells the two
    apart for a use case that wants to keep the current credential instead).
    """

    name: NonEmpty | None = None
    image: ImageInput | None = None
    service_details: ServiceDetailsPATCH | None = None
    repo: Annotated[Refused, _refused(_NO_REPO)]
    branch: Annotated[Refused, _refused(_NO_REPO)]

    @model_validator(mode="after")
    def _consistent(self) -> ServicePATCH:
        details = self.service_details
        _credential_id(self.image, details.env_specific_details if details else None)
        return self

    def details_for(self, service_type: ServiceType) -> ServiceDetailsPATCH | None:
        """The details that apply to a service of ``service_type`` (others ignored)."""
        if self.service_details is None:
            return None
        keep = self.service_details.model_fields_set & _APPLIES[service_type]
        return ServiceDetailsPATCH.model_validate(
            self.service_details.model_dump(include=set(keep), exclude_unset=True)
        )

    @property
    def credential_id(self) -> str | None:
        details = self.service_details
        return _credential_id(self.image, details.env_specific_details if details else None)


# -- deploys and instances ----------------------------------------------------------------


class TriggerDeployPOST(_Body):
    """``POST /services/{id}/deploys``. ``imageUrl`` deploys another tag or digest of the
    service's image this once; without it the service's reference is resolved again.
    ``clearCache`` and ``deployMode`` are accepted and ignored (nothing is built)."""

    image_url: NonEmpty | None = None
    clear_cache: Literal["clear", "do_not_clear"] | None = None
    deploy_mode: Literal["deploy_only", "build_and_deploy"] | None = None
    commit_id: Annotated[
        Refused,
        _refused("image-backed services deploy images, not commits; pass imageUrl instead"),
    ]

    @model_validator(mode="after")
    def _render_combinations(self) -> TriggerDeployPOST:
        if self.deploy_mode is not None and (
            self.image_url is not None or self.clear_cache is not None
        ):
            raise PydanticCustomError(
                "invalid", "deployMode cannot be combined with imageUrl or clearCache"
            )
        return self


class RollbackPOST(_Body):
    """``POST /services/{id}/rollback``."""

    deploy_id: NonEmpty


class ScalePOST(_Body):
    """``POST /services/{id}/scale``."""

    num_instances: NumInstances


# -- registry credentials and images ------------------------------------------------------


class RegistryCredentialPOST(_Body):
    """``POST /registrycredentials``. ``authToken`` is write-only: a ``SecretStr``."""

    registry: RegistryKind
    name: NonEmpty
    username: NonEmpty
    auth_token: Annotated[SecretStr, Field(min_length=1)]
    owner_id: NonEmpty


class RegistryCredentialPATCH(_Body):
    """``PATCH /registrycredentials/{id}``: Render requires every field (a full replacement,
    e.g. an ECR token rotation)."""

    registry: RegistryKind
    name: NonEmpty
    username: NonEmpty
    auth_token: Annotated[SecretStr, Field(min_length=1)]


class ImageVerifyPOST(_Body):
    """``POST /images/verify`` (imagedeploy's "Connect" preflight; not in Render's API)."""

    image_url: NonEmpty
    registry_credential_id: str | None = None
    owner_id: str | None = None


# -- webhooks and notifications -----------------------------------------------------------


def _known_event_types(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - RENDER_EVENT_TYPES)
    if unknown:
        raise PydanticCustomError(
            "enum", "unknown event types: {unknown}", {"unknown": ", ".join(unknown)}
        )
    return values


EventFilter = Annotated[list[str], AfterValidator(_known_event_types)]
WebhookUrl = Annotated[str, Field(pattern=r"^https?://[^\s/?#]+\S*$", max_length=2048)]


class WebhookPOST(_Body):
    """``POST /webhooks``. An empty ``eventFilter`` means every event type."""

    owner_id: NonEmpty
    name: NonEmpty
    url: WebhookUrl
    enabled: StrictBool
    event_filter: EventFilter


class ApiKeyPOST(_Body):
    """``POST /api-keys`` (ours): a key of the caller's workspace."""

    name: NonEmpty


class WebhookPATCH(_Body):
    """``PATCH /webhooks/{id}``; None = unchanged."""

    name: NonEmpty | None = None
    url: WebhookUrl | None = None
    enabled: StrictBool | None = None
    event_filter: EventFilter | None = None


def _not_default(value: NotificationsToSend | None) -> NotificationsToSend | None:
    if value is NotificationsToSend.DEFAULT:
        raise PydanticCustomError("enum", "notificationsToSend must be none, failure or all")
    return value


class OwnerNotificationSettingsPATCH(_Body):
    """``PATCH /notification-settings/owners/{ownerId}``; ``emailEnabled`` and
    ``previewNotificationsEnabled`` are accepted and ignored (email goes through the SNS
    topic's subscriptions; there are no previews)."""

    notifications_to_send: Annotated[NotificationsToSend | None, AfterValidator(_not_default)] = (
        None
    )
    email_enabled: StrictBool | None = None
    preview_notifications_enabled: StrictBool | None = None


class ServiceNotificationOverridePATCH(_Body):
    """``PATCH /notification-settings/overrides/services/{serviceId}``;
    ``previewNotificationsEnabled`` is accepted and ignored."""

    notifications_to_send: NotificationsToSend | None = None
    preview_notifications_enabled: Literal["default", "false", "true"] | None = None


class JobPOST(_Body):
    """Render's ``POST /services/{id}/jobs`` body: the command, and optionally a plan."""

    start_command: NonEmpty
    plan_id: str | None = None
