"""The rules a service's settings obey (docs/architecture.md §6.1), for create, PATCH and the
env-var endpoints.

``validate_create`` turns the settings of Render's ``servicePOST`` into a typed ``ServiceSpec``
with Render's defaults; ``validate_update`` applies a PATCH (``ServiceChanges``) to a ``Service``
under the same rules. Problems are collected, so one ``InvalidInput`` names every wrong setting,
each by its wire name (``numInstances``, ``healthCheckPath``...) with what to do about it.

The port of a web or private service is its ``PORT`` env var, as on Render: a user-set ``PORT``
(1-65535) is the port the service must listen on; without one it is 10000. The ``port`` setting
is a shorthand that writes that env var, so ``Service.port`` always equals the ``PORT`` env var
when there is one. For workers and cron jobs ``PORT`` is an ordinary variable and ``port`` stays
at the default, unused.

Pure: no I/O, no clock (``now`` is passed in).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import shlex
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Final

from imagedeploy.domain.digest import quote
from imagedeploy.domain.errors import InvalidInput, InvalidReference, NotFound
from imagedeploy.domain.ids import is_id
from imagedeploy.domain.reference import ImageReference, parse_reference
from imagedeploy.domain.schedules import EXAMPLE as SCHEDULE_EXAMPLE
from imagedeploy.domain.schedules import validate_schedule
from imagedeploy.domain.services import (
    DEFAULT_MAX_SHUTDOWN_DELAY_SECONDS,
    DEFAULT_PORT,
    PLAN_RESOURCES,
    EnvVar,
    Plan,
    Region,
    Service,
    ServiceType,
)

__all__ = [
    "DEFAULT_NUM_INSTANCES",
    "DEFAULT_PLAN",
    "DEFAULT_REGION",
    "PLATFORM_VARIABLES",
    "UNSET",
    "ServiceChanges",
    "ServiceSpec",
    "delete_env_var",
    "internal_address",
    "parse_image_path",
    "platform_env",
    "replace_env_vars",
    "runtime_env",
    "set_env_var",
    "slugify",
    "split_command",
    "unique_slug",
    "validate_create",
    "validate_update",
]

DEFAULT_PLAN = Plan.STARTER
DEFAULT_REGION = Region.OREGON
DEFAULT_NUM_INSTANCES = 1

NAME_MAX_LENGTH = 100
MIN_INSTANCES, MAX_INSTANCES = 1, 100
MIN_SHUTDOWN_DELAY, MAX_SHUTDOWN_DELAY = 1, 300
MIN_PORT, MAX_PORT = 1, 65535
COMMAND_MAX_LENGTH = 8192
HEALTH_CHECK_PATH_MAX_LENGTH = 1024  # an ALB health check path's limit
ENV_KEY_MAX_LENGTH = 255
# Everything has to fit in one ECS task definition (64 KiB), next to the rest of it.
ENV_VALUE_MAX_BYTES = 16 * 1024
ENV_TOTAL_MAX_BYTES = 32 * 1024
SLUG_MAX_LENGTH = 50  # leaves room for unique_slug's suffix within a 63-character DNS label

#: Variables the platform sets on every instance; users cannot set them (``PORT`` excepted).
PLATFORM_VARIABLES: frozenset[str] = frozenset(
    {
        "RENDER",
        "RENDER_SERVICE_ID",
        "RENDER_SERVICE_NAME",
        "RENDER_SERVICE_TYPE",
        "RENDER_INSTANCE_ID",
        "RENDER_CPU_COUNT",
        "RENDER_EXTERNAL_HOSTNAME",
        "RENDER_EXTERNAL_URL",
        "RENDER_DEPLOY_ID",
    }
)

# RENDER_SERVICE_TYPE takes Render's values, which scripts written for Render compare against.
_RENDER_SERVICE_TYPE = {
    ServiceType.WEB_SERVICE: "web",
    ServiceType.PRIVATE_SERVICE: "pserv",
    ServiceType.BACKGROUND_WORKER: "worker",
    ServiceType.CRON_JOB: "cron",
}

_PORT_NUMBER = re.compile(r"\A[1-9][0-9]{0,4}\Z", re.ASCII)
_ENV_KEY = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z", re.ASCII)
_SCHEME = re.compile(r"\Ahttps?://", re.IGNORECASE | re.ASCII)
# RFC 3986 path and query characters: unreserved, percent-encoded, sub-delims, ':', '@', '/', '?'.
_HEALTH_CHECK_PATH = re.compile(r"\A/[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*\Z", re.ASCII)

_ALL_TYPES = frozenset(ServiceType)
_LONG_RUNNING = frozenset(t for t in ServiceType if t.long_running)
_WITH_PORT = frozenset(t for t in ServiceType if t.has_port)
#: The settings that apply to some service types only (by ``Service`` attribute).
_APPLIES_TO: dict[str, frozenset[ServiceType]] = {
    "num_instances": _LONG_RUNNING,
    "pre_deploy_command": _LONG_RUNNING,
    "max_shutdown_delay_seconds": _LONG_RUNNING,
    "health_check_path": frozenset({ServiceType.WEB_SERVICE}),
    "schedule": frozenset({ServiceType.CRON_JOB}),
    "port": _WITH_PORT,
}
#: How messages name each setting: its name in Render's API.
_WIRE_NAMES = {
    "name": "name",
    "image_path": "imagePath",
    "credential_id": "registryCredentialId",
    "plan": "plan",
    "region": "region",
    "num_instances": "numInstances",
    "docker_command": "dockerCommand",
    "pre_deploy_command": "preDeployCommand",
    "health_check_path": "healthCheckPath",
    "max_shutdown_delay_seconds": "maxShutdownDelaySeconds",
    "schedule": "schedule",
    "port": "port",
}


class _Unset(Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: "Not given" in a ``ServiceChanges`` (None is a value there: it clears the credential).
UNSET: Final = _Unset.UNSET


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service's validated settings: what a ``Service`` holds minus ids, hook key, timestamps
    and deploy pointers."""

    type: ServiceType
    name: str
    slug: str
    image_path: str  # normalized, e.g. docker.io/library/nginx:1.27
    credential_id: str | None
    plan: Plan
    region: Region
    num_instances: int
    docker_command: str
    pre_deploy_command: str
    health_check_path: str
    port: int
    max_shutdown_delay_seconds: int
    schedule: str
    env_vars: tuple[EnvVar, ...]

    @property
    def image(self) -> ImageReference:
        return parse_reference(self.image_path)

    def to_service(
        self, *, id: str, owner_id: str, hook_key_hash: str, now: datetime, slug: str | None = None
    ) -> Service:
        """The new ``Service`` entity (version 0, not suspended, no deploys yet); ``slug``
        overrides the spec's, e.g. with ``unique_slug`` when the plain one is taken."""
        return Service(
            id=id,
            owner_id=owner_id,
            type=self.type,
            name=self.name,
            slug=slug or self.slug,
            image_path=self.image_path,
            credential_id=self.credential_id,
            plan=self.plan,
            region=self.region,
            num_instances=self.num_instances,
            docker_command=self.docker_command,
            pre_deploy_command=self.pre_deploy_command,
            health_check_path=self.health_check_path,
            port=self.port,
            max_shutdown_delay_seconds=self.max_shutdown_delay_seconds,
            schedule=self.schedule,
            env_vars=self.env_vars,
            suspended=False,
            hook_key_hash=hook_key_hash,
            created_at=now,
            updated_at=now,
        )


