"""Render's list filters as query parameters: their declarations for the routes, and how they
become ``domain.listing`` filters.

Names and vocabularies are Render's (``reference/render-openapi.json``). An array parameter
takes several values as Render does: repeated (``type=web_service&type=cron_job``) or
comma-separated (``type=web_service,cron_job``); API Gateway joins repeats with commas, and
``serve`` does the same, so both reach the route as one list. Empty values are ignored. A value
outside Render's vocabulary is a 400 naming the parameter and the allowed values; a value
Render has that nothing here can have (``type=static_site``, ``env=docker``) is valid and
matches nothing. Times are ISO 8601 (a time without an offset is UTC).

Deviation: Render's event list defaults ``startTime`` to an hour ago; here a list without
``startTime`` starts at the first event, as every other list does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Final, TypeVar

from aws_lambda_powertools.event_handler.openapi.params import Query

from imagedeploy.domain.cron import RunStatus
from imagedeploy.domain.deploys import DeployStatus
from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.events import EventType
from imagedeploy.domain.jobs import JobStatus
from imagedeploy.domain.listing import (
    CredentialFilter,
    DeliveryFilter,
    DeployFilter,
    EventFilter,
    JobFilter,
    OwnerFilter,
    RunFilter,
    ServiceFilter,
    TimeRange,
)
from imagedeploy.domain.registries import RegistryKind
from imagedeploy.domain.services import Region, ServiceType

# Render's vocabularies (``serviceType``, ``serviceRuntime``, ``region``, ``deployStatus``, the
# ``eventTypeParam`` enum, ``suspended``); a test compares them with Render's document.
SERVICE_TYPES: Final = ("static_site", *(t.value for t in ServiceType))
RUNTIMES: Final = ("docker", "elixir", "go", "node", "python", "ruby", "rust", "image")
REGIONS: Final = tuple(r.value for r in Region)
SUSPENDED: Final = ("suspended", "not_suspended")
DEPLOY_STATUSES: Final = tuple(s.value for s in DeployStatus)
EVENT_TYPES: Final = (
    *("autoscaling_config_changed", "autoscaling_ended", "autoscaling_started"),
    *("branch_deleted", "build_ended", "build_started", "commit_ignored"),
    *("cron_job_run_ended", "cron_job_run_started", "deploy_ended", "deploy_started"),
    *("disk_created", "disk_updated", "disk_deleted", "image_pull_failed"),
    *("initial_deploy_hook_ended", "initial_deploy_hook_started", "instance_count_changed"),
    *("job_run_ended", "maintenance_mode_enabled", "maintenance_mode_uri_updated"),
    *("maintenance_ended", "maintenance_started", "pipeline_minutes_exhausted"),
    *("plan_changed", "pre_deploy_ended", "pre_deploy_started", "server_available"),
    *("server_failed", "server_hardware_failure", "server_restarted", "service_resumed"),
    *("service_suspended", "suspender_added", "suspender_removed"),
    *("zero_downtime_redeploy_ended", "zero_downtime_redeploy_started"),
)
RUN_STATUSES: Final = tuple(s.value for s in RunStatus)
JOB_STATUSES: Final = tuple(s.value for s in JobStatus)

E = TypeVar("E", bound=Enum)

_SEVERAL = "several: repeat the parameter or separate values with commas"


def _values(description: str) -> Query:
    return Query(description=f"{description} ({_SEVERAL})")


def _one_of(description: str, allowed: Sequence[str], alias: str | None = None) -> Query:
    return Query(alias=alias, description=f"{description}: {', '.join(allowed)} ({_SEVERAL})")


def _time(description: str) -> Query:
    return Query(description=f"{description} (ISO 8601; without an offset: UTC)")


Values = list[str] | None
Moment = datetime | None

# -- services
Names = Annotated[Values, _values("Only services with one of these exact names")]
ServiceTypes = Annotated[Values, _one_of("Only services of these types", SERVICE_TYPES, "type")]
Runtimes = Annotated[Values, _one_of("Only these runtimes (deprecated `env`)", RUNTIMES)]
Regions = Annotated[Values, _one_of("Only services in these regions", REGIONS)]
Suspension = Annotated[Values, _one_of("Only suspended or not suspended services", SUSPENDED)]
EnvironmentIds = Annotated[Values, _values("Only services of these environments (none are)")]
OwnerIds = Annotated[Values, _values("Only these workspaces' services (yours is the only one)")]
CreatedBefore = Annotated[Moment, _time("Only what was created before this time")]
CreatedAfter = Annotated[Moment, _time("Only what was created after this time")]
UpdatedBefore = Annotated[Moment, _time("Only what was last updated before this time")]
UpdatedAfter = Annotated[Moment, _time("Only what was last updated after this time")]
# -- deploys
DeployStatuses = Annotated[Values, _one_of("Only deploys in these statuses", DEPLOY_STATUSES)]
FinishedBefore = Annotated[Moment, _time("Only what finished before this time")]
FinishedAfter = Annotated[Moment, _time("Only what finished after this time")]
# -- events
EventTypes = Annotated[Values, _one_of("Only events of these types", EVENT_TYPES, "type")]
StartTime = Annotated[Moment, _time("Only events at or after this time")]
EndTime = Annotated[Moment, _time("Only events at or before this time")]
# -- webhook deliveries
SentBefore = Annotated[Moment, _time("Only deliveries sent before this time")]
SentAfter = Annotated[Moment, _time("Only deliveries sent after this time")]
# -- cron runs (an extension, with the parameters of Render's job lists)
RunStatuses = Annotated[Values, _one_of("Only runs in these statuses", RUN_STATUSES)]
StartedBefore = Annotated[Moment, _time("Only runs started before this time")]
StartedAfter = Annotated[Moment, _time("Only runs started after this time")]
# -- registry credentials, owners, webhooks
CREDENTIAL_TYPES: Final = tuple(k.value for k in RegistryKind)
CredentialNames = Annotated[Values, _values("Only credentials with one of these exact names")]
Usernames = Annotated[Values, _values("Only credentials with one of these usernames")]
CredentialTypes = Annotated[
    Values, _one_of("Only credentials for these registries", CREDENTIAL_TYPES, "type")
]
OwnerNames = Annotated[Values, _values("Only workspaces with one of these exact names")]
OwnerEmails = Annotated[Values, _values("Only workspaces with one of these emails")]
WorkspaceIds = Annotated[Values, _values("Only these workspaces' items (yours is the only one)")]
# -- one-off jobs
JobStatuses = Annotated[Values, _one_of("Only jobs in these statuses", JOB_STATUSES)]


def chosen(parameter: str, values: Values, allowed: Sequence[str]) -> frozenset[str] | None:
    """The values of an enum parameter (None: not given); ``InvalidInput`` naming the
    parameter and its allowed values for anything else."""
    given = frozenset(v.strip() for v in values or () if v.strip())
    if not given:
        return None
    if not given <= set(allowed):
        raise InvalidInput(
            f"query parameter {parameter} takes {', '.join(allowed)}; {len(given - set(allowed))} "
            f"of the values given is none of these ({_SEVERAL})"
        )
    return given


def _members(
    parameter: str, values: Values, allowed: Sequence[str], enum: type[E]
) -> frozenset[E] | None:
    """``chosen``, as the members of ``enum`` with those values (a value ``allowed`` that is no
    member, such as ``static_site``, matches nothing)."""
    given = chosen(parameter, values, allowed)
    return None if given is None else frozenset(m for m in enum if m.value in given)


def words(values: Values) -> frozenset[str] | None:
    """The values of a free-text array parameter (None: not given)."""
    given = frozenset(v for v in values or () if v)
    return given or None


def service_filter(
    *,
    name: Values,
    types: Values,
    env: Values,
    region: Values,
    suspended: Values,
    environment_id: Values,
    created_before: Moment,
    created_after: Moment,
    updated_before: Moment,
    updated_after: Moment,
) -> ServiceFilter:
    # checked in this order (type, region, suspended, env): the first wrong one is the answer
    kinds = _members("type", types, SERVICE_TYPES, ServiceType)
    regions = _members("region", region, REGIONS, Region)
    suspension = chosen("suspended", suspended, SUSPENDED)
    return ServiceFilter(
        names=words(name),
        types=kinds,
        runtimes=chosen("env", env, RUNTIMES),
        regions=regions,
        suspended=None if suspension is None else frozenset(s == "suspended" for s in suspension),
        environment_ids=words(environment_id),
        created=TimeRange.between(created_after, created_before),
        updated=TimeRange.between(updated_after, updated_before),
    )


def deploy_filter(
    *,
    status: Values,
    created_before: Moment,
    created_after: Moment,
    updated_before: Moment,
    updated_after: Moment,
    finished_before: Moment,
    finished_after: Moment,
) -> DeployFilter:
    return DeployFilter(
        statuses=_members("status", status, DEPLOY_STATUSES, DeployStatus),
        created=TimeRange.between(created_after, created_before),
        updated=TimeRange.between(updated_after, updated_before),
        finished=TimeRange.between(finished_after, finished_before),
    )


def event_filter(*, types: Values, start_time: Moment, end_time: Moment) -> EventFilter:
    return EventFilter(
        types=_members("type", types, EVENT_TYPES, EventType),
        time=TimeRange.inclusive(start_time, end_time),
    )


def delivery_filter(*, sent_before: Moment, sent_after: Moment) -> DeliveryFilter:
    return DeliveryFilter(sent=TimeRange.between(sent_after, sent_before))


def run_filter(
    *,
    status: Values,
    started_before: Moment,
    started_after: Moment,
    finished_before: Moment,
    finished_after: Moment,
) -> RunFilter:
    return RunFilter(
        statuses=_members("status", status, RUN_STATUSES, RunStatus),
        started=TimeRange.between(started_after, started_before),
        finished=TimeRange.between(finished_after, finished_before),
    )


def job_filter(
    *,
    status: Values,
    created_before: Moment,
    created_after: Moment,
    started_before: Moment,
    started_after: Moment,
    finished_before: Moment,
    finished_after: Moment,
) -> JobFilter:
    return JobFilter(
        statuses=_members("status", status, JOB_STATUSES, JobStatus),
        created=TimeRange.between(created_after, created_before),
        started=TimeRange.between(started_after, started_before),
        finished=TimeRange.between(finished_after, finished_before),
    )


def credential_filter(
    *,
    name: Values,
    username: Values,
    types: Values,
    created_before: Moment,
    created_after: Moment,
    updated_before: Moment,
    updated_after: Moment,
) -> CredentialFilter:
    return CredentialFilter(
        names=words(name),
        usernames=words(username),
        registries=_members("type", types, CREDENTIAL_TYPES, RegistryKind),
        created=TimeRange.between(created_after, created_before),
        updated=TimeRange.between(updated_after, updated_before),
    )


def owner_filter(*, name: Values, email: Values) -> OwnerFilter:
    return OwnerFilter(names=words(name), emails=words(email))


def mine(owner_id: str, owner_ids: Values) -> bool:
    """Render's ``ownerId`` filter: whether the caller's workspace (the only one a key sees)
    is among those asked for (or none was asked for)."""
    asked = words(owner_ids)
    return asked is None or owner_id in asked
