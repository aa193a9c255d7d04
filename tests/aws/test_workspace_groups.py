"""One security group per workspace for private services (issue 10, item 6), under moto: a
private service's tasks are in their workspace's group alone, which admits its own members only;
every other task of the workspace joins that group too; another workspace gets its own."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from devkit.moto_aws import Aws, make_service, make_spec, record
from imagedeploy.adapters.aws.ecs_runtime import EcsConfig, EcsRuntime
from imagedeploy.domain.services import ServiceType

pytestmark = pytest.mark.integration

PRIVATE = make_service(ServiceType.PRIVATE_SERVICE, service_id="srv-0000000000000000000p")
WEB = make_service(service_id="srv-0000000000000000000w")
WORKER = make_service(ServiceType.BACKGROUND_WORKER, service_id="srv-0000000000000000000k")
OTHER_OWNER = "tea-00000000000000000other"


@pytest.fixture
def runtime(runtime_of: Callable[..., EcsRuntime], ecs_config: EcsConfig) -> EcsRuntime:
    return runtime_of(dataclasses.replace(ecs_config, workspace_security_groups=True))


def groups_of(calls: list[dict[str, object]]) -> list[str]:
    network = calls[-1]["networkConfiguration"]
    return list(network["awsvpcConfiguration"]["securityGroups"])  # type: ignore[index]


def test_a_workspaces_private_services_admit_its_own_tasks_only(
    aws: Aws, runtime: EcsRuntime, ecs_config: EcsConfig
) -> None:
    calls = record(aws.client("ecs"))
    runtime.rollout(make_spec(PRIVATE, command=None))
    (workspace,) = groups_of(calls.of("CreateService"))
    assert workspace not in ecs_config.private_security_groups  # not the VPC-wide group

    runtime.rollout(make_spec(WEB))
    assert groups_of(calls.of("CreateService")) == [*ecs_config.security_groups, workspace]
    runtime.start_cron_run(make_spec(WORKER, command=("report",)), "run-0000000000000000001")
    assert groups_of(calls.of("RunTask")) == [*ecs_config.worker_groups, workspace]

    ec2 = aws.client("ec2")
    (group,) = ec2.describe_security_groups(GroupIds=[workspace])["SecurityGroups"]
    assert group["GroupName"] == f"imagedeploy-ws-{PRIVATE.owner_id}"
    assert group["VpcId"] == ecs_config.vpc_id
    (rule,) = group["IpPermissions"]
    assert rule["IpProtocol"] == "-1"
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [workspace]  # its members only
    assert rule.get("IpRanges", []) == []
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags == {"imagedeploy:stack": "imagedeploy", "imagedeploy:owner": PRIVATE.owner_id}

    other = dataclasses.replace(make_spec(WORKER, "dep-00000000000000000009"), owner_id=OTHER_OWNER)
    runtime.rollout(other)
    other_groups = groups_of(calls.of("CreateService"))
    assert workspace not in other_groups and len(other_groups) == 2


def test_the_group_is_found_again_by_a_new_cold_start(
    aws: Aws,
    runtime: EcsRuntime,
    ecs_config: EcsConfig,
    runtime_of: Callable[..., EcsRuntime],
) -> None:
    first = runtime.workspaces.ensure(PRIVATE.owner_id)
    fresh = runtime_of(dataclasses.replace(ecs_config, workspace_security_groups=True))
    assert fresh.workspaces.ensure(PRIVATE.owner_id) == first
    named = aws.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"imagedeploy-ws-{PRIVATE.owner_id}"]}]
    )["SecurityGroups"]
    assert len(named) == 1