@dataclass(frozen=True, slots=True)
class ServiceChanges:
    """A PATCH: every field left ``UNSET`` keeps its current value.

    ``credential_id=None`` removes the credential; ``""`` in a command, ``health_check_path``
    clears it. ``type`` and ``region`` may be given only with their current value. ``env_vars``
    replaces all variables (the ``PUT /env-vars`` semantics).
    """

    type: ServiceType | str | _Unset = UNSET
    name: str | _Unset = UNSET
    image_path: str | _Unset = UNSET
    credential_id: str | _Unset | None = UNSET
    plan: Plan | str | _Unset = UNSET
    region: Region | str | _Unset = UNSET
    num_instances: int | _Unset = UNSET
    docker_command: str | _Unset = UNSET
    pre_deploy_command: str | _Unset = UNSET
    health_check_path: str | _Unset = UNSET
    max_shutdown_delay_seconds: int | _Unset = UNSET
    schedule: str | _Unset = UNSET
    port: int | _Unset = UNSET
    env_vars: Iterable[EnvVar] | _Unset = UNSET


# --- create and update ---


def validate_create(
    type: ServiceType | str,
    name: str,
    image_path: str,
    credential_id: str | None = None,
    env_vars: Iterable[EnvVar] = (),
    plan: Plan | str | None = None,
    region: Region | str | None = None,
    num_instances: int | None = None,
    docker_command: str | None = None,
    pre_deploy_command: str | None = None,
    health_check_path: str | None = None,
    max_shutdown_delay_seconds: int | None = None,
    schedule: str | None = None,
    port: int | None = None,
) -> ServiceSpec:
    """Validate a create (``servicePOST``) and fill in Render's defaults.

    ``None`` means "not given". Raises ``InvalidInput`` naming every problem.
    """
    kind = _service_type(type)
    if kind is None:
        raise InvalidInput(_service_type_problem(str(type)))
    optional = {
        "credential_id": credential_id,
        "plan": plan,
        "region": region,
        "num_instances": num_instances,
        "docker_command": docker_command,
        "pre_deploy_command": pre_deploy_command,
        "health_check_path": health_check_path,
        "max_shutdown_delay_seconds": max_shutdown_delay_seconds,
        "schedule": schedule,
        "port": port,
    }
    given: dict[str, Any] = {"name": name, "image_path": image_path}
    given.update({attr: value for attr, value in optional.items() if value is not None})
    problems: list[str] = []
    if kind is ServiceType.CRON_JOB and schedule is None:
        problems.append(
            f"schedule is required for a cron_job: give a 5-field cron expression in UTC, "
            f"e.g. {SCHEDULE_EXAMPLE!r}"
        )
    clean = _check_settings(kind, given, problems)
    settings = {**_defaults(), **clean, "type": kind}
    try:
        settings["env_vars"], settings["port"] = _check_env_and_port(
            kind, tuple(env_vars), clean.get("port")
        )
    except InvalidInput as error:
        problems.append(error.message)
    if problems:
        raise InvalidInput("; ".join(problems))
    return ServiceSpec(slug=slugify(settings["name"]), **settings)


