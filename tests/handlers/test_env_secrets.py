"""Environment values are secrets, end to end through the real handlers under moto (issue 10,
item 6): a value set through the API reaches the task definition only as a ``secrets``
reference to the service's Secrets Manager secret (never in the task definition's JSON), and
deleting the service deletes the secret through the removal job."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from devkit.lambda_stack import WEB_DETAILS, Stack, create_service
from devkit.moto_aws import task_env

pytestmark = pytest.mark.integration

DATABASE_URL = "postgres://shop:n0t-in-the-task-definition@db.internal/shop"


def test_an_env_value_reaches_the_task_only_through_its_secret(stack: Stack) -> None:
    created = create_service(stack, "web_service", WEB_DETAILS)
    service_id = created["service"]["id"]
    stack.drain()
    stack.ecs_event(stack.deployment_event(service_id))
    reply = stack.call(
        "PUT", f"/v1/services/{service_id}/env-vars/DATABASE_URL", {"value": DATABASE_URL}
    )
    stack.ok(reply)
    stack.ok(stack.call("POST", f"/v1/services/{service_id}/deploys", {}), 201)
    stack.drain()

    ecs = stack.aws.client("ecs")
    arn = stack.ref(service_id).task_definition_arn
    definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    assert DATABASE_URL not in json.dumps(definition)
    (container,) = definition["containerDefinitions"]
    assert "DATABASE_URL" in {s["name"] for s in container["secrets"]}
    assert task_env(stack.aws, container)["DATABASE_URL"] == DATABASE_URL
    secret_name = f"imagedeploy/test/service-env/{service_id}"
    secrets = stack.aws.client("secretsmanager")
    assert (
        json.loads(secrets.get_secret_value(SecretId=secret_name)["SecretString"])["DATABASE_URL"]
        == DATABASE_URL
    )

    assert stack.call("DELETE", f"/v1/services/{service_id}").status == 204
    stack.drain()
    with pytest.raises(ClientError) as gone:
        secrets.describe_secret(SecretId=secret_name)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
