"""The one settings model. Built once by an entry point (CLI, handler) and passed down;
nothing reads the environment at import time."""

from __future__ import annotations

import ipaddress

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Networks a local, single-machine installation may talk to: its own loopback registries.
LOOPBACK_NETWORKS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
# What "--allow-private-hosts" opens: loopback and private ranges, but never link-local
# (169.254.169.254 is the cloud metadata service).
PRIVATE_NETWORKS: tuple[IPNetwork, ...] = (
    *LOOPBACK_NETWORKS,
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("fc00::/7"),
)


class Settings(BaseSettings):
    """Every tunable of imagedeploy. Environment variables are ``IMAGEDEPLOY_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="IMAGEDEPLOY_", frozen=True, extra="ignore")

    max_image_bytes: int = Field(
        default=10_000_000_000,
        gt=0,
        description="Largest image (config + compressed layers) a deploy accepts.",
    )
    max_manifest_bytes: int = Field(
        default=4 * 1024 * 1024, gt=0, description="Largest manifest body read."
    )
    registry_allowed_networks: tuple[IPNetwork, ...] | None = Field(
        default=None,
        description=(
            "Non-public networks that registries, token realms and redirects may resolve to, "
            "besides public addresses. Unset: the home's default (AWS: none; serve: loopback). "
            "[]: none, public addresses only. Link-local (169.254.0.0/16, fe80::/10, the "
            "metadata service) is never contacted (imagedeploy.net.egress)."
        ),
    )
    registry_request_timeout_seconds: float = Field(default=10.0, gt=0)
    registry_retry_budget_seconds: float = Field(
        default=30.0, gt=0, description="Total time one registry operation may spend retrying."
    )
    registry_max_attempts: int = Field(default=5, ge=1)
    request_registry_budget_seconds: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Total time registry I/O inside one API request may take (POST /v1/images/verify, "
            "PATCH of a service's image); a registry that does not answer in time is a 503."
        ),
    )

    # deploys
    deploys_per_minute: int = Field(default=10, ge=1, description="Per service, hooks + API.")
    deploy_timeout_seconds: int = Field(default=15 * 60, ge=1)
    pre_deploy_timeout_seconds: int = Field(default=30 * 60, ge=1)
    cron_run_timeout_seconds: int = Field(default=12 * 3600, ge=1)
    effect_retry_seconds: int = Field(
        default=300,
        ge=0,
        description=(
            "How long a failing runtime command, job or notification is retried (backoff 1, 2, "
            "4 ... 60 s) before the deploy or cron run it belongs to fails with its error."
        ),
    )

    reconcile_budget_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "How long one reconcile pass may walk; the next pass resumes where it stopped "
            "(the AWS function's timeout is 50 s, serve runs a pass every 30 s)."
        ),
    )
    pre_deploy_output_max_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Output of a pre-deploy command or cron run kept (its tail), per run.",
    )

    # the embedded runtime (imagedeploy serve)
    container_engine: str | None = Field(
        default=None,
        description="podman binary whose API service serve starts; default: podman on PATH.",
    )
    container_engine_socket: str | None = Field(
        default=None,
        description=(
            "The engine's API socket (podman system service, or /var/run/docker.sock). "
            "Unset: serve starts podman's service on a private socket, else uses docker's."
        ),
    )
    container_limits: bool = Field(
        default=True, description="Apply plan CPU/memory limits to containers."
    )
    engine_resync_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "How often serve compares every container with what it believes runs (one list "
            "request), the safety net under the engine's event stream."
        ),
    )
    apps_base_url: str | None = Field(
        default=None, description="Public base URL of web services; default: their local port."
    )

    # AWS: what template.yaml tells every function (its header lists them). Empty on one
    # machine; ``aws_bootstrap.build`` refuses to start without the ones it needs.
    aws_region: str = Field(
        default="", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION", "aws_region")
    )
    table_name: str = ""
    jobs_queue_url: str = ""
    topic_arn: str = ""
    secret_prefix: str = "imagedeploy"  # noqa: S105 - a name prefix, not a secret
    base_domain: str = ""
    api_base_url: str = ""  # "" = from the request (https://<domainName>)
    cluster: str = ""
    vpc_id: str = ""
    subnets: str = ""  # comma-separated
    assign_public_ip: str = "DISABLED"
    security_group_web: str = ""
    security_group_private: str = ""
    security_group_worker: str = ""
    task_execution_role_arn: str = ""
    task_role_arn: str = ""
    name_prefix: str = "imagedeploy"
    listener_arn: str = ""
    target_group_prefix: str = "imgd"
    cloudmap_namespace_id: str = ""
    log_group_prefix: str = "/imagedeploy/services"
    log_retention_days: int = 30
    # How long ECS ignores a new task's failing load-balancer health checks: an app that takes
    # longer than this to answer would fail every deploy (a stopped task fails it fast).
    health_check_grace_seconds: int = Field(default=300, ge=0, le=3600)
    # The ALB pool (docs/aws.md "Past 100 web services"): a Route 53 zone of base_domain lets
    # the app add load balancers (in these subnets and groups, with this certificate).
    hosted_zone_id: str = ""
    services_per_load_balancer: int = Field(default=100, ge=1, le=100)
    load_balancer_subnets: str = ""  # comma-separated
    load_balancer_security_group: str = ""
    certificate_arn: str = ""
    scheduler_group: str = ""
    scheduler_role_arn: str = ""
    # What every cron schedule targets: the cron ticks SQS queue (or, formerly, the function).
    cron_target_arn: str = ""
    scheduler_dlq_arn: str = ""
    # Both homes: each webhook delivery is a job bounded by these (docs/architecture.md §10).
    webhook_timeout_seconds: float = 5.0
    webhook_max_attempts: int = 3
    webhook_budget_seconds: float = 60.0
    webhook_allowed_networks: tuple[IPNetwork, ...] | None = Field(
        default=None,
        description=(
            "Non-public networks webhook receivers may be on, besides public addresses. Unset: "
            "the home's default (AWS: none; serve: loopback). []: public addresses only."
        ),
    )
    webhook_allow_http_loopback: bool | None = Field(
        default=None,
        description=(
            "Accept http:// webhook URLs for loopback hosts (development); every other URL "
            "needs https://. Unset: the home's default (AWS: no; serve: yes)."
        ),
    )
    ecs_event_ttl_seconds: int = 7 * 24 * 3600
    # logs (docs/architecture.md §19); serve keeps them in <data dir>/logs.sqlite
    logs_retention_days: float = Field(
        default=7, gt=0, description="serve: log lines older than this are deleted."
    )
    logs_max_bytes: int = Field(
        default=1024**3,
        ge=1024 * 1024,
        description="serve: the log store's size limit; the oldest lines go first.",
    )
    logs_max_followers: int = Field(
        default=512,
        ge=1,
        description="serve: containers whose output is followed at once (one thread each).",
    )
    logs_max_subscribers: int = Field(
        default=4,
        ge=0,
        description="serve: concurrent GET /v1/logs/subscribe streams (each holds an HTTP thread).",
    )
    dashboard_session_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Secret the dashboard's session cookies are sealed with (any long random string). "
            "Unset: serve keeps one in <data dir>/dashboard.key; AWS reads it from "
            "dashboard_session_secret_arn instead."
        ),
    )
    dashboard_session_secret_arn: str | None = Field(
        default=None,
        description=(
            "AWS: the Secrets Manager secret the dashboard's session key is read from, at the "
            "first dashboard request (template.yaml sets it; the key is never in the environment)."
        ),
    )
    dashboard_session_seconds: int = Field(
        default=3600, ge=60, le=7 * 24 * 3600, description="How long a dashboard sign-in lasts."
    )
    # Metrics (serve): how often the engine is sampled, and how long samples are kept.
    metrics_sample_seconds: float = Field(default=30.0, gt=0)
    metrics_retention_seconds: int = Field(default=7 * 24 * 3600, ge=60)