def validate_update(
    service: Service, changes: ServiceChanges, *, now: datetime | None = None
) -> Service:
    """``service`` with ``changes`` applied under the create rules (PATCH semantics).

    The result keeps ``version`` (the store's conditional write checks and bumps it), ``slug``
    (a web service's URL does not move when it is renamed) and everything not given; with ``now``
    it also gets ``updated_at``. Raises ``InvalidInput`` naming every problem.
    """
    kind = service.type
    problems: list[str] = []
    if not isinstance(changes.type, _Unset) and _service_type(changes.type) is not kind:
        problems.append(
            f"type cannot change (this service is a {kind.value}): create a new service of "
            "the other type instead"
        )
    if not isinstance(changes.region, _Unset):
        try:
            if _check_region(changes.region) is not service.region:
                problems.append(
                    f"region cannot change (this service runs in {service.region.value}): "
                    "create a new service in the other region instead"
                )
        except InvalidInput as error:
            problems.append(error.message)
    given = {
        field.name: getattr(changes, field.name)
        for field in dataclasses.fields(changes)
        if field.name not in ("type", "region", "env_vars")
        and not isinstance(getattr(changes, field.name), _Unset)
    }
    updates: dict[str, Any] = _check_settings(kind, given, problems)
    new_port = updates.pop("port", None)
    if not isinstance(changes.env_vars, _Unset) or new_port is not None:
        if isinstance(changes.env_vars, _Unset):
            # Only the port changes: it is the PORT variable's new value.
            port_var = EnvVar("PORT", str(new_port))
            env_vars = tuple(port_var if var.key == "PORT" else var for var in service.env_vars)
        else:
            env_vars = tuple(changes.env_vars)
        try:
            updates["env_vars"], updates["port"] = _check_env_and_port(kind, env_vars, new_port)
        except InvalidInput as error:
            problems.append(error.message)
    if problems:
        raise InvalidInput("; ".join(problems))
    if now is not None:
        updates["updated_at"] = now
    return dataclasses.replace(service, **updates)


def replace_env_vars(
    service: Service, env_vars: Iterable[EnvVar], *, now: datetime | None = None
) -> Service:
    """``PUT /services/{id}/env-vars``: all variables replaced (the port follows ``PORT``)."""
    return validate_update(service, ServiceChanges(env_vars=tuple(env_vars)), now=now)


