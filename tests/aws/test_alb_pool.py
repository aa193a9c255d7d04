"""Past 100 web services (docs/aws.md "Past 100 web services"): each web service takes a slot of
one ALB of a pool (ELB allows 100 target groups per ALB, not adjustable), gets its host rule
there and a Route 53 alias to that ALB; a full pool grows by one ALB; deleting frees slots that
new services reuse. Private services: Cloud Map services found by their recorded id."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from devkit.moto_aws import Alb, Aws, Network, make_service, make_spec
from imagedeploy.adapters.aws.ecs_config import EcsRuntimeError
from imagedeploy.adapters.aws.ecs_runtime import EcsConfig, EcsRuntime
from imagedeploy.domain.service_rules import unique_slug
from imagedeploy.domain.services import ServiceType
from imagedeploy.ports import RunSpec

pytestmark = pytest.mark.integration

ELB_TARGET_GROUPS_PER_ALB = 100  # ELB quota, not adjustable
ELB_RULES_PER_ALB = 100  # ELB quota (default; excluding default rules)
DOMAIN = "apps.example.com"


@pytest.fixture
def zone(aws: Aws) -> str:
    created = aws.client("route53").create_hosted_zone(Name=DOMAIN, CallerReference="apps")
    return str(created["HostedZone"]["Id"]).rsplit("/", 1)[-1]


@pytest.fixture
def pool_config(ecs_config: EcsConfig, network: Network, zone: str) -> EcsConfig:
    return dataclasses.replace(
        ecs_config,
        hosted_zone_id=zone,
        load_balancer_subnets=network.subnets,
        load_balancer_security_groups=(network.alb_sg,),
        target_group_prefix="imd0a1b2c3d",
    )


@pytest.fixture
def pooled(runtime_of: Callable[..., EcsRuntime], pool_config: EcsConfig) -> EcsRuntime:
    return runtime_of(pool_config)


def web_spec(n: int) -> RunSpec:
    service_id = f"srv-{n:020d}"
    service = make_service(service_id=service_id, name="api")
    service = dataclasses.replace(service, slug=f"api-{n}")  # unique, as the store keeps them
    return make_spec(service, f"dep-{n:020d}")


def host_rules(aws: Aws, listener_arn: str) -> dict[str, str]:
    """host -> target group ARN of a listener's rules."""
    routes: dict[str, str] = {}
    pages = aws.client("elbv2").get_paginator("describe_rules").paginate(ListenerArn=listener_arn)
    for rule in (rule for page in pages for rule in page["Rules"]):
        if rule["IsDefault"]:
            continue
        (condition,) = rule["Conditions"]
        (host,) = condition.get("HostHeaderConfig", {}).get("Values") or condition["Values"]
        (action,) = rule["Actions"]
        routes[host] = action["TargetGroupArn"]
    return routes


def aliases(aws: Aws, zone: str) -> dict[str, str]:
    """record name -> the DNS name its alias points at."""
    pages = aws.client("route53").get_paginator("list_resource_record_sets")
    return {
        r["Name"].rstrip("."): r["AliasTarget"]["DNSName"].rstrip(".")
        for page in pages.paginate(HostedZoneId=zone)
        for r in page["ResourceRecordSets"]
        if "AliasTarget" in r
    }


def check_routing(aws: Aws, runtime: EcsRuntime, zone: str, specs: list[RunSpec]) -> None:
    pool = {lb.key: lb for lb in runtime.records.load_balancers()}
    rules = {key: host_rules(aws, lb.listener_arn) for key, lb in pool.items()}
    dns = aliases(aws, zone)
    elbv2 = aws.client("elbv2")
    for spec in specs:
        route = runtime.records.route(spec.service_id)
        lb = pool[route.alb_key]
        host = f"{spec.slug}.{DOMAIN}"
        assert rules[lb.key][host] == route.target_group_arn, spec.service_id
        assert dns[host] == f"dualstack.{lb.dns_name}"
    used = Counter(runtime.records.route(s.service_id).alb_key for s in specs)
    for key, lb in pool.items():
        assert lb.used == used[key]  # the counter is the truth
        groups = elbv2.describe_target_groups(LoadBalancerArn=lb.arn)["TargetGroups"]
        assert len(groups) <= ELB_TARGET_GROUPS_PER_ALB
        assert len(rules[key]) <= ELB_RULES_PER_ALB


def test_250_web_services_route_through_a_pool_of_albs(
    aws: Aws, pooled: EcsRuntime, zone: str, alb: Alb
) -> None:
    specs = [web_spec(n) for n in range(250)]
    for spec in specs:
        pooled.routing.ensure(spec)

    pool = pooled.records.load_balancers()
    assert [(lb.key, lb.used) for lb in pool] == [("000", 100), ("001", 100), ("002", 50)]
    assert pool[0].listener_arn == alb.listener_arn  # the stack's own ALB comes first
    assert len({s.slug for s in specs}) == 250
    check_routing(aws, pooled, zone, specs)

    # Ensuring again (a redeploy, a retried job) keeps every service where it is.
    for spec in specs[:5] + specs[120:125]:
        pooled.routing.ensure(spec)
    assert [lb.used for lb in pooled.records.load_balancers()] == [100, 100, 50]

    # Deleting frees slots; new services fill them before any new ALB is made.
    for spec in specs[10:20]:
        pooled.routing.delete_route(spec.service_id)
    assert [lb.used for lb in pooled.records.load_balancers()] == [90, 100, 50]
    newcomers = [web_spec(n) for n in range(1000, 1060)]
    for spec in newcomers:
        pooled.routing.ensure(spec)
    assert [lb.used for lb in pooled.records.load_balancers()] == [100, 100, 100]
    assert {pooled.records.route(s.service_id).alb_key for s in newcomers[:10]} == {"000"}
    remaining = specs[:10] + specs[20:] + newcomers
    check_routing(aws, pooled, zone, remaining)
    gone = aliases(aws, zone)
    assert all(f"{s.slug}.{DOMAIN}" not in gone for s in specs[10:20])


