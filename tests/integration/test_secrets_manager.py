"""``SecretsManagerSecretStore`` on moto: the secret's name, JSON shape (what ECS
``repositoryCredentials`` reads), tags, versions, deletion with a recovery window, the ARN for
task definitions, and no value in logs, reprs or messages."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
from pydantic import SecretStr

from imagedeploy.adapters.aws.secrets import (
    CREDENTIAL_ID_TAG,
    RECOVERY_WINDOW_DAYS,
    SecretsManagerSecretStore,
)
from imagedeploy.domain.errors import InvalidInput

pytestmark = pytest.mark.integration

PREFIX = "imagedeploy-prod"
STACK_TAGS = {"imagedeploy:stack": "imagedeploy-prod", "team": "platform"}
TOKEN = "dckr_pat_s3cr3t-T0KEN-value"  # a test value, looked for in the logs
NEW_TOKEN = "dckr_pat_rotated-V4LUE"


@pytest.fixture
def client() -> Iterator[Any]:
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def secrets(client: Any) -> SecretsManagerSecretStore:
    return SecretsManagerSecretStore(PREFIX, client=client, tags=STACK_TAGS)


def secret_name(credential_id: str) -> str:
    return f"{PREFIX}/registry-credentials/{credential_id}"


def test_put_creates_one_tagged_secret_in_the_ecs_shape(
    client: Any, secrets: SecretsManagerSecretStore
) -> None:
    secrets.put("rgc-1", "acme", SecretStr(TOKEN))
    name = secret_name("rgc-1")
    value = client.get_secret_value(SecretId=name)["SecretString"]
    assert json.loads(value) == {"username": "acme", "password": TOKEN}
    described = client.describe_secret(SecretId=name)
    assert described["Name"] == name
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == {
        **STACK_TAGS,
        CREDENTIAL_ID_TAG: "rgc-1",
    }
    assert "rgc-1" in described["Description"]
    assert TOKEN not in json.dumps(described, default=str)
    assert secrets.get("rgc-1") == SecretStr(TOKEN)


def test_put_again_adds_a_version(client: Any, secrets: SecretsManagerSecretStore) -> None:
    secrets.put("rgc-1", "acme", SecretStr(TOKEN))
    secrets.put("rgc-1", "acme-bot", SecretStr(NEW_TOKEN))
    name = secret_name("rgc-1")
    versions = client.list_secret_version_ids(SecretId=name)["Versions"]
    stages = sorted(stage for v in versions for stage in v["VersionStages"])
    assert stages == ["AWSCURRENT", "AWSPREVIOUS"]
    current = json.loads(client.get_secret_value(SecretId=name)["SecretString"])
    previous = json.loads(
        client.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"]
    )
    assert current == {"username": "acme-bot", "password": NEW_TOKEN}
    assert previous == {"username": "acme", "password": TOKEN}
    assert secrets.get("rgc-1") == SecretStr(NEW_TOKEN)
    assert len(client.list_secrets()["SecretList"]) == 1


def test_get_of_a_missing_secret_is_none(secrets: SecretsManagerSecretStore) -> None:
    assert secrets.get("rgc-missing") is None
    assert secrets.arn_of("rgc-missing") is None


def test_delete_keeps_a_recovery_window(client: Any, secrets: SecretsManagerSecretStore) -> None:
    secrets.put("rgc-1", "acme", SecretStr(TOKEN))
    secrets.delete("rgc-1")
    described = client.describe_secret(SecretId=secret_name("rgc-1"))
    deleted: datetime = described["DeletedDate"]
    assert deleted is not None
    assert secrets.get("rgc-1") is None
    assert secrets.arn_of("rgc-1") is None
    secrets.delete("rgc-1")  # again: still fine (deletes are retried)
    secrets.delete("rgc-never-existed")
    assert RECOVERY_WINDOW_DAYS == 7
    client.restore_secret(SecretId=secret_name("rgc-1"))  # what the window is for
    assert secrets.get("rgc-1") == SecretStr(TOKEN)


def test_delete_asks_for_the_recovery_window(
    client: Any, secrets: SecretsManagerSecretStore
) -> None:
    sent: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.secrets-manager.DeleteSecret",
        lambda params, **_: sent.append(dict(params)),
    )
    secrets.put("rgc-1", "acme", SecretStr(TOKEN))
    secrets.delete("rgc-1")
    assert sent == [{"SecretId": secret_name("rgc-1"), "RecoveryWindowInDays": 7}]


def test_put_after_delete_restores_and_updates(
    client: Any, secrets: SecretsManagerSecretStore
) -> None:
    secrets.put("rgc-1", "acme", SecretStr(TOKEN))
    secrets.delete("rgc-1")
    secrets.put("rgc-1", "acme", SecretStr(NEW_TOKEN))
    assert secrets.get("rgc-1") == SecretStr(NEW_TOKEN)
    assert "DeletedDate" not in client.describe_secret(SecretId=secret_name("rgc-1"))


def test_arn_of_is_the_secrets_full_arn(client: Any, client_two: Any) -> None:
    first = SecretsManagerSecretStore(PREFIX, client=client)
    first.put("rgc-1", "acme", SecretStr(TOKEN))
    arn = client.describe_secret(SecretId=secret_name("rgc-1"))["ARN"]
    assert first.arn_of("rgc-1") == arn
    assert arn.startswith("arn:aws:secretsmanager:")
    # Another store object (another Lambda) learns it from AWS, once.
    calls: list[str] = []
    client_two.meta.events.register(
        "before-call.secrets-manager.*", lambda model, **_: calls.append(model.name)
    )
    second = SecretsManagerSecretStore(PREFIX, client=client_two)
    assert second.arn_of("rgc-1") == arn
    assert second.arn_of("rgc-1") == arn
    assert calls == ["DescribeSecret"]


@pytest.fixture
def client_two(client: Any) -> Any:
    return boto3.client("secretsmanager", region_name="us-east-1")  # same moto account


def test_a_customer_managed_key_is_used_when_given(client: Any) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    store = SecretsManagerSecretStore(PREFIX, client=client, kms_key_id=key_id)
    store.put("rgc-1", "acme", SecretStr(TOKEN))
    assert client.describe_secret(SecretId=secret_name("rgc-1"))["KmsKeyId"] == key_id
    assert store.get("rgc-1") == SecretStr(TOKEN)


def test_no_value_in_logs_reprs_or_errors(
    client: Any, secrets: SecretsManagerSecretStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="imagedeploy"):
        secrets.put("rgc-1", "acme", SecretStr(TOKEN))
        secrets.put("rgc-1", "acme", SecretStr(NEW_TOKEN))
        got = secrets.get("rgc-1")
        secrets.delete("rgc-1")
    assert [r.getMessage() for r in caplog.records] == [
        "registry secret created",
        "registry secret updated",
        "registry secret scheduled for deletion",
    ]
    assert all(getattr(r, "credential_id", None) == "rgc-1" for r in caplog.records)
    everything = caplog.text + repr([vars(r) for r in caplog.records]) + repr(secrets) + repr(got)
    for value in (TOKEN, NEW_TOKEN):
        assert value not in everything
    assert repr(secrets) == f"SecretsManagerSecretStore(prefix={PREFIX!r})"
    # A secret that does not hold the expected JSON: the message names it, shows no value.
    client.create_secret(Name=secret_name("rgc-2"), SecretString=TOKEN)
    with pytest.raises(ValueError, match="rgc-2") as caught:
        secrets.get("rgc-2")
    assert TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_ids_that_cannot_name_a_secret_are_refused(
    client: Any, secrets: SecretsManagerSecretStore
) -> None:
    calls: list[str] = []
    client.meta.events.register(
        "before-call.secrets-manager.*", lambda model, **_: calls.append(model.name)
    )
    for bad in ("", "rgc/../other", "rgc 1", "x" * 200):
        with pytest.raises(InvalidInput, match="credential id"):
            secrets.put(bad, "acme", SecretStr(TOKEN))
        with pytest.raises(InvalidInput, match="credential id"):
            secrets.get(bad)
    assert calls == []


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        SecretsManagerSecretStore("bad prefix")
    with pytest.raises(ValueError, match=CREDENTIAL_ID_TAG):
        SecretsManagerSecretStore(PREFIX, tags={CREDENTIAL_ID_TAG: "x"})


def test_the_client_is_made_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[Any, ...]] = []
    monkeypatch.setattr(boto3, "client", lambda *args, **kw: made.append(args) or object())
    store = SecretsManagerSecretStore(PREFIX)
    assert made == []
    assert store.client is store.client
    assert made == [("secretsmanager",)]
