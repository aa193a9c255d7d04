"""Services: the four kinds, their settings (Render's ``servicePOST`` model) and plans.

Entities are immutable; a change is a new value with ``version`` unchanged, which the store
writes only if the stored version still matches (then bumps it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ServiceType(StrEnum):
    WEB_SERVICE = "web_service"
    PRIVATE_SERVICE = "private_service"
    BACKGROUND_WORKER = "background_worker"
    CRON_JOB = "cron_job"

    @property
    def id_prefix(self) -> str:
        return "crn" if self is ServiceType.CRON_JOB else "srv"

    @property
    def long_running(self) -> bool:
        return self is not ServiceType.CRON_JOB

    @property
    def has_port(self) -> bool:
        return self in (ServiceType.WEB_SERVICE, ServiceType.PRIVATE_SERVICE)


class Plan(StrEnum):
    STARTER = "starter"
    STANDARD = "standard"
    PRO = "pro"
    PRO_PLUS = "pro_plus"
    PRO_MAX = "pro_max"
    PRO_ULTRA = "pro_ultra"


@dataclass(frozen=True, slots=True)
class Resources:
    cpu: float
    memory_mb: int


PLAN_RESOURCES: dict[Plan, Resources] = {
    Plan.STARTER: Resources(0.5, 512),
    Plan.STANDARD: Resources(1, 2048),
    Plan.PRO: Resources(2, 4096),
    Plan.PRO_PLUS: Resources(4, 8192),
    Plan.PRO_MAX: Resources(4, 16384),
    Plan.PRO_ULTRA: Resources(8, 32768),
}


class Region(StrEnum):
    OREGON = "oregon"
    OHIO = "ohio"
    VIRGINIA = "virginia"
    FRANKFURT = "frankfurt"
    SINGAPORE = "singapore"


DEFAULT_PORT = 10000
DEFAULT_MAX_SHUTDOWN_DELAY_SECONDS = 30


@dataclass(frozen=True, slots=True)
class EnvVar:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    owner_id: str
    type: ServiceType
    name: str
    slug: str
    image_path: str  # the configured reference, normalized (tag and/or digest)
    credential_id: str | None
    plan: Plan
    region: Region
    num_instances: int  # always 1 for cron jobs
    docker_command: str  # "" = the image's own CMD; split like a shell, never run by one
    pre_deploy_command: str  # "" = none
    health_check_path: str  # "" = TCP connect to the port
    port: int
    max_shutdown_delay_seconds: int
    schedule: str  # cron jobs only; "" otherwise
    env_vars: tuple[EnvVar, ...]
    suspended: bool
    hook_key_hash: str  # sha256 of the deploy hook key; the key itself is never stored
    created_at: datetime
    updated_at: datetime
    live_deploy_id: str | None = None
    active_deploy_id: str | None = None  # the one deploy in progress (created..update)
    queued_deploy_id: str | None = None  # the newest deploy waiting for the active one
    active_run_id: str | None = None  # cron jobs: the run in progress
    pending_tick: bool = False  # cron jobs: a scheduled tick waiting for the active run
    local_port: int | None = None  # embedded runtime: the router port of a web service
    # Deploy rate limit (hooks and API share it), kept on the service so that a hook is one read
    # and one conditional write: hits counted in the window starting at rate_window_start.
    rate_window_start: int = 0
    rate_window_hits: int = 0
    version: int = 0
