"""``EcsRuntime`` under moto: task definitions, ECS services (web behind the ALB, private with
Cloud Map, workers), one-off tasks (pre-deploy, cron), cancel/suspend/converge/restart/remove,
and ``describe`` for the reconcile step.

moto gaps, and what the tests do about them (each named where it matters):

- moto accepts ``deploymentConfiguration`` but does not keep it, and ``healthCheckGracePeriod``
  likewise: the requests are recorded (``record``: a botocore event hook, moto still answers)
  and checked there.
- moto never launches a service's tasks and never moves a deployment's ``rolloutState`` by
  itself (``MOTO_ECS_SERVICE_RUNNING`` makes new deployments COMPLETED). A service task that
  stopped is stood in for by a ``RunTask`` with the deployment id as ``startedBy`` (what ECS
  gives the tasks a service starts), stopped with an ECS-worded reason.
- moto's ``StopTask`` sets no ``stopCode`` and its containers always exit 0, so the stop
  classification is tested on real-shaped ECS documents in ``tests/unit/test_ecs_rules.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from devkit.moto_aws import (
    ACCOUNT,
    DIGEST,
    REGION,
    Alb,
    Aws,
    Network,
    ghcr_credential,
    make_service,
    make_spec,
    record,
    task_env,
)
from imagedeploy.adapters.aws.ecs_runtime import EcsConfig, EcsRuntime, EcsRuntimeError
from imagedeploy.domain.deploy_machine import Phase, PullFailed, RolloutHealthy
from imagedeploy.domain.ecs_rules import CONTAINER, DEPLOYMENT_CONFIGURATION, RolloutRef
from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.registries import RegistryCredential, RegistryKind
from imagedeploy.domain.services import Plan, ServiceType

pytestmark = pytest.mark.integration

DEP1, DEP2, DEP3 = (f"dep-{n:020d}" for n in (1, 2, 3))
WEB = make_service(health_check_path="/healthz", max_shutdown_delay_seconds=300)
PRIVATE = make_service(
    ServiceType.PRIVATE_SERVICE, service_id="srv-0000000000000000000p", name="orders api"
)
WORKER = make_service(
    ServiceType.BACKGROUND_WORKER, service_id="srv-0000000000000000000k", name="queue worker"
)
CRON = make_service(ServiceType.CRON_JOB, service_id="crn-0000000000000000000c", name="nightly")


def ecs_service(aws: Aws, runtime: EcsRuntime, service_id: str) -> dict[str, Any]:
    found = aws.client("ecs").describe_services(
        cluster="imagedeploy", services=[runtime.name_of(service_id)], include=["TAGS"]
    )["services"]
    assert found, f"no ECS service for {service_id}"
    return dict(found[0])


def task_definition(aws: Aws, arn: str) -> dict[str, Any]:
    answer = aws.client("ecs").describe_task_definition(taskDefinition=arn, include=["TAGS"])
    return {**answer["taskDefinition"], "tags": answer.get("tags", [])}


def tasks_started_by(aws: Aws, started_by: str, status: str = "RUNNING") -> list[dict[str, Any]]:
    ecs = aws.client("ecs")
    arns = ecs.list_tasks(cluster="imagedeploy", startedBy=started_by, desiredStatus=status)[
        "taskArns"
    ]
    if not arns:
        return []
    return list(ecs.describe_tasks(cluster="imagedeploy", tasks=arns, include=["TAGS"])["tasks"])


# -- task definitions ---------------------------------------------------------------------------


def test_task_definition_is_pinned_fargate_x86_linux_and_sized_up(
    aws: Aws, runtime: EcsRuntime
) -> None:
    ref = runtime.rollout(make_spec(WEB, DEP1))

    td = task_definition(aws, ref.task_definition_arn)
    # Found in the console by the service's name; the id after "_" ties it back.
    assert td["family"] == f"imagedeploy-shop-web_{WEB.id}"
    assert runtime.service_id_of(td["taskDefinitionArn"]) == WEB.id
    assert runtime.service_id_of(f"imagedeploy-{WEB.id}") == WEB.id  # named before
    assert td["requiresCompatibilities"] == ["FARGATE"]
    assert td["networkMode"] == "awsvpc"
    assert td["runtimePlatform"] == {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"}
    # starter is 0.5 vCPU / 512 MB; the nearest valid Fargate size at or above is 512 / 1024
    assert (td["cpu"], td["memory"]) == ("512", "1024")
    assert td["executionRoleArn"].endswith("role/imagedeploy-execution")
    assert td["taskRoleArn"].endswith("role/imagedeploy-task")
    (container,) = td["containerDefinitions"]
    assert container["name"] == CONTAINER
    assert container["image"] == f"ghcr.io/acme/shop@{DIGEST}"  # the digest, never a tag
    assert container["memory"] == 1024
    assert container["command"] == ["bin/server", "--port", "10000"]
    assert container["stopTimeout"] == 120  # maxShutdownDelaySeconds 300, capped at Fargate's
    assert container["portMappings"] == [{"containerPort": 10000, "protocol": "tcp"}]
    env = task_env(aws, container)
    assert env["PORT"] == "10000"
    assert env["RENDER_DEPLOY_ID"] == DEP1
    assert env["RENDER_SERVICE_TYPE"] == "web"
    assert "repositoryCredentials" not in container  # no credential: a public image
    log = container["logConfiguration"]
    assert log["logDriver"] == "awslogs"
    assert log["options"]["awslogs-group"] == f"/imagedeploy/services/{WEB.id}"
    assert log["options"]["awslogs-region"] == REGION
    groups = aws.client("logs").describe_log_groups(logGroupNamePrefix="/imagedeploy/services/")
    assert [g["logGroupName"] for g in groups["logGroups"]] == [f"/imagedeploy/services/{WEB.id}"]
    group_tags = aws.client("logs").list_tags_for_resource(
        resourceArn=groups["logGroups"][0]["arn"].removesuffix(":*")
    )["tags"]
    assert group_tags["imagedeploy:service"] == WEB.id
    assert group_tags["imagedeploy:stack"] == "imagedeploy"  # EcsConfig.name_prefix
    assert {t["key"]: t["value"] for t in td["tags"]}["imagedeploy:deploy"] == DEP1


def test_bigger_plans_get_their_fargate_size(aws: Aws, runtime: EcsRuntime) -> None:
    big = make_service(
        ServiceType.BACKGROUND_WORKER,
        service_id="srv-000000000000000000bg",
        name="crunch",
        plan=Plan.PRO_MAX,
    )
    td = task_definition(aws, runtime.rollout(make_spec(big, DEP1)).task_definition_arn)
    assert (td["cpu"], td["memory"]) == ("4096", "16384")


def test_private_registry_gets_repository_credentials(
    aws: Aws, runtime: EcsRuntime, secret_arns: dict[str, str]
) -> None:
    arn = aws.client("secretsmanager").create_secret(
        Name="imagedeploy/registry/rgc-1",
        SecretString='{"username": "octocat", "password": "ghp_s3cr3t"}',
    )["ARN"]
    secret_arns["rgc-00000000000000000001"] = arn
    spec = make_spec(
        WEB, DEP1, credential=ghcr_credential(), credential_id="rgc-00000000000000000001"
    )

    td = task_definition(aws, runtime.rollout(spec).task_definition_arn)

    (container,) = td["containerDefinitions"]
    assert container["repositoryCredentials"] == {"credentialsParameter": arn}
    assert "ghp_s3cr3t" not in str(td)  # the token itself never goes into ECS


def test_ecr_images_pull_through_the_execution_role(aws: Aws, runtime: EcsRuntime) -> None:
    ecr_image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/shop@{DIGEST}"
    stored = RegistryCredential(RegistryKind.AWS_ECR, ACCOUNT, _secret("eyJ-ecr-token"))
    spec = make_spec(WEB, DEP1, image=ecr_image, credential=stored, credential_id="rgc-x")

    td = task_definition(aws, runtime.rollout(spec).task_definition_arn)

    (container,) = td["containerDefinitions"]
    assert container["image"] == ecr_image
    assert "repositoryCredentials" not in container


def test_private_registry_without_a_credential_id_is_refused(runtime: EcsRuntime) -> None:
    spec = make_spec(WEB, DEP1, credential=ghcr_credential(), credential_id=None)
    with pytest.raises(EcsRuntimeError, match="credential_id"):
        runtime.rollout(spec)


def test_a_task_definition_is_registered_only_when_its_content_changes(
    aws: Aws, runtime: EcsRuntime
) -> None:
    spec = make_spec(WORKER, DEP1)
    first = runtime.rollout(spec).task_definition_arn
    runtime.start_cron_run(spec, "run-00000000000000000001")  # same content: same revision
    runtime.converge(spec)
    arns = aws.client("ecs").list_task_definitions(familyPrefix=runtime.name_of(WORKER.id))
    assert arns["taskDefinitionArns"] == [first]

    second = runtime.rollout(make_spec(WORKER, DEP2)).task_definition_arn
    assert second.endswith(":2")


# -- services ---------------------------------------------------------------------------------


def test_web_service_runs_behind_the_alb_with_a_target_group_and_host_rule(
    aws: Aws, runtime: EcsRuntime, alb: Alb, network: Network
) -> None:
    calls = record(aws.client("ecs"))

    ref = runtime.rollout(make_spec(WEB, DEP1))

    service = ecs_service(aws, runtime, WEB.id)
    assert service["launchType"] == "FARGATE"
    assert service["desiredCount"] == 1
    assert service["taskDefinition"] == ref.task_definition_arn
    assert service["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"] == [
        network.tasks_sg
    ]
    (lb,) = service["loadBalancers"]
    assert (lb["containerName"], lb["containerPort"]) == (CONTAINER, 10000)
    (create,) = calls.of("CreateService")  # moto keeps neither of these: check the request
    assert create["deploymentConfiguration"] == DEPLOYMENT_CONFIGURATION
    assert create["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": True,
        "rollback": True,
    }
    assert create["healthCheckGracePeriodSeconds"] == 300  # the default; see the test below
    assert create["propagateTags"] == "TASK_DEFINITION"

    elbv2 = aws.client("elbv2")
    (group,) = elbv2.describe_target_groups(TargetGroupArns=[lb["targetGroupArn"]])["TargetGroups"]
    assert group["TargetGroupName"] == f"imgd-shop-web-{WEB.id[-8:]}"  # readable in the console
    assert group["TargetType"] == "ip"
    assert group["VpcId"] == network.vpc_id
    assert group["HealthCheckProtocol"] == "HTTP"
    assert group["HealthCheckPath"] == "/healthz"
    assert group["Matcher"] == {"HttpCode": "200-399"}
    assert group["HealthCheckTimeoutSeconds"] == 5

    rules = [
        r for r in elbv2.describe_rules(ListenerArn=alb.listener_arn)["Rules"] if not r["IsDefault"]
    ]
    (rule,) = rules
    assert rule["Actions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
    (condition,) = rule["Conditions"]
    assert condition["Field"] == "host-header"
    assert condition["HostHeaderConfig"]["Values"] == [f"{WEB.slug}.apps.example.com"]


def test_without_a_base_domain_web_services_get_a_path_rule_and_any_http_answer_is_healthy(
    aws: Aws, ecs_config: EcsConfig, alb: Alb, runtime_of: Callable[..., EcsRuntime]
) -> None:
    runtime = runtime_of(dataclasses.replace(ecs_config, base_domain=""))
    no_path = make_service(service_id="srv-00000000000000000np", name="plain")

    runtime.rollout(make_spec(no_path, DEP1))

    elbv2 = aws.client("elbv2")
    (group,) = elbv2.describe_target_groups(Names=[f"imgd-plain-{no_path.id[-8:]}"])["TargetGroups"]
    # An ALB has no TCP health check: GET / and accept any HTTP answer, the nearest to a connect.
    assert (group["HealthCheckPath"], group["Matcher"]) == ("/", {"HttpCode": "200-499"})
    (rule,) = [
        r for r in elbv2.describe_rules(ListenerArn=alb.listener_arn)["Rules"] if not r["IsDefault"]
    ]
    assert rule["Conditions"][0]["Field"] == "path-pattern"
    assert rule["Conditions"][0]["PathPatternConfig"]["Values"] == ["/plain", "/plain/*"]


def test_two_web_services_get_distinct_rule_priorities(
    aws: Aws, runtime: EcsRuntime, alb: Alb
) -> None:
    other = make_service(service_id="srv-0000000000000000000x", name="admin")
    runtime.rollout(make_spec(WEB, DEP1))
    runtime.rollout(make_spec(other, DEP2))
    runtime.rollout(make_spec(WEB, DEP3))  # a second deploy keeps its one rule

    rules = aws.client("elbv2").describe_rules(ListenerArn=alb.listener_arn)["Rules"]
    priorities = [r["Priority"] for r in rules if not r["IsDefault"]]
    assert len(priorities) == 2 and len(set(priorities)) == 2


def test_private_service_registers_in_cloud_map_in_the_vpc_only_group(
    aws: Aws, runtime: EcsRuntime, network: Network, namespace: str
) -> None:
    runtime.rollout(make_spec(PRIVATE, DEP1))

    service = ecs_service(aws, runtime, PRIVATE.id)
    assert service["loadBalancers"] == []
    (registry,) = service["serviceRegistries"]
    assert service["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"] == [
        network.private_sg
    ]
    discovery = aws.client("servicediscovery")
    found = discovery.get_service(Id=registry["registryArn"].rsplit("/", 1)[-1])["Service"]
    assert found["Name"] == PRIVATE.slug  # reachable as <slug>.internal
    assert found["NamespaceId"] == namespace
    assert found["DnsConfig"]["DnsRecords"] == [{"Type": "A", "TTL": 10}]

    runtime.rollout(make_spec(PRIVATE, DEP2))  # the next deploy reuses the Cloud Map service
    assert len(list(discovery.list_services()["Services"])) == 1


def test_worker_has_no_load_balancer_and_no_ports(aws: Aws, runtime: EcsRuntime) -> None:
    ref = runtime.rollout(make_spec(WORKER, DEP1, command=("bin/work",)))

    service = ecs_service(aws, runtime, WORKER.id)
    assert service["loadBalancers"] == []
    assert service["serviceRegistries"] == []
    (container,) = task_definition(aws, ref.task_definition_arn)["containerDefinitions"]
    assert container.get("portMappings", []) == []  # moto lists an empty one
    assert "PORT" not in task_env(aws, container)


def test_a_rollout_is_recorded_on_the_service_and_the_next_one_remembers_the_previous(
    aws: Aws, runtime: EcsRuntime
) -> None:
    calls = record(aws.client("ecs"))
    first = runtime.rollout(make_spec(WEB, DEP1))
    assert first.previous_task_definition_arn == ""
    assert first.deployment_id.startswith("ecs-svc/")

    second = runtime.rollout(make_spec(WEB, DEP2))

    assert second.previous_task_definition_arn == first.task_definition_arn
    assert second.deployment_id != first.deployment_id
    assert runtime.rollout_ref(WEB.id) == second
    (update,) = calls.of("UpdateService")
    assert update["taskDefinition"] == second.task_definition_arn
    assert update["forceNewDeployment"] is True
    assert update["deploymentConfiguration"] == DEPLOYMENT_CONFIGURATION
    tags = {t["key"]: t["value"] for t in ecs_service(aws, runtime, WEB.id)["tags"]}
    assert tags["imagedeploy:deploy"] == DEP2
    assert tags["imagedeploy:ecs-deployment"] == second.deployment_id


def test_a_crash_between_update_and_tags_is_completed_by_the_retry(
    aws: Aws, runtime: EcsRuntime
) -> None:
    runtime.rollout(make_spec(WEB, DEP1))
    live = runtime.rollout(make_spec(WEB, DEP2))
    # The first attempt of DEP3 registered its revision and updated the service, then died
    # before writing the tags.
    revision = runtime.task_definitions.ensure(make_spec(WEB, DEP3))
    ecs = aws.client("ecs")
    ecs.update_service(
        cluster="imagedeploy", service=runtime.name_of(WEB.id), taskDefinition=revision
    )
    calls = record(ecs)

    ref = runtime.rollout(make_spec(WEB, DEP3))

    assert "UpdateService" not in calls.names()  # no second deployment
    assert (ref.deploy_id, ref.task_definition_arn) == (DEP3, revision)
    assert ref.previous_task_definition_arn == live.task_definition_arn
    assert runtime.rollout_ref(WEB.id) == ref


def test_tags_a_rollout_leaves_empty_are_removed(aws: Aws, runtime: EcsRuntime) -> None:
    first = runtime.rollout(make_spec(WEB, DEP1))
    second = runtime.rollout(make_spec(WEB, DEP2))
    arn = ecs_service(aws, runtime, WEB.id)["serviceArn"]
    old = {t["key"]: t["value"] for t in second.tags()}

    runtime.services.record(arn, first, old)  # a ref without a previous task definition

    assert runtime.rollout_ref(WEB.id) == first


def test_start_rollout_is_idempotent_per_deploy(aws: Aws, runtime: EcsRuntime) -> None:
    runtime.rollout(make_spec(WEB, DEP1))
    ref = runtime.rollout(make_spec(WEB, DEP2))
    calls = record(aws.client("ecs"))

    runtime.start_rollout(make_spec(WEB, DEP2))  # a retried job
    again = runtime.rollout(make_spec(WEB, DEP2))

    assert again == ref
    assert "UpdateService" not in calls.names()
    assert "RegisterTaskDefinition" not in calls.names()


def test_cron_jobs_have_no_service(runtime: EcsRuntime) -> None:
    with pytest.raises(ValueError, match="cron"):
        runtime.rollout(make_spec(CRON, DEP1, command=("bin/report",)))


# -- one-off tasks ------------------------------------------------------------------------------


def test_pre_deploy_runs_one_task_of_the_new_digest_with_the_command(
    aws: Aws, runtime: EcsRuntime, network: Network
) -> None:
    runtime.rollout(make_spec(WEB, DEP1))
    spec = make_spec(WEB, DEP2, command=("bin/migrate", "--all"))
    calls = record(aws.client("ecs"))

    runtime.start_pre_deploy(spec, f"{DEP2}-pre")
    runtime.start_pre_deploy(spec, f"{DEP2}-pre")  # idempotent: listed by startedBy first

    (task,) = tasks_started_by(aws, DEP2)
    assert task["startedBy"] == DEP2
    assert task["launchType"] == "FARGATE"
    assert task["overrides"]["containerOverrides"] == [
        {"name": CONTAINER, "command": ["bin/migrate", "--all"]}
    ]
    tags = {t["key"]: t["value"] for t in task["tags"]}
    assert tags == {
        "imagedeploy:stack": "imagedeploy",
        "imagedeploy:owner": WEB.owner_id,
        "imagedeploy:service": WEB.id,
        "imagedeploy:service-name": "shop web",
        "imagedeploy:type": "web",
        "imagedeploy:deploy": DEP2,
        "imagedeploy:role": "pre_deploy",
    }
    td = task_definition(aws, task["taskDefinitionArn"])
    assert td["containerDefinitions"][0]["image"] == f"ghcr.io/acme/shop@{DIGEST}"
    (run,) = calls.of("RunTask")
    vpc = run["networkConfiguration"]["awsvpcConfiguration"]
    assert vpc["subnets"] == list(network.subnets)
    assert vpc["securityGroups"] == [network.tasks_sg]
    assert vpc["assignPublicIp"] == "DISABLED"
    # the live service is untouched by a pre-deploy
    assert ecs_service(aws, runtime, WEB.id)["taskDefinition"].endswith(":1")


def test_a_finished_pre_deploy_is_never_run_again(aws: Aws, runtime: EcsRuntime) -> None:
    spec = make_spec(WEB, DEP1, command=("bin/migrate",))
    runtime.start_pre_deploy(spec, f"{DEP1}-pre")
    (task,) = tasks_started_by(aws, DEP1)
    aws.client("ecs").stop_task(cluster="imagedeploy", task=task["taskArn"], reason="done")

    runtime.start_pre_deploy(spec, f"{DEP1}-pre")

    assert tasks_started_by(aws, DEP1) == []
    assert len(tasks_started_by(aws, DEP1, "STOPPED")) == 1


def test_cron_runs_start_once_per_run_and_stop(aws: Aws, runtime: EcsRuntime) -> None:
    spec = make_spec(CRON, DEP1, command=("bin/report", "--daily"))
    run = "run-00000000000000000007"

    runtime.start_cron_run(spec, run)
    runtime.start_cron_run(spec, run)

    (task,) = tasks_started_by(aws, run)
    assert task["overrides"]["containerOverrides"][0]["command"] == ["bin/report", "--daily"]
    assert {t["key"]: t["value"] for t in task["tags"]}["imagedeploy:run"] == run

    runtime.stop_cron_run(CRON.id, run)

    assert tasks_started_by(aws, run) == []
    (stopped,) = tasks_started_by(aws, run, "STOPPED")
    assert stopped["stoppedReason"] == "cron run stopped"
    state = runtime.one_off_task(run)  # what reconcile reads when the event was lost
    assert state is not None
    assert (state.started_by, state.stopped, state.stopped_reason) == (
        run,
        True,
        "cron run stopped",
    )
    assert runtime.one_off_task("run-00000000000000000404") is None


# -- cancel, suspend, converge, restart, remove -------------------------------------------------


def test_cancel_rolls_the_service_back_to_the_live_task_definition(
    aws: Aws, runtime: EcsRuntime
) -> None:
    live = runtime.rollout(make_spec(WEB, DEP1))
    runtime.start_pre_deploy(make_spec(WEB, DEP2, command=("bin/migrate",)), f"{DEP2}-pre")
    runtime.rollout(make_spec(WEB, DEP2))

    runtime.cancel(WEB.id, DEP2)
    runtime.cancel(WEB.id, DEP2)  # twice: the second finds it rolled back already

    assert ecs_service(aws, runtime, WEB.id)["taskDefinition"] == live.task_definition_arn
    assert tasks_started_by(aws, DEP2) == []  # the pre-deploy task was stopped


def test_cancel_of_a_first_deploy_scales_to_zero(aws: Aws, runtime: EcsRuntime) -> None:
    runtime.rollout(make_spec(WORKER, DEP1))

    runtime.cancel(WORKER.id, DEP1)

    assert ecs_service(aws, runtime, WORKER.id)["desiredCount"] == 0


def test_cancel_of_another_deploy_leaves_the_service_alone(aws: Aws, runtime: EcsRuntime) -> None:
    runtime.rollout(make_spec(WEB, DEP1))
    calls = record(aws.client("ecs"))

    runtime.cancel(WEB.id, DEP3)  # never reached the service (e.g. canceled in its preflight)
    runtime.cancel("srv-0000000000000000nope", DEP3)

    assert "UpdateService" not in calls.names()


def test_suspend_converge_and_restart(aws: Aws, runtime: EcsRuntime) -> None:
    ref = runtime.rollout(make_spec(WEB, DEP1))

    runtime.suspend(WEB.id)
    assert ecs_service(aws, runtime, WEB.id)["desiredCount"] == 0

    runtime.converge(make_spec(WEB, DEP1, num_instances=3))  # resume, scaled
    service = ecs_service(aws, runtime, WEB.id)
    assert service["desiredCount"] == 3
    assert service["taskDefinition"] == ref.task_definition_arn  # no new revision

    calls = record(aws.client("ecs"))
    runtime.restart(make_spec(WEB, DEP1, num_instances=3))
    (update,) = calls.of("UpdateService")
    assert update["forceNewDeployment"] is True
    assert "taskDefinition" not in update
    assert ecs_service(aws, runtime, WEB.id)["deployments"][0]["id"] != ref.deployment_id

    runtime.suspend("srv-0000000000000000nope")  # nothing to suspend: no error


def test_remove_deletes_the_service_and_its_routing(
    aws: Aws, runtime: EcsRuntime, alb: Alb
) -> None:
    runtime.rollout(make_spec(WEB, DEP1))
    runtime.rollout(make_spec(PRIVATE, DEP1))
    runtime.start_pre_deploy(make_spec(WEB, DEP2, command=("bin/migrate",)), f"{DEP2}-pre")

    runtime.remove(WEB.id)
    runtime.remove(PRIVATE.id)
    runtime.remove(WEB.id)  # idempotent

    ecs = aws.client("ecs")
    for service_id in (WEB.id, PRIVATE.id):
        found = ecs.describe_services(
            cluster="imagedeploy", services=[runtime.name_of(service_id)]
        )["services"]
        assert all(s["status"] != "ACTIVE" for s in found)
        active = ecs.list_task_definitions(
            familyPrefix=runtime.name_of(service_id), status="ACTIVE"
        )["taskDefinitionArns"]
        assert active == []
    assert tasks_started_by(aws, DEP2) == []
    elbv2 = aws.client("elbv2")
    assert [
        r for r in elbv2.describe_rules(ListenerArn=alb.listener_arn)["Rules"] if not r["IsDefault"]
    ] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    assert aws.client("servicediscovery").list_services()["Services"] == []
    assert runtime.rollout_ref(WEB.id) is None


# -- reading ECS back -----------------------------------------------------------------------------


def test_describe_reports_a_completed_rollout_as_healthy(
    aws: Aws, runtime: EcsRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")  # moto: deployments start COMPLETED
    ref = runtime.rollout(make_spec(WORKER, DEP1))

    status = runtime.describe(WORKER.id, DEP1)

    assert status.is_current_rollout
    assert status.deployment is not None
    assert status.deployment.id == ref.deployment_id
    assert status.deployment.rollout_state == "COMPLETED"
    assert status.running_count == 1
    assert status.memory_mb == 1024
    assert status.rollout_signal() == RolloutHealthy()


def test_describe_fails_fast_on_a_task_of_the_rollout_that_could_not_pull(
    aws: Aws, runtime: EcsRuntime, network: Network
) -> None:
    ref = runtime.rollout(make_spec(WORKER, DEP1))
    assert runtime.describe(WORKER.id, DEP1).rollout_signal() is None  # in progress
    # moto gap: a service's tasks are never launched. Stand in for one: RunTask with the ECS
    # deployment id as startedBy (what ECS gives a service's tasks), stopped the way ECS words
    # a pull failure.
    ecs = aws.client("ecs")
    task = ecs.run_task(
        cluster="imagedeploy",
        taskDefinition=ref.task_definition_arn,
        launchType="FARGATE",
        startedBy=ref.deployment_id,
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": list(network.subnets),
                "securityGroups": [network.tasks_sg],
            }
        },
    )["tasks"][0]
    ecs.stop_task(
        cluster="imagedeploy",
        task=task["taskArn"],
        reason="CannotPullContainerError: pull image manifest has been retried 5 time(s): "
        "failed to resolve ref ghcr.io/acme/shop@sha256:abab: not found",
    )

    signal = runtime.describe(WORKER.id, DEP1).rollout_signal()

    assert isinstance(signal, PullFailed)
    assert (signal.phase, signal.reason) == (Phase.ROLLOUT, PullFailureReason.NOT_FOUND)


def test_describe_of_a_superseded_deploy_says_nothing(aws: Aws, runtime: EcsRuntime) -> None:
    runtime.rollout(make_spec(WEB, DEP1))
    runtime.rollout(make_spec(WEB, DEP2))

    status = runtime.describe(WEB.id, DEP1)

    assert not status.is_current_rollout
    assert status.deployment is None
    assert status.rollout_signal() is None


def test_describe_after_ecs_rolled_back_reports_the_rollout_failed(
    aws: Aws, runtime: EcsRuntime
) -> None:
    live = runtime.rollout(make_spec(WEB, DEP1))
    failing = runtime.rollout(make_spec(WEB, DEP2))
    # What the circuit breaker does: a new deployment of the previous revision. (moto keeps one
    # deployment entry and gives it a new id on forceNewDeployment.)
    aws.client("ecs").update_service(
        cluster="imagedeploy",
        service=runtime.name_of(WEB.id),
        taskDefinition=live.task_definition_arn,
        forceNewDeployment=True,
    )

    status = runtime.describe(WEB.id, DEP2)

    assert status.ref == failing
    assert status.deployment is None  # ECS no longer lists the failed deployment
    signal = status.rollout_signal()
    assert signal is not None and "rolled the deployment back" in str(signal)


def test_pre_deploy_state_is_part_of_describe(aws: Aws, runtime: EcsRuntime) -> None:
    runtime.start_pre_deploy(make_spec(WEB, DEP1, command=("bin/migrate",)), f"{DEP1}-pre")

    status = runtime.describe(WEB.id, DEP1)

    assert status.pre_deploy is not None
    assert status.pre_deploy.started_by == DEP1
    assert status.pre_deploy_signal() is None  # still running
    assert not status.service_exists


def test_identify_task_and_service_names(runtime: EcsRuntime) -> None:
    family_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/imagedeploy-{WEB.id}:7"
    assert runtime.service_id_of(family_arn) == WEB.id
    assert (
        runtime.service_id_of(
            f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/imagedeploy/imagedeploy-{WEB.id}"
        )
        == WEB.id
    )
    assert runtime.service_id_of("arn:aws:ecs:us-east-1:1:service/other/someone-else") is None

    def task(started_by: str) -> dict[str, str]:
        return {"taskDefinitionArn": family_arn, "startedBy": started_by}

    assert runtime.identify_task(task("ecs-svc/4711")) == _subject(
        "instance", deployment_id="ecs-svc/4711"
    )
    assert runtime.identify_task(task(DEP1)) == _subject("pre_deploy", deploy_id=DEP1)
    assert runtime.identify_task(task("run-00000000000000000001")) == _subject(
        "cron", run_id="run-00000000000000000001"
    )
    assert runtime.identify_task({"taskDefinitionArn": "arn:x:task-definition/foreign:1"}) is None
    assert runtime.allocate_port(WEB.id) is None


def _subject(role: str, **ids: str) -> Any:
    from imagedeploy.domain.ecs_rules import TaskSubject

    return TaskSubject(WEB.id, role, **ids)


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def test_rollout_ref_round_trips_through_tags() -> None:
    ref = RolloutRef(WEB.id, DEP1, "ecs-svc/1", "arn:td:1", "")
    tags = {t["key"]: t["value"] for t in ref.tags()}
    assert "imagedeploy:previous-task-definition" not in tags  # empty values are not tags
    assert RolloutRef.from_tags(WEB.id, tags) == ref
    assert RolloutRef.from_tags(WEB.id, {}) is None


def test_the_health_check_grace_period_is_the_configured_one(
    aws: Aws, ecs_config: EcsConfig, alb: Alb, runtime_of: Callable[..., EcsRuntime]
) -> None:
    """An app that needs 10 minutes before it answers its health check gets them (a fixed 60 s
    failed every deploy of such an app); the stack sets it (HealthCheckGraceSeconds)."""
    runtime = runtime_of(
        dataclasses.replace(ecs_config, health_check_grace_seconds=600),
        secret_arn=lambda _credential_id: None,
    )
    calls = record(aws.client("ecs"))
    runtime.rollout(make_spec(WEB, DEP1))
    (create,) = calls.of("CreateService")
    assert create["healthCheckGracePeriodSeconds"] == 600
