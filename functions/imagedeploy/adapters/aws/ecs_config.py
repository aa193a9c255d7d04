"""The ECS runtime's configuration and what its parts share: ``EcsConfig`` (the stack's
shared resources and naming), the kind of service a spec runs, and the runtime's error."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from imagedeploy.domain.ecs_rules import (
    TAG_OWNER,
    TAG_SERVICE,
    TAG_SERVICE_NAME,
    TAG_STACK,
    TAG_TYPE,
)
from imagedeploy.ports import RunSpec


@dataclass(frozen=True, slots=True)
class EcsConfig:
    """The stack's shared resources (outputs of ``template.yaml``) and naming."""

    cluster: str
    region: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]  # web services (ingress from the ALB)
    execution_role_arn: str  # pulls ECR images, reads registry secrets, writes logs
    task_role_arn: str  # what the containers themselves may do (nothing, by default)
    vpc_id: str = ""  # web services: their target groups
    listener_arn: str = ""  # web services: the shared ALB's listener
    base_domain: str = ""  # "<slug>.<base_domain>" host rules; "" = "/<slug>/*" path rules
    private_security_groups: tuple[str, ...] = ()  # private services: open to the VPC only
    namespace_id: str = ""  # private services: the Cloud Map namespace
    name_prefix: str = "imagedeploy"  # ECS services and task definition families
    target_group_prefix: str = "imgd"  # target group names are at most 32 characters
    log_group_prefix: str = "/imagedeploy/services"
    log_retention_days: int = 30
    assign_public_ip: bool = False  # True only in public subnets without a NAT gateway
    platform_version: str = "LATEST"
    health_check_grace_seconds: int = 300  # settings.health_check_grace_seconds
    deregistration_delay_seconds: int = 30
    #: services' environment secrets are "<secret_prefix>/service-env/<service id>"
    secret_prefix: str = "imagedeploy"  # noqa: S105 - a name prefix, not a secret
    #: one security group per workspace for private services (``workspace_groups.py``); needs
    #: ``vpc_id``
    workspace_security_groups: bool = False
    #: workers, cron runs and pre-deploy tasks: no inbound traffic; () = ``security_groups``
    worker_security_groups: tuple[str, ...] = ()
    #: the table the runtime records routes in (``route_records.py``): the store's table
    table_name: str = ""
    #: the ALB pool (docs/aws.md "Past 100 web services"): web services per load balancer
    #: (ELB: at most 100 target groups per ALB, not adjustable)
    services_per_load_balancer: int = 100
    #: a Route 53 hosted zone of ``base_domain``: one alias record per web service, which lets
    #: the pool grow past the stack's own ALB; "" = the stack's ALB only (wildcard DNS)
    hosted_zone_id: str = ""
    load_balancer_subnets: tuple[str, ...] = ()  # new ALBs of the pool (public subnets)
    load_balancer_security_groups: tuple[str, ...] = ()  # new ALBs: the stack's ALB group
    certificate_arn: str = ""  # new ALBs: an HTTPS listener with it ("" = HTTP on port 80)

    @property
    def worker_groups(self) -> tuple[str, ...]:
        """The groups of background workers and one-off tasks (cron runs, pre-deploy
        commands): ``worker_security_groups``, or ``security_groups`` without them."""
        return self.worker_security_groups or self.security_groups


class ServiceKind(StrEnum):
    WEB = "web"
    PRIVATE = "pserv"
    WORKER = "worker"
    CRON = "cron"


def service_kind(spec: RunSpec) -> ServiceKind:
    """The kind of service a spec runs, from the platform variable ``RENDER_SERVICE_TYPE``
    (always injected by ``runtime_env``); without it: a port means web, none a worker."""
    value = spec.env.get("RENDER_SERVICE_TYPE", "")
    try:
        return ServiceKind(value)
    except ValueError:
        return ServiceKind.WORKER if spec.port is None else ServiceKind.WEB


def resource_tags(config: EcsConfig, spec: RunSpec) -> dict[str, str]:
    """The tags of everything made for ``spec``'s service, so that an operator finds it in the
    console (docs/aws.md "Find it in the console"): stack, owner, service id, name and type."""
    tags = {
        TAG_STACK: config.name_prefix,  # the stack's name (template.yaml)
        TAG_OWNER: spec.owner_id,
        TAG_SERVICE: spec.service_id,
        TAG_SERVICE_NAME: spec.service_name,
        TAG_TYPE: service_kind(spec).value,
    }
    # ELB, ECS and the Scheduler refuse empty values on some resources: leave those out.
    return {k: _tag_value(v) for k, v in tags.items() if v}


def _tag_value(value: str) -> str:
    """A tag value every AWS service accepts: at most 256 characters of letters, digits,
    spaces and ``_.:/=+-@`` (a service's name may have any character)."""
    return "".join(c if c.isalnum() or c in " _.:/=+-@" else "_" for c in value)[:256]


class EcsRuntimeError(Exception):
    """ECS refused or could not place something; the caller's retry (Lambda) tries again."""
