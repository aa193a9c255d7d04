"""The composition root on AWS: the ``Ports`` every Lambda handler runs the use cases with
(the counterpart of ``embedded.build``).

- Settings: the one ``Settings`` model (``IMAGEDEPLOY_*``; ``template.yaml`` sets the AWS
  ones), read once per cold start by ``app()``, never at import time.
- Adapters: ``DynamoStore``, ``SecretsManagerSecretStore``, ``EcrAwareRegistry(RegistryClient)``,
  ``EcsRuntime``, ``EventBridgeScheduler`` (functions without the scheduler variables get one
  that refuses: only the worker manages schedules, as it executes every effect), ``SqsJobs``,
  ``SnsNotifier`` (when the stack has a topic) and the home-neutral ``WebhookSender``.
- Webhooks never block a Lambda: each delivery is a ``webhook`` job the worker runs with short
  timeouts and a bounded total time (``webhook_*`` settings). SNS publishes directly (one short
  call with tight botocore timeouts).
- boto3 clients are made once per cold start, lazily, by ``Clients``; tests pass their own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from imagedeploy.adapters.aws.clients import Clients
from imagedeploy.net.egress import Home, registry_egress, webhook_egress
from imagedeploy.ports import (
    Job,
    Limits,
    LogReader,
    NoBroadcast,
    Notifier,
    Ports,
    Registry,
    Scheduler,
    WebhookSender,
)
from imagedeploy.settings import Settings

if TYPE_CHECKING:
    from imagedeploy.adapters.aws.ecs_runtime import EcsRuntime
    from imagedeploy.adapters.aws.secrets import SecretsManagerSecretStore

logger = logging.getLogger(__name__)

__all__ = [
    "AwsApp",
    "Clients",
    "UtcClock",
    "app",
    "build",
    "configure",
    "reset",
]


class UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class UnavailableScheduler:
    """The scheduler of a function the stack gives no scheduler settings (all but the worker,
    which executes every effect, SyncSchedule included): a call is a wiring bug."""

    def set_schedule(self, service_id: str, schedule: str) -> None:
        raise RuntimeError("this function has no scheduler configured (IMAGEDEPLOY_SCHEDULER_*)")

    def remove_schedule(self, service_id: str) -> None:
        raise RuntimeError("this function has no scheduler configured (IMAGEDEPLOY_SCHEDULER_*)")


@dataclass
class AwsApp:
    """What a cold start builds: the settings, the ports and the ECS runtime (the ECS events
    handler matches tasks and deployments through it)."""

    settings: Settings
    ports: Ports
    ecs: EcsRuntime
    secrets: SecretsManagerSecretStore
    clients: Clients
    resolver: Any = None  # the API's, built on its first request

    def log_reader(self) -> LogReader:
        """CloudWatch Logs, where ECS writes the services' output (``GET /v1/logs``)."""
        from imagedeploy.adapters.aws.cloudwatch_logs import CloudWatchLogReader

        return CloudWatchLogReader(lambda: self.clients("logs"), self.settings.log_group_prefix)

    def dashboard_session_secret(self) -> bytes | None:
        """The dashboard's session key: read from its Secrets Manager secret (the template
        passes only the ARN, so the key is not in the function's configuration), or the
        setting; None turns the dashboard off. Asked once, at the first dashboard request."""
        if (value := self.settings.dashboard_session_secret) is not None:
            return value.get_secret_value().encode()
        if arn := self.settings.dashboard_session_secret_arn:
            answer = self.clients("secretsmanager").get_secret_value(SecretId=arn)
            return str(answer["SecretString"]).encode()
        return None