def set_env_var(service: Service, key: str, value: str, *, now: datetime | None = None) -> Service:
    """``PUT /services/{id}/env-vars/{key}``: one variable added or changed, in place."""
    variables = list(service.env_vars)
    for index, var in enumerate(variables):
        if var.key == key:
            variables[index] = EnvVar(key, value)
            break
    else:
        variables.append(EnvVar(key, value))
    return replace_env_vars(service, variables, now=now)


def delete_env_var(service: Service, key: str, *, now: datetime | None = None) -> Service:
    """``DELETE /services/{id}/env-vars/{key}``; ``NotFound`` when the service has no such key.

    Deleting ``PORT`` puts a web or private service back on port 10000.
    """
    if all(var.key != key for var in service.env_vars):
        raise NotFound(
            f"this service has no env var {quote(key)} (keys are case-sensitive): list them "
            "with GET /v1/services/{serviceId}/env-vars"
        )
    remaining = [var for var in service.env_vars if var.key != key]
    return replace_env_vars(service, remaining, now=now)


# --- commands, images, names ---


def split_command(text: str) -> tuple[str, ...]:
    """The argv ``text`` stands for, split as a POSIX shell splits words (``shlex.split``).

    Quotes and backslashes group and escape; nothing else of the shell happens: no variables,
    globs, pipes or ``&&`` (write ``sh -c '...'`` for those). ``""`` gives ``()``, i.e. the
    image's own CMD. Unbalanced quotes raise ``InvalidInput``.
    """
    if "\x00" in text:
        raise InvalidInput(
            f"command {quote(text)} contains a NUL character, which no program argument can hold"
        )
    try:
        return tuple(shlex.split(text, comments=False, posix=True))
    except ValueError as error:
        if "escaped" in str(error):  # shlex: "No escaped character"
            fix = "it ends with a backslash that escapes nothing: remove it, or write \\\\"
        else:  # shlex: "No closing quotation"
            fix = (
                "close every quote you open, or escape a literal quote with a backslash "
                "(it\\'s) or put it inside the other kind of quotes (\"it's\")"
            )
        raise InvalidInput(
            f"command {quote(text)} cannot be split into arguments ({error}): {fix}"
        ) from None


def parse_image_path(text: str) -> ImageReference:
    """An image path as the API accepts it: an optional ``https://``/``http://`` (which Render
    strips) before a Docker reference. Raises ``InvalidReference`` saying what is wrong."""
    return parse_reference(_SCHEME.sub("", text, count=1))


