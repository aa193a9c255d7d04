"""Web services behind the stack's shared ALB: a target group per service (``ip`` targets, the
service's health check) and a listener rule (host ``<slug>.<base domain>``, or the path
``/<slug>/*`` without a base domain) at a priority spread by the service id."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.ecs_config import EcsConfig, EcsRuntimeError, error_code
from imagedeploy.domain.ecs_rules import TAG_SERVICE
from imagedeploy.ports import RunSpec


class AlbRouting:
    def __init__(self, config: EcsConfig, elbv2: Callable[[], Any]) -> None:
        self._config = config
        self._elbv2_client = elbv2

    @property
    def _elbv2(self) -> Any:
        return self._elbv2_client()

    def target_group_name(self, service_id: str) -> str:
        # Without the id's type ("srv-"): "imd<8 hex>-<20 chars>" is ELB's 32 characters.
        name = f"{self._config.target_group_prefix}-{service_id.partition('-')[2]}"
        if len(name) > 32:
            raise ValueError(f"target group name {name!r} is longer than 32 characters")
        return name

    def _health_check(self, path: str) -> dict[str, Any]:
        """An ALB target group only has HTTP health checks. With a path: 2xx/3xx within 5 s.
        Without one, the rule is a TCP connect (docs/architecture.md §6.2, §17); the nearest an
        ALB can do is GET / and accept any HTTP answer (200-499): the port is open and speaks
        HTTP."""
        return {
            "HealthCheckEnabled": True,
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPort": "traffic-port",
            "HealthCheckPath": path or "/",
            "HealthCheckTimeoutSeconds": 5,
            "HealthCheckIntervalSeconds": 10,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 3,
            "Matcher": {"HttpCode": "200-399" if path else "200-499"},
        }

    def ensure_target_group(self, spec: RunSpec) -> str:
        name = self.target_group_name(spec.service_id)
        health = self._health_check(spec.health_check_path)
        try:
            found = self._elbv2.describe_target_groups(Names=[name])["TargetGroups"]
        except ClientError as exc:
            if error_code(exc) != "TargetGroupNotFound":
                raise
            found = []
        if found:
            group = found[0]
            arn = str(group["TargetGroupArn"])
            if any(group.get(k) != v for k, v in health.items()):
                self._elbv2.modify_target_group(TargetGroupArn=arn, **health)
            return arn
        created = self._elbv2.create_target_group(
            Name=name,
            Protocol="HTTP",
            ProtocolVersion="HTTP1",
            Port=spec.port,
            VpcId=self._config.vpc_id,
            TargetType="ip",
            Tags=[{"Key": TAG_SERVICE, "Value": spec.service_id}],
            **health,
        )
        arn = str(created["TargetGroups"][0]["TargetGroupArn"])
        self._elbv2.modify_target_group_attributes(
            TargetGroupArn=arn,
            Attributes=[
                {
                    "Key": "deregistration_delay.timeout_seconds",
                    "Value": str(self._config.deregistration_delay_seconds),
                }
            ],
        )
        return arn

    def route_conditions(self, slug: str) -> list[dict[str, Any]]:
        """Host ``<slug>.<base domain>``; without a base domain the path ``/<slug>`` and
        ``/<slug>/*``, which only works for apps that serve under that prefix (the ALB does
        not strip it)."""
        if self._config.base_domain:
            host = f"{slug}.{self._config.base_domain}"
            return [{"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}]
        paths = [f"/{slug}", f"/{slug}/*"]
        return [{"Field": "path-pattern", "PathPatternConfig": {"Values": paths}}]

    def ensure_listener_rule(self, spec: RunSpec, target_group_arn: str) -> None:
        if not self._config.listener_arn:
            raise EcsRuntimeError("web services need EcsConfig.listener_arn (the shared ALB)")
        conditions = self.route_conditions(spec.internal_host or spec.service_id)
        actions = [{"Type": "forward", "TargetGroupArn": target_group_arn}]
        for rule in self._rules():
            if _forwards_to(rule, target_group_arn):
                if _condition_values(rule.get("Conditions", [])) != _condition_values(conditions):
                    self._elbv2.modify_rule(
                        RuleArn=rule["RuleArn"], Conditions=conditions, Actions=actions
                    )
                return
        priority = _priority(spec.service_id)
        for _ in range(100):
            try:
                self._elbv2.create_rule(
                    ListenerArn=self._config.listener_arn,
                    Conditions=conditions,
                    Priority=priority,
                    Actions=actions,
                    Tags=[{"Key": TAG_SERVICE, "Value": spec.service_id}],
                )
                return
            except ClientError as exc:
                if error_code(exc) != "PriorityInUse":
                    raise
                priority = priority % 50_000 + 1
        raise EcsRuntimeError("no free listener rule priority found")

    def _rules(self) -> Iterator[dict[str, Any]]:
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"ListenerArn": self._config.listener_arn, "PageSize": 400}
            if marker:
                params["Marker"] = marker
            page = self._elbv2.describe_rules(**params)
            yield from page.get("Rules", [])
            marker = page.get("NextMarker")
            if not marker:
                return

    def target_group_arn(self, service_id: str) -> str | None:
        """The web service's target group, or None (not routed yet, or removed)."""
        try:
            name = self.target_group_name(service_id)
            groups = self._elbv2.describe_target_groups(Names=[name])["TargetGroups"]
        except ClientError as exc:
            if error_code(exc) == "TargetGroupNotFound":
                return None
            raise
        return str(groups[0]["TargetGroupArn"]) if groups else None

    def delete_route(self, service_id: str) -> None:
        try:
            groups = self._elbv2.describe_target_groups(Names=[self.target_group_name(service_id)])[
                "TargetGroups"
            ]
        except ClientError as exc:
            if error_code(exc) == "TargetGroupNotFound":
                return
            raise
        for group in groups:
            arn = group["TargetGroupArn"]
            for rule in list(self._rules()):
                if _forwards_to(rule, arn) and not rule.get("IsDefault"):
                    self._elbv2.delete_rule(RuleArn=rule["RuleArn"])
            self._elbv2.delete_target_group(TargetGroupArn=arn)


def _forwards_to(rule: Mapping[str, Any], target_group_arn: str) -> bool:
    for action in rule.get("Actions", []):
        if action.get("TargetGroupArn") == target_group_arn:
            return True
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        if any(g.get("TargetGroupArn") == target_group_arn for g in groups):
            return True
    return False


def _condition_values(conditions: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    values: set[tuple[str, str]] = set()
    for condition in conditions:
        field = str(condition.get("Field", ""))
        config = condition.get("HostHeaderConfig") or condition.get("PathPatternConfig") or {}
        for value in [*condition.get("Values", []), *config.get("Values", [])]:
            values.add((field, str(value)))
    return values


def _priority(service_id: str) -> int:
    """A listener rule priority spread by the service id, so concurrent creates rarely collide
    (a collision moves on to the next free one)."""
    return int(hashlib.sha256(service_id.encode()).hexdigest(), 16) % 50_000 + 1