def _ecs_config(settings: Settings) -> Any:
    from imagedeploy.adapters.aws.ecs_runtime import EcsConfig

    def groups(*ids: str) -> tuple[str, ...]:
        return tuple(i for i in ids if i)

    return EcsConfig(
        cluster=settings.cluster,
        region=settings.aws_region,
        subnets=_csv(settings.subnets),
        # Web services: the web group (ingress from the ALB only), or the worker group when
        # there is no web group. Workers, cron runs and pre-deploy tasks: the worker group (no
        # inbound traffic), or the web group when there is no worker group.
        security_groups=groups(settings.security_group_web or settings.security_group_worker),
        worker_security_groups=groups(settings.security_group_worker),
        execution_role_arn=settings.task_execution_role_arn,
        task_role_arn=settings.task_role_arn,
        vpc_id=settings.vpc_id,
        listener_arn=settings.listener_arn,
        base_domain=settings.base_domain,
        private_security_groups=groups(settings.security_group_private),
        namespace_id=settings.cloudmap_namespace_id,
        name_prefix=settings.name_prefix,
        target_group_prefix=settings.target_group_prefix,
        log_group_prefix=settings.log_group_prefix,
        log_retention_days=settings.log_retention_days,
        health_check_grace_seconds=settings.health_check_grace_seconds,
        assign_public_ip=settings.assign_public_ip.upper() == "ENABLED",
        secret_prefix=settings.secret_prefix,
        workspace_security_groups=bool(settings.vpc_id),
        table_name=settings.table_name,
        services_per_load_balancer=settings.services_per_load_balancer,
        hosted_zone_id=settings.hosted_zone_id,
        load_balancer_subnets=_csv(settings.load_balancer_subnets),
        load_balancer_security_groups=groups(settings.load_balancer_security_group),
        certificate_arn=settings.certificate_arn,
    )


def _csv(value: str) -> tuple[str, ...]:
    """The ids of a comma-separated setting (subnets)."""
    return tuple(s.strip() for s in value.split(",") if s.strip())