def slugify(name: str) -> str:
    """A DNS label made from ``name``: ASCII lowercase letters, digits and single hyphens, at most
    50 characters (``"My API (v2)"`` -> ``"my-api-v2"``); ``"service"`` when nothing is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    slug = slug[:SLUG_MAX_LENGTH].rstrip("-")
    return slug or "service"


def unique_slug(slug: str, service_id: str, attempt: int = 0) -> str:
    """``slug`` with a short suffix from the service id (``my-api-3kf9``): a service's host
    name, unique because the store reserves it with the service (``SlugTaken`` otherwise).
    ``attempt`` > 0 (the previous one was taken) gives a longer suffix hashed from the id and
    the attempt (``my-api-q7xk2m``); always a valid DNS label."""
    if attempt == 0:
        suffix = service_id.rpartition("-")[2][-4:]
    else:
        digest = hashlib.sha256(f"{service_id}:{attempt}".encode()).digest()
        suffix = base64.b32encode(digest).decode("ascii").lower()[:6]
    return f"{slug}-{suffix}"


def internal_address(service: Service) -> str | None:
    """``<slug>:<port>``, where web and private services answer on the private network; None for
    workers and cron jobs, which receive no traffic."""
    if not service.type.has_port:
        return None
    return f"{service.slug}:{service.port}"


# --- the environment a container gets ---


#: The variables whose value is always the platform's (``platform_env`` overrides a user's):
#: runtimes may show these in plaintext and keep every other one secret. Not ``PORT``: a worker's
#: or cron job's ``PORT`` is the user's own variable.
PLATFORM_ENV_KEYS = frozenset(
    {
        "RENDER",
        "RENDER_SERVICE_ID",
        "RENDER_SERVICE_NAME",
        "RENDER_SERVICE_TYPE",
        "RENDER_CPU_COUNT",
        "RENDER_DEPLOY_ID",
        "RENDER_INSTANCE_ID",
        "RENDER_EXTERNAL_URL",
        "RENDER_EXTERNAL_HOSTNAME",
    }
)


def platform_env(
    service: Service,
    deploy_id: str,
    *,
    instance_id: str | None = None,
    external_url: str | None = None,
) -> dict[str, str]:
    """The variables the platform injects into every container of ``deploy_id``.

    ``RENDER=true``, ``RENDER_SERVICE_ID``, ``RENDER_SERVICE_NAME``, ``RENDER_SERVICE_TYPE``
    (Render's values: ``web``, ``pserv``, ``worker``, ``cron``), ``RENDER_CPU_COUNT`` (from the
    plan, e.g. ``0.5``), ``RENDER_DEPLOY_ID``, ``PORT`` for web and private services; with
    ``instance_id``, ``RENDER_INSTANCE_ID``; for a web service given its ``external_url``,
    ``RENDER_EXTERNAL_URL`` and ``RENDER_EXTERNAL_HOSTNAME``. Render's ``RENDER_GIT_*``
    variables describe a git build and do not exist for images.
    """
    env = {
        "RENDER": "true",
        "RENDER_SERVICE_ID": service.id,
        "RENDER_SERVICE_NAME": service.name,
        "RENDER_SERVICE_TYPE": _RENDER_SERVICE_TYPE[service.type],
        "RENDER_CPU_COUNT": f"{PLAN_RESOURCES[service.plan].cpu:g}",
        "RENDER_DEPLOY_ID": deploy_id,
    }
    if service.type.has_port:
        env["PORT"] = str(service.port)
    if instance_id is not None:
        env["RENDER_INSTANCE_ID"] = instance_id
    if external_url is not None and service.type is ServiceType.WEB_SERVICE:
        env["RENDER_EXTERNAL_URL"] = external_url
        env["RENDER_EXTERNAL_HOSTNAME"] = external_url.partition("://")[2].partition("/")[0]
    return env


def runtime_env(
    service: Service,
    deploy_id: str,
    *,
    instance_id: str | None = None,
    external_url: str | None = None,
) -> dict[str, str]:
    """The whole environment of a container: the user's variables overlaid by the platform's.

    The platform wins, except that a user ``PORT`` is kept: it *is* the service's port (and a
    worker's or cron job's ``PORT`` is the user's own variable).
    """
    env = {var.key: var.value for var in service.env_vars}
    env.update(platform_env(service, deploy_id, instance_id=instance_id, external_url=external_url))
    return env


# --- one check per setting; each returns the clean value or raises InvalidInput ---


def _check_settings(
    kind: ServiceType, given: Mapping[str, Any], problems: list[str]
) -> dict[str, Any]:
    """The clean value of every given setting that applies to ``kind``; problems appended."""
    clean: dict[str, Any] = {}
    for attr, value in given.items():
        if kind not in _APPLIES_TO.get(attr, _ALL_TYPES):
            problems.append(_not_applicable(kind, attr))
            continue
        try:
            clean[attr] = _CHECKS[attr](value)
        except InvalidInput as error:
            problems.append(error.message)
    return clean


def _defaults() -> dict[str, Any]:
    return {
        "credential_id": None,
        "plan": DEFAULT_PLAN,
        "region": DEFAULT_REGION,
        "num_instances": DEFAULT_NUM_INSTANCES,
        "docker_command": "",
        "pre_deploy_command": "",
        "health_check_path": "",
        "max_shutdown_delay_seconds": DEFAULT_MAX_SHUTDOWN_DELAY_SECONDS,
        "schedule": "",
    }


def _service_type(value: ServiceType | str) -> ServiceType | None:
    try:
        return ServiceType(value)
    except ValueError:
        return None


def _service_type_problem(value: str) -> str:
    types = ", ".join(t.value for t in ServiceType)
    if value == "static_site":
        return (
            "type 'static_site' is not supported: static sites are built from a repository, "
            f"and imagedeploy deploys container images; use one of {types} (a web_service can "
            "serve static files from an image)"
        )
    return f"type {quote(value)} is not a service type: use one of {types}"


def _not_applicable(kind: ServiceType, attr: str) -> str:
    names = [t.value for t in ServiceType if t in _APPLIES_TO[attr]]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    why = {
        "num_instances": " (a cron job runs one container per run)",
        "pre_deploy_command": " (a cron job can run that step in its dockerCommand)",
        "max_shutdown_delay_seconds": " (a cron job run is stopped only at its time limit)",
        "health_check_path": " (only a web service receives HTTP traffic from outside)",
        "port": " (it receives no traffic)",
    }.get(attr, "")
    return f"{_WIRE_NAMES[attr]} applies only to {listed}, not to a {kind.value}{why}: remove it"


def _check_name(name: str) -> str:
    clean = name.strip()
    if not clean:
        raise InvalidInput("name is empty: give the service a name, e.g. 'my-api'")
    if len(clean) > NAME_MAX_LENGTH:
        raise InvalidInput(f"name is {len(clean)} characters long: use at most {NAME_MAX_LENGTH}")
    for char in clean:
        if unicodedata.category(char).startswith("C"):
            raise InvalidInput(
                f"name {quote(clean)} contains the control or invisible character "
                f"U+{ord(char):04X}: use printable characters only"
            )
    return clean


def _check_image_path(text: str) -> str:
    try:
        return parse_image_path(text).normalized
    except InvalidReference as error:
        raise InvalidInput(
            f"imagePath is not an image reference: {error.message}; e.g. "
            "docker.io/library/nginx:1.27 or ghcr.io/owner/app@sha256:<64 hex>"
        ) from None


def _check_credential_id(value: str | None) -> str | None:
    if not value:
        return None
    if not is_id(value, "rgc"):
        raise InvalidInput(
            f"registryCredentialId {quote(value)} is not a registry credential id "
            "('rgc-' and 20 characters): copy it from GET /v1/registrycredentials, or leave it "
            "out for a public image"
        )
    return value


def _check_plan(value: Plan | str) -> Plan:
    try:
        return Plan(value)
    except ValueError:
        pass
    offered = ", ".join(f"{plan.value} ({_cpu(plan)} CPU, {_memory(plan)})" for plan in Plan)
    hint = ""
    if value == "free":
        hint = " (there is no free instance type here; the smallest is starter)"
    elif value in ("starter_plus", "standard_plus", "custom"):
        hint = " (a Render instance type that is not offered here)"
    raise InvalidInput(f"plan {quote(str(value))} is not available{hint}: use one of {offered}")


def _check_region(value: Region | str) -> Region:
    try:
        return Region(value)
    except ValueError:
        regions = ", ".join(region.value for region in Region)
        raise InvalidInput(
            f"region {quote(str(value))} is not a region: use one of {regions}"
        ) from None


def _check_int(setting: str, value: int, low: int, high: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            f"{setting} is {value!r}: it must be a whole number from {low} to {high}{unit}"
        )
    return value


def _check_num_instances(value: int) -> int:
    return _check_int("numInstances", value, MIN_INSTANCES, MAX_INSTANCES)


def _check_shutdown_delay(value: int) -> int:
    return _check_int(
        "maxShutdownDelaySeconds", value, MIN_SHUTDOWN_DELAY, MAX_SHUTDOWN_DELAY, " (seconds)"
    )


def _check_command(setting: str, text: str) -> str:
    if len(text) > COMMAND_MAX_LENGTH:
        raise InvalidInput(
            f"{setting} is {len(text)} characters long: use at most {COMMAND_MAX_LENGTH} "
            "(put longer scripts in the image)"
        )
    try:
        split_command(text.strip())  # what is stored, and later split for the container
    except InvalidInput as error:
        raise InvalidInput(f"{setting}: {error.message}") from None
    if not _is_utf8(text):
        raise InvalidInput(f"{setting} contains an unpaired surrogate: remove it")
    return text.strip()


def _check_health_check_path(path: str) -> str:
    if path == "":
        return ""
    if not path.startswith("/"):
        raise InvalidInput(
            f"healthCheckPath {quote(path)} must start with '/', e.g. '/healthz' "
            "(or be empty for a TCP check of the port)"
        )
    if len(path) > HEALTH_CHECK_PATH_MAX_LENGTH:
        raise InvalidInput(
            f"healthCheckPath is {len(path)} characters long: use at most "
            f"{HEALTH_CHECK_PATH_MAX_LENGTH}"
        )
    if not _HEALTH_CHECK_PATH.match(path):
        raise InvalidInput(
            f"healthCheckPath {quote(path)} contains characters a URL path cannot: "
            "percent-encode spaces and non-ASCII characters (%20), and leave out any '#fragment'"
        )
    return path


def _check_env_and_port(
    kind: ServiceType, env_vars: Iterable[EnvVar], port: int | None
) -> tuple[tuple[EnvVar, ...], int]:
    """The env vars (checked, ``PORT`` added for a ``port``) and the port they give."""
    variables = tuple(env_vars)
    problems = _env_problems(variables)
    if problems:
        raise InvalidInput("; ".join(problems))
    if not kind.has_port:
        return variables, DEFAULT_PORT
    port_var = next((var for var in variables if var.key == "PORT"), None)
    if port is not None:
        if port_var is None:
            return (*variables, EnvVar("PORT", str(port))), port
        if port_var.value != str(port):
            raise InvalidInput(
                f"port is {port} but the PORT env var is {quote(port_var.value)}: they are the "
                "same setting; give only one of them"
            )
    if port_var is None:
        return variables, DEFAULT_PORT
    if not (_PORT_NUMBER.match(port_var.value) and int(port_var.value) <= MAX_PORT):
        raise InvalidInput(
            f"the PORT env var is {quote(port_var.value)}: on a {kind.value} it is the port the "
            f"service listens on, a number from {MIN_PORT} to {MAX_PORT} written in plain digits "
            f"(default {DEFAULT_PORT}); remove it to use the default"
        )
    return variables, int(port_var.value)


def _env_problems(variables: tuple[EnvVar, ...]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    total = 0
    for var in variables:
        key, value = var.key, var.value
        total += len(key.encode("utf-8", "replace")) + len(value.encode("utf-8", "replace"))
        if not _ENV_KEY.match(key):
            problems.append(
                f"env var key {quote(key)} is not a valid name: use letters, digits and '_', "
                "not starting with a digit, e.g. DATABASE_URL"
            )
        elif len(key) > ENV_KEY_MAX_LENGTH:
            problems.append(
                f"env var key {quote(key)} is {len(key)} characters long: use at most "
                f"{ENV_KEY_MAX_LENGTH}"
            )
        elif key in PLATFORM_VARIABLES:
            problems.append(
                f"env var {key} is set by the platform on every instance and cannot be set: "
                "use another name"
            )
        elif key in seen:
            problems.append(f"env var {key} is given more than once: give each key once")
        seen.add(key)
        if "\x00" in value or not _is_utf8(value):
            problems.append(
                f"env var {key}'s value contains a NUL character or an unpaired surrogate, which "
                "no env var can hold: remove it"
            )
        elif len(value.encode()) > ENV_VALUE_MAX_BYTES:
            problems.append(
                f"env var {key}'s value is longer than {ENV_VALUE_MAX_BYTES // 1024} KiB: keep "
                "large files in the image or fetch them at startup"
            )
    if total > ENV_TOTAL_MAX_BYTES and not problems:
        problems.append(
            f"the env vars take {total} bytes together: at most {ENV_TOTAL_MAX_BYTES // 1024} "
            "KiB of keys and values fit"
        )
    return problems


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _cpu(plan: Plan) -> str:
    return f"{PLAN_RESOURCES[plan].cpu:g}"


def _memory(plan: Plan) -> str:
    memory_mb = PLAN_RESOURCES[plan].memory_mb
    return f"{memory_mb // 1024} GB" if memory_mb >= 1024 else f"{memory_mb} MB"


def _check_port(value: int) -> int:
    return _check_int("port", value, MIN_PORT, MAX_PORT)


#: One check per setting (by ``Service`` attribute); each returns the clean value or raises.
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": _check_name,
    "image_path": _check_image_path,
    "credential_id": _check_credential_id,
    "plan": _check_plan,
    "region": _check_region,
    "num_instances": _check_num_instances,
    "docker_command": lambda text: _check_command("dockerCommand", text),
    "pre_deploy_command": lambda text: _check_command("preDeployCommand", text),
    "health_check_path": _check_health_check_path,
    "max_shutdown_delay_seconds": _check_shutdown_delay,
    "schedule": validate_schedule,
    "port": _check_port,
}
