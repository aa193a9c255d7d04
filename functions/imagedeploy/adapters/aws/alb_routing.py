"""Web services behind a pool of ALBs (docs/aws.md "Past 100 web services"): each web service
takes a slot of one load balancer of the pool (``route_records.py``: a conditional
transaction, so the last slot goes to one creation only), and gets there a target group (``ip``
targets, the service's health check) and a listener rule (host ``<slug>.<base domain>``, or the
path ``/<slug>/*`` without a base domain) at a priority spread by the service id. With a Route
53 hosted zone, an alias record ``<slug>.<base domain>`` points at the service's load
balancer, and a full pool grows by one ALB (named ``<target group prefix>-alb-<n>``, with the
listener of the stack's own); without one, the stack's ALB (wildcard DNS) is the whole pool."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.clients import error_code
from imagedeploy.adapters.aws.ecs_config import (
    EcsConfig,
    EcsRuntimeError,
    resource_tags,
)
from imagedeploy.adapters.aws.route_records import LoadBalancer, Route, RouteRecords
from imagedeploy.ports import RunSpec

FIRST = "000"  # the stack's own ALB in the pool


class AlbRouting:
    def __init__(
        self,
        config: EcsConfig,
        elbv2: Callable[[], Any],
        route53: Callable[[], Any],
        records: RouteRecords,
    ) -> None:
        self._config = config
        self._elbv2_client = elbv2
        self._route53_client = route53
        self.records = records

    @property
    def _elbv2(self) -> Any:
        return self._elbv2_client()

    # -- names -----------------------------------------------------------------------------
    def target_group_name(self, service_id: str, slug: str = "") -> str:
        """``<prefix>-<slug>-<last 8 of the id>`` within ELB's 32 characters (the slug cut to
        fit): readable in the console, unique in the stack (40 bits of the id). Without a slug
        (services routed before names were readable): ``<prefix>-<the id's 20 characters>``."""
        prefix, body = self._config.target_group_prefix, service_id.partition("-")[2]
        if not slug:
            name = f"{prefix}-{body}"
        else:
            room = 32 - len(prefix) - len(body[-8:]) - 2
            label = slug[: max(room, 0)].strip("-")
            name = "-".join(part for part in (prefix, label, body[-8:]) if part)
        if len(name) > 32:
            raise ValueError(f"target group name {name!r} is longer than 32 characters")
        return name

    def host(self, slug: str) -> str:
        return f"{slug}.{self._config.base_domain}" if self._config.base_domain else ""

    # -- the pool --------------------------------------------------------------------------
    @property
    def can_grow(self) -> bool:
        """New ALBs need per-service DNS records (a hosted zone for the base domain) and
        public subnets to put them in."""
        c = self._config
        return bool(c.hosted_zone_id and c.base_domain and c.load_balancer_subnets)

    def load_balancer_of(self, spec: RunSpec) -> tuple[LoadBalancer, Route]:
        """The pool's load balancer that routes ``spec``'s service: the one it holds a slot
        of, else the first with room (a slot taken in a conditional transaction), else a new
        one when the pool can grow."""
        route = self.records.route(spec.service_id)
        pool = self._pool()
        for _ in range(len(pool) + 3):
            if route.alb_key:
                held = next((lb for lb in pool if lb.key == route.alb_key), None)
                if held is None:
                    raise EcsRuntimeError(f"load balancer {route.alb_key} left the pool")
                return held, route
            legacy = self._legacy_target_group(spec.service_id)
            if legacy:  # routed before the pool: on the stack's ALB, counted when it joined
                self.records.set(spec.service_id, albKey=FIRST, targetGroupArn=legacy)
            else:
                capacity = self._config.services_per_load_balancer
                free = [lb for lb in pool if lb.used < capacity]
                if not free:
                    pool.append(self._grow(pool))
                    continue
                for lb in free:
                    if self.records.claim(spec.service_id, lb, capacity):
                        break
            route = self.records.route(spec.service_id)
            pool = self._pool()
        raise EcsRuntimeError("could not take a slot of a load balancer; the job retries")

    def _pool(self) -> list[LoadBalancer]:
        pool = self.records.load_balancers()
        if pool:
            return pool
        if not self._config.listener_arn:
            raise EcsRuntimeError("web services need EcsConfig.listener_arn (the stack's ALB)")
        listener = self._elbv2.describe_listeners(ListenerArns=[self._config.listener_arn])
        arn = listener["Listeners"][0]["LoadBalancerArn"]
        lb = self._elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
        rules = sum(1 for rule in self._rules(self._config.listener_arn) if not rule["IsDefault"])
        first = LoadBalancer(
            FIRST,
            arn,
            self._config.listener_arn,
            lb["DNSName"],
            lb["CanonicalHostedZoneId"],
            used=rules,  # a stack upgraded from one ALB: its services keep their slots
        )
        self.records.add_load_balancer(first)
        return self.records.load_balancers()

    def _grow(self, pool: list[LoadBalancer]) -> LoadBalancer:
        """One more ALB with the listener of the stack's own (idempotent: ELB names are
        unique, so concurrent creations make one)."""
        capacity = self._config.services_per_load_balancer
        if not self.can_grow:
            raise EcsRuntimeError(
                f"all {len(pool)} load balancer(s) route {capacity} web services each, ELB's "
                "limit; set the HostedZoneId parameter (a Route 53 zone of BaseDomain) so that "
                "imagedeploy can add load balancers, or delete a web service"
            )
        key = f"{max(int(lb.key) for lb in pool) + 1:03d}"
        name = f"{self._config.target_group_prefix}-alb-{key}"
        try:
            lb = self._elbv2.create_load_balancer(
                Name=name,
                Subnets=list(self._config.load_balancer_subnets),
                SecurityGroups=list(self._config.load_balancer_security_groups),
                Scheme="internet-facing",
                Type="application",
                Tags=[{"Key": "imagedeploy:pool", "Value": key}],
            )["LoadBalancers"][0]
        except ClientError as exc:
            if error_code(exc) != "DuplicateLoadBalancerName":
                raise
            lb = self._elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]
        listener = self._listener(lb["LoadBalancerArn"])
        made = LoadBalancer(
            key, lb["LoadBalancerArn"], listener, lb["DNSName"], lb["CanonicalHostedZoneId"], 0
        )
        self.records.add_load_balancer(made)
        return made

    def _listener(self, lb_arn: str) -> str:
        https = bool(self._config.certificate_arn)
        params: dict[str, Any] = {
            "LoadBalancerArn": lb_arn,
            "Protocol": "HTTPS" if https else "HTTP",
            "Port": 443 if https else 80,
            "DefaultActions": [
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
                }
            ],
        }
        if https:
            params["Certificates"] = [{"CertificateArn": self._config.certificate_arn}]
            params["SslPolicy"] = "ELBSecurityPolicy-TLS13-1-2-2021-06"
        listener = self._create_listener(params)
        if https:  # like the stack's ALB: plain HTTP redirects to HTTPS
            redirect = {
                "Type": "redirect",
                "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
            }
            self._create_listener(
                {
                    "LoadBalancerArn": lb_arn,
                    "Protocol": "HTTP",
                    "Port": 80,
                    "DefaultActions": [redirect],
                }
            )
        return listener

    def _create_listener(self, params: dict[str, Any]) -> str:
        try:
            return str(self._elbv2.create_listener(**params)["Listeners"][0]["ListenerArn"])
        except ClientError as exc:
            if error_code(exc) != "DuplicateListener":
                raise
        found = self._elbv2.describe_listeners(LoadBalancerArn=params["LoadBalancerArn"])
        return str(
            next(x["ListenerArn"] for x in found["Listeners"] if x["Port"] == params["Port"])
        )

    # -- one service -----------------------------------------------------------------------
    def ensure(self, spec: RunSpec) -> str:
        """The service's slot, target group, listener rule and DNS record; returns the
        target group's ARN."""
        lb, route = self.load_balancer_of(spec)
        target_group = self.ensure_target_group(spec, route)
        self.ensure_listener_rule(spec, lb.listener_arn, target_group)
        host = self.host(spec.slug or spec.internal_host)
        # Once per service: Route 53 allows 5 changes a second per account.
        if self._config.hosted_zone_id and host and route.host != host:
            if route.host:
                self._alias("DELETE", route.host, lb)
            self._alias("UPSERT", host, lb)
            self.records.set(spec.service_id, host=host)
        return target_group

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

    def ensure_target_group(self, spec: RunSpec, route: Route) -> str:
        health = self._health_check(spec.health_check_path)
        found: list[dict[str, Any]] = []
        if route.target_group_arn:
            try:
                found = self._elbv2.describe_target_groups(
                    TargetGroupArns=[route.target_group_arn]
                )["TargetGroups"]
            except ClientError as exc:
                if error_code(exc) != "TargetGroupNotFound":
                    raise
        if found:
            group = found[0]
            arn = str(group["TargetGroupArn"])
            if any(group.get(k) != v for k, v in health.items()):
                self._elbv2.modify_target_group(TargetGroupArn=arn, **health)
            return arn
        created = self._elbv2.create_target_group(
            Name=self.target_group_name(spec.service_id, spec.slug or spec.internal_host),
            Protocol="HTTP",
            ProtocolVersion="HTTP1",
            Port=spec.port,
            VpcId=self._config.vpc_id,
            TargetType="ip",
            Tags=[{"Key": k, "Value": v} for k, v in resource_tags(self._config, spec).items()],
            **health,
        )
        arn = str(created["TargetGroups"][0]["TargetGroupArn"])
        self.records.set(spec.service_id, targetGroupArn=arn)
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

    def _legacy_target_group(self, service_id: str) -> str:
        """The target group of a service routed before the pool existed (named by its id
        alone, on the stack's ALB), or ""."""
        try:
            found = self._elbv2.describe_target_groups(Names=[self.target_group_name(service_id)])
        except ClientError as exc:
            if error_code(exc) != "TargetGroupNotFound":
                raise
            return ""
        return str(found["TargetGroups"][0]["TargetGroupArn"]) if found["TargetGroups"] else ""

    def route_conditions(self, slug: str) -> list[dict[str, Any]]:
        """Host ``<slug>.<base domain>``; without a base domain the path ``/<slug>`` and
        ``/<slug>/*``, which only works for apps that serve under that prefix (the ALB does
        not strip it)."""
        if self._config.base_domain:
            host = f"{slug}.{self._config.base_domain}"
            return [{"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}]
        paths = [f"/{slug}", f"/{slug}/*"]
        return [{"Field": "path-pattern", "PathPatternConfig": {"Values": paths}}]

    def ensure_listener_rule(self, spec: RunSpec, listener_arn: str, target_group_arn: str) -> None:
        conditions = self.route_conditions(spec.slug or spec.internal_host or spec.service_id)
        actions = [{"Type": "forward", "TargetGroupArn": target_group_arn}]
        for rule in self._rules(listener_arn):
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
                    ListenerArn=listener_arn,
                    Conditions=conditions,
                    Priority=priority,
                    Actions=actions,
                    Tags=[
                        {"Key": k, "Value": v} for k, v in resource_tags(self._config, spec).items()
                    ],
                )
                return
            except ClientError as exc:
                if error_code(exc) != "PriorityInUse":
                    raise
                priority = priority % 50_000 + 1
        raise EcsRuntimeError("no free listener rule priority found")

    def _rules(self, listener_arn: str) -> Iterator[dict[str, Any]]:
        pages = self._elbv2.get_paginator("describe_rules").paginate(
            ListenerArn=listener_arn, PaginationConfig={"PageSize": 400}
        )
        for page in pages:
            yield from page.get("Rules", [])

    def target_group_arn(self, service_id: str) -> str | None:
        """The web service's target group, or None (not routed yet, or removed)."""
        return self.records.route(service_id).target_group_arn or (
            self._legacy_target_group(service_id) or None
        )

    def _alias(self, action: str, host: str, lb: LoadBalancer) -> None:
        try:
            self._route53_client().change_resource_record_sets(
                HostedZoneId=self._config.hosted_zone_id,
                ChangeBatch={
                    "Changes": [
                        {
                            "Action": action,
                            "ResourceRecordSet": {
                                "Name": host,
                                "Type": "A",
                                "AliasTarget": {
                                    "HostedZoneId": lb.zone_id,
                                    "DNSName": f"dualstack.{lb.dns_name}",
                                    "EvaluateTargetHealth": False,
                                },
                            },
                        }
                    ]
                },
            )
        except ClientError as exc:
            if action != "DELETE" or error_code(exc) != "InvalidChangeBatch":
                raise  # deleting a record that is gone already is done

    def delete_route(self, service_id: str) -> None:
        """Delete the service's rule, target group and DNS record, and free its slot."""
        route = self.records.route(service_id)
        target_group = route.target_group_arn or self._legacy_target_group(service_id)
        if target_group and not route.alb_key:  # routed before the pool: a slot of the first
            self.records.set(service_id, albKey=FIRST)
            route = dataclasses.replace(route, alb_key=FIRST)
        pool = {lb.key: lb for lb in self.records.load_balancers()}
        lb = pool.get(route.alb_key or FIRST)
        listener = lb.listener_arn if lb else self._config.listener_arn
        if target_group:
            if listener:
                for rule in list(self._rules(listener)):
                    if _forwards_to(rule, target_group) and not rule.get("IsDefault"):
                        self._elbv2.delete_rule(RuleArn=rule["RuleArn"])
            try:
                self._elbv2.delete_target_group(TargetGroupArn=target_group)
            except ClientError as exc:
                if error_code(exc) != "TargetGroupNotFound":
                    raise
        if route.host and lb is not None and self._config.hosted_zone_id:
            self._alias("DELETE", route.host, lb)
        self.records.release(route)


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