def build(
    settings: Settings,
    *,
    clients: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
    clock: Any = None,
) -> AwsApp:
    """Wire the adapters. ``clients`` (service name -> boto3 client) and ``registry`` replace
    the defaults (tests); nothing talks to AWS until a port is used."""
    from imagedeploy.adapters.aws.cloudwatch_metrics import CloudWatchMetrics
    from imagedeploy.adapters.aws.dynamodb_store import DynamoStore
    from imagedeploy.adapters.aws.ecs_runtime import EcsRuntime
    from imagedeploy.adapters.aws.jobs import SqsJobs
    from imagedeploy.adapters.aws.lazy_ports import LazyRegistry, LazyWebhooks
    from imagedeploy.adapters.aws.secrets import SecretsManagerSecretStore
    from imagedeploy.adapters.aws.sns_notifier import SNS_CLIENT_CONFIG, SnsNotifier

    missing = [n for n in ("table_name", "jobs_queue_url") if not getattr(settings, n)]
    if missing:
        raise RuntimeError(
            "the AWS functions need IMAGEDEPLOY_"
            + ", IMAGEDEPLOY_".join(m.upper() for m in missing)
            + " (template.yaml sets them)"
        )
    make = Clients(settings.aws_region, clients, configs={"sns": SNS_CLIENT_CONFIG})
    store = DynamoStore(settings.table_name, client=_lazy(make, "dynamodb"))
    secrets = SecretsManagerSecretStore(
        settings.secret_prefix, client=_lazy(make, "secretsmanager")
    )
    jobs = SqsJobs(settings.jobs_queue_url, client=_lazy(make, "sqs"))

    def prune_later(service_id: str) -> None:
        # A job of its own: a throttled clean-up is retried by SQS, never delays a deploy.
        from imagedeploy.usecases.worker import PRUNE_REVISIONS_JOB

        jobs.enqueue(Job(PRUNE_REVISIONS_JOB, service_id))

    ecs = EcsRuntime(
        _ecs_config(settings),
        ecs=_lazy(make, "ecs"),
        elbv2=_lazy(make, "elbv2"),
        servicediscovery=_lazy(make, "servicediscovery"),
        logs=_lazy(make, "logs"),
        secretsmanager=_lazy(make, "secretsmanager"),
        ec2=_lazy(make, "ec2"),
        dynamodb=_lazy(make, "dynamodb"),
        route53=_lazy(make, "route53"),
        secret_arn=secrets.arn_of,
        on_new_revision=prune_later,
    )
    metrics = CloudWatchMetrics(
        settings.cluster,
        ecs.name_of,
        ecs.routing.target_group_arn,
        settings.listener_arn,
        lambda: make("cloudwatch"),
    )
    scheduler: Scheduler = UnavailableScheduler()
    if settings.scheduler_group and settings.cron_target_arn:
        from imagedeploy.adapters.aws.scheduler import EventBridgeScheduler

        scheduler = EventBridgeScheduler(
            settings.scheduler_group,
            settings.scheduler_role_arn,
            settings.cron_target_arn,
            client=_lazy(make, "scheduler"),
            dead_letter_arn=settings.scheduler_dlq_arn or None,
        )
    notifier: Notifier = NoBroadcast()
    if settings.topic_arn:
        notifier = SnsNotifier(
            settings.topic_arn, client=_lazy(make, "sns"), api_base_url=settings.api_base_url
        )
    clock = clock or UtcClock()
    made_clock = clock

    def webhook_sender() -> WebhookSender:
        from imagedeploy.adapters.webhooks import WebhookSender as HttpWebhookSender

        return HttpWebhookSender(
            clock=made_clock,
            egress=webhook_egress(settings, Home.AWS),
            timeout=settings.webhook_timeout_seconds,
            max_attempts=settings.webhook_max_attempts,
            budget_seconds=settings.webhook_budget_seconds,
        )

    ports = Ports(
        store=store,
        secrets=secrets,
        # Built on first use: httpx and the registry client are the worker's (cold starts).
        registry=registry or LazyRegistry(lambda: _registry(settings, make)),
        runtime=ecs,
        scheduler=scheduler,
        notifier=notifier,
        webhooks=LazyWebhooks(webhook_sender),
        webhook_targets=webhook_egress(settings, Home.AWS),
        jobs=jobs,
        clock=clock,
        limits=Limits(
            deploys_per_minute=settings.deploys_per_minute,
            deploy_timeout_seconds=settings.deploy_timeout_seconds,
            pre_deploy_timeout_seconds=settings.pre_deploy_timeout_seconds,
            cron_run_timeout_seconds=settings.cron_run_timeout_seconds,
            effect_retry_seconds=settings.effect_retry_seconds,
        ),
        metrics=metrics,
    )
    return AwsApp(settings, ports, ecs, secrets, make)


class _LazyClient:
    """A client made only when first used (the ECS runtime's ELB, Cloud Map and Logs clients
    are needed by a few operations only)."""

    def __init__(self, make: Callable[[str], Any], name: str) -> None:
        self._make = make
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._make(self._name), attribute)


def _lazy(make: Clients, name: str) -> Any:
    return _LazyClient(make, name)


def _registry(settings: Settings, make: Clients) -> Registry:
    from imagedeploy.adapters.aws.ecr_auth import EcrAuthorizer, EcrAwareRegistry
    from imagedeploy.registry import RegistryClient

    client = RegistryClient(settings, egress=registry_egress(settings, Home.AWS))
    return EcrAwareRegistry(client, EcrAuthorizer(_lazy(make, "ecr")))


# -- once per cold start ------------------------------------------------------------------------


@dataclass
class _State:
    app: AwsApp | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _State()


def app() -> AwsApp:
    """The cold start's ``AwsApp``: settings read and adapters wired on the first call."""
    if _state.app is None:
        with _state.lock:
            if _state.app is None:
                overrides = dict(_state.overrides)
                settings = overrides.pop("settings", None) or Settings()
                _state.app = build(settings, **overrides)
    return _state.app


def configure(**overrides: Any) -> None:
    """Tests: what the next ``app()`` builds with (``settings``, ``clients``,
    ``registry``, ``clock``); forgets the current one."""
    with _state.lock:
        _state.overrides = overrides
        _state.app = None


def reset() -> None:
    configure()
