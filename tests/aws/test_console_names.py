"""Readable names (docs/aws.md "Find it in the console"): an operator finds a service's ECS
service, task definition family and target group by the service's name, and every resource the
runtime makes carries the stack, owner, service id, name and type as tags."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from devkit.moto_aws import Aws, make_service, make_spec
from imagedeploy.adapters.aws.ecs_runtime import EcsConfig, EcsRuntime
from imagedeploy.domain.services import ServiceType

pytestmark = pytest.mark.integration

WEB = dataclasses.replace(
    make_service(service_id="srv-0000000000000000000w", name="Checkout API (EU)"),
    slug="checkout-api-eu-000w",
)
WORKER = make_service(
    ServiceType.BACKGROUND_WORKER, service_id="srv-0000000000000000000k", name="mailer"
)


def test_ecs_service_family_and_target_group_are_named_after_the_service(
    aws: Aws, runtime: EcsRuntime
) -> None:
    runtime.rollout(make_spec(WEB))

    name = f"imagedeploy-checkout-api-eu-000w_{WEB.id}"
    assert runtime.name_of(WEB.id) == name
    (service,) = aws.client("ecs").describe_services(
        cluster="imagedeploy", services=[name], include=["TAGS"]
    )["services"]
    assert service["taskDefinition"].rsplit("/", 1)[-1].startswith(f"{name}:")
    assert {t["key"]: t["value"] for t in service["tags"]}.items() >= {
        "imagedeploy:stack": "imagedeploy",
        "imagedeploy:owner": WEB.owner_id,
        "imagedeploy:service": WEB.id,
        "imagedeploy:service-name": "Checkout API _EU_",  # tag values allow no parentheses
        "imagedeploy:type": "web",
    }.items()
    elbv2 = aws.client("elbv2")
    (group,) = elbv2.describe_target_groups(
        TargetGroupArns=[runtime.records.route(WEB.id).target_group_arn]
    )["TargetGroups"]
    assert group["TargetGroupName"] == "imgd-checkout-api-eu-00-0000000w"  # cut to fit
    assert len(group["TargetGroupName"]) <= 32
    tags = elbv2.describe_tags(ResourceArns=[group["TargetGroupArn"]])["TagDescriptions"][0]
    assert {t["Key"]: t["Value"] for t in tags["Tags"]}["imagedeploy:service"] == WEB.id


def test_a_service_running_under_its_old_name_keeps_it(
    aws: Aws, runtime: EcsRuntime, ecs_config: EcsConfig, runtime_of: Callable[..., EcsRuntime]
) -> None:
    # a runtime from before names were recorded
    before = runtime_of(dataclasses.replace(ecs_config, table_name=""))
    before.rollout(make_spec(WORKER, "dep-00000000000000000001"))
    assert before.name_of(WORKER.id) == f"imagedeploy-{WORKER.id}"

    runtime.rollout(make_spec(WORKER, "dep-00000000000000000002"))

    assert runtime.name_of(WORKER.id) == f"imagedeploy-{WORKER.id}"  # ECS cannot rename
    services = aws.client("ecs").list_services(cluster="imagedeploy")["serviceArns"]
    assert len(services) == 1