def test_two_creations_racing_for_the_last_slot_cannot_both_win(pooled: EcsRuntime) -> None:
    specs = [web_spec(n) for n in range(100)]
    for spec in specs[:99]:
        pooled.routing.ensure(spec)
    (first,) = pooled.records.load_balancers()
    assert first.used == 99
    # Both read the pool before either claimed: the transaction's condition decides.
    wins = [pooled.records.claim(f"srv-race{n}", first, 100) for n in range(2)]
    assert sorted(wins) == [False, True]
    assert pooled.records.load_balancers()[0].used == 100
    # A service that holds a slot never takes a second one.
    assert (
        pooled.records.claim(specs[0].service_id, dataclasses.replace(first, used=0), 101) is False
    )


def test_without_a_hosted_zone_the_stacks_alb_is_the_whole_pool(
    ecs_config: EcsConfig, alb: Alb, runtime_of: Callable[..., EcsRuntime]
) -> None:
    runtime = runtime_of(dataclasses.replace(ecs_config, services_per_load_balancer=2))
    for n in range(2):
        runtime.routing.ensure(web_spec(n))
    with pytest.raises(EcsRuntimeError, match="HostedZoneId"):
        runtime.routing.ensure(web_spec(2))
    assert [lb.key for lb in runtime.records.load_balancers()] == ["000"]


def test_a_stack_upgraded_from_one_alb_counts_the_rules_already_there(
    aws: Aws, pooled: EcsRuntime, alb: Alb, network: Network
) -> None:
    elbv2 = aws.client("elbv2")
    for n in range(3):  # routed before the pool: rules on the stack's listener
        group = elbv2.create_target_group(
            Name=f"imd0a1b2c3d-legacy{n}", Protocol="HTTP", Port=80, VpcId=network.vpc_id
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.create_rule(
            ListenerArn=alb.listener_arn,
            Priority=n + 1,
            Conditions=[{"Field": "host-header", "Values": [f"old{n}.{DOMAIN}"]}],
            Actions=[{"Type": "forward", "TargetGroupArn": group}],
        )
    pooled.routing.ensure(web_spec(0))
    assert [lb.used for lb in pooled.records.load_balancers()] == [4]


# -- private services ---------------------------------------------------------------------------


def private_spec(n: int) -> RunSpec:
    service_id = f"srv-{n:019d}p"
    service = make_service(ServiceType.PRIVATE_SERVICE, service_id=service_id, name="api")
    service = dataclasses.replace(service, slug=unique_slug("api", service_id))
    return make_spec(service, f"dep-{n:020d}")


def instances(aws: Aws, arn: str) -> list[dict[str, Any]]:
    discovery = aws.client("servicediscovery")
    return list(discovery.list_instances(ServiceId=arn.rsplit("/", 1)[-1])["Instances"])


def test_two_private_services_named_alike_keep_separate_cloud_map_services(
    aws: Aws, runtime: EcsRuntime
) -> None:
    one, two = private_spec(1), private_spec(2)
    arn_one, arn_two = runtime.discovery.ensure(one), runtime.discovery.ensure(two)
    assert arn_one != arn_two
    assert runtime.discovery.ensure(one) == arn_one  # found again by its recorded id
    discovery = aws.client("servicediscovery")
    for arn, ip in ((arn_one, "10.20.1.10"), (arn_two, "10.20.1.20")):
        discovery.register_instance(
            ServiceId=arn.rsplit("/", 1)[-1],
            InstanceId=f"task-{ip}",
            Attributes={"AWS_INSTANCE_IPV4": ip},
        )

    runtime.remove(one.service_id)

    assert [i["Id"] for i in instances(aws, arn_two)] == ["task-10.20.1.20"]
    assert runtime.discovery.services_of(two.service_id) == [arn_two]
    assert runtime.discovery.services_of(one.service_id) == []


def test_new_albs_get_the_stacks_https_listener_and_the_http_redirect(
    aws: Aws, pool_config: EcsConfig, zone: str, runtime_of: Callable[..., EcsRuntime]
) -> None:
    certificate = aws.client("acm").request_certificate(
        DomainName=f"*.{DOMAIN}", ValidationMethod="DNS"
    )["CertificateArn"]
    pooled = runtime_of(
        dataclasses.replace(pool_config, services_per_load_balancer=1, certificate_arn=certificate),
    )
    for n in range(2):
        pooled.routing.ensure(web_spec(n))

    _, second = pooled.records.load_balancers()
    listeners = aws.client("elbv2").describe_listeners(LoadBalancerArn=second.arn)["Listeners"]
    by_port = {listener["Port"]: listener for listener in listeners}
    assert by_port[443]["Protocol"] == "HTTPS"
    assert by_port[443]["Certificates"][0]["CertificateArn"] == certificate
    assert by_port[443]["ListenerArn"] == second.listener_arn
    assert by_port[80]["DefaultActions"][0]["Type"] == "redirect"
    (lb,) = aws.client("elbv2").describe_load_balancers(LoadBalancerArns=[second.arn])[
        "LoadBalancers"
    ]
    assert lb["LoadBalancerName"] == "imd0a1b2c3d-alb-001"
    check_routing(aws, pooled, zone, [web_spec(0), web_spec(1)])
