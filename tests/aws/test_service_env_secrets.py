"""Environment values are secrets (issue 10, item 6): under moto, a task definition's JSON
holds no user value, only ``secrets`` references to the service's Secrets Manager secret, which
holds them; an unchanged environment reuses the secret version (and so the revision); a changed
one pins a new version while the earlier revision keeps its own; removing the service deletes
the secret."""

from __future__ import annotations

import dataclasses
import json

import pytest
from botocore.exceptions import ClientError

from devkit.moto_aws import Aws, make_service, make_spec, record, task_env
from imagedeploy.adapters.aws.ecs_runtime import EcsRuntime, EcsRuntimeError
from imagedeploy.domain.services import ServiceType
from imagedeploy.ports import RunSpec

pytestmark = pytest.mark.integration

DEP1, DEP2, DEP3 = (f"dep-{n:020d}" for n in (1, 2, 3))
WEB = make_service(health_check_path="/healthz")
CRON = make_service(ServiceType.CRON_JOB, service_id="crn-0000000000000000000c", name="nightly")
DATABASE_URL = "postgres://shop:pa55-w0rd-in-plaintext@db.internal/shop"
API_TOKEN = "tok_live_9f8e7d6c5b4a"
SECRET_NAME = f"imagedeploy/service-env/{WEB.id}"


def spec_with(deploy_id: str, **env: str) -> RunSpec:
    spec = make_spec(WEB, deploy_id)
    return dataclasses.replace(spec, env={**spec.env, **env})


def registered(aws: Aws, arn: str) -> dict[str, object]:
    return dict(aws.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"])


def test_a_task_definition_holds_no_user_value_and_the_secret_holds_them(
    aws: Aws, runtime: EcsRuntime
) -> None:
    spec = spec_with(DEP1, DATABASE_URL=DATABASE_URL, API_TOKEN=API_TOKEN)
    ref = runtime.rollout(spec)

    definition = registered(aws, ref.task_definition_arn)
    text = json.dumps(definition)
    assert DATABASE_URL not in text
    assert API_TOKEN not in text
    (container,) = definition["containerDefinitions"]  # type: ignore[misc]
    plain = {e["name"] for e in container["environment"]}
    assert plain and all(name.startswith("RENDER") for name in plain)  # platform values only
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert set(secrets) >= {"DATABASE_URL", "API_TOKEN", "PORT"}
    arn = aws.client("secretsmanager").describe_secret(SecretId=SECRET_NAME)["ARN"]
    assert secrets["DATABASE_URL"].startswith(f"{arn}:DATABASE_URL::")  # JSON key, pinned version
    env = task_env(aws, container)
    assert env["DATABASE_URL"] == DATABASE_URL
    assert env["API_TOKEN"] == API_TOKEN
    assert env["RENDER_DEPLOY_ID"] == DEP1


def test_an_unchanged_environment_writes_nothing_and_reuses_the_revision(
    aws: Aws, runtime: EcsRuntime
) -> None:
    first = runtime.task_definitions.ensure(spec_with(DEP1, API_TOKEN=API_TOKEN))
    calls = record(aws.client("secretsmanager"))
    again = runtime.task_definitions.ensure(spec_with(DEP1, API_TOKEN=API_TOKEN))
    assert again == first
    assert calls.names() == ["GetSecretValue"]  # a read, never a write (PutSecretValue: 50/s)


def test_a_changed_environment_pins_a_new_version_and_the_old_revision_keeps_its_own(
    aws: Aws, runtime: EcsRuntime
) -> None:
    old = runtime.task_definitions.ensure(spec_with(DEP1, API_TOKEN="tok_old"))
    new = runtime.task_definitions.ensure(spec_with(DEP2, API_TOKEN="tok_new"))
    assert old != new
    (old_container,) = registered(aws, old)["containerDefinitions"]  # type: ignore[misc]
    (new_container,) = registered(aws, new)["containerDefinitions"]  # type: ignore[misc]
    assert task_env(aws, old_container)["API_TOKEN"] == "tok_old"  # a rollback runs with it
    assert task_env(aws, new_container)["API_TOKEN"] == "tok_new"


def test_a_cron_job_without_user_variables_has_its_platform_values_only(
    aws: Aws, runtime: EcsRuntime
) -> None:
    arn = runtime.task_definitions.ensure(make_spec(CRON, DEP1))
    (container,) = registered(aws, arn)["containerDefinitions"]  # type: ignore[misc]
    assert container.get("secrets", []) == []
    with pytest.raises(ClientError):
        aws.client("secretsmanager").describe_secret(SecretId=f"imagedeploy/service-env/{CRON.id}")


def test_an_environment_over_the_secret_size_limit_is_refused_with_what_to_do(
    runtime: EcsRuntime,
) -> None:
    with pytest.raises(EcsRuntimeError, match="at most 65536"):
        runtime.task_definitions.ensure(spec_with(DEP1, BIG="x" * 70_000))


def test_removing_the_service_deletes_its_secret(aws: Aws, runtime: EcsRuntime) -> None:
    runtime.rollout(spec_with(DEP1, API_TOKEN=API_TOKEN))
    runtime.remove(WEB.id)
    with pytest.raises(ClientError) as gone:
        aws.client("secretsmanager").describe_secret(SecretId=SECRET_NAME)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    runtime.remove(WEB.id)  # again: a retried removal job
