"""``EcrAuthorizer`` under moto (``ecr:GetAuthorizationToken``) and ``EcrAwareRegistry``.

moto answers every ``GetAuthorizationToken`` with ``AWS:<account>-auth-token`` expiring on
2015-01-01, so the tests' clock runs in late 2014 to see the cache at work. An IAM refusal
cannot be provoked in moto: a botocore ``Stubber`` answers ``AccessDeniedException``. The inner
registry is a small recording fake (the preflight itself is tested against a real registry in
``tests/integration``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber
from pydantic import SecretStr

from devkit.moto_aws import ACCOUNT, REGION, Aws, record
from imagedeploy.adapters.aws.ecr_auth import EcrAuthorizer, EcrAwareRegistry, ecr_region
from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.domain.reference import ImageReference, parse_reference
from imagedeploy.domain.registries import RegistryCredential, RegistryKind
from imagedeploy.registry.client import PreflightResult

pytestmark = pytest.mark.integration

HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
ECR_REF = parse_reference(f"{HOST}/shop:1.0")
MOTO_EXPIRY = datetime(2015, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class RecordingRegistry:
    """The ``Registry`` port: records the credential each call got; fails on demand."""

    seen: list[tuple[str, RegistryCredential | None]] = field(default_factory=list)
    error: ImagePullError | None = None

    def inspect(
        self, ref: ImageReference, credential: RegistryCredential | None = None
    ) -> PreflightResult:
        self.seen.append(("inspect", credential))
        if self.error:
            raise self.error
        return PreflightResult(
            ref.normalized, "sha256:" + "1" * 64, "sha256:" + "2" * 64, "linux/amd64", "x", 1
        )

    def check_digest_exists(
        self, ref: ImageReference, credential: RegistryCredential | None = None
    ) -> None:
        self.seen.append(("check", credential))
        if self.error:
            raise self.error

    def with_budget(self, seconds: float) -> RecordingRegistry:
        self.seen.append((f"budget {seconds:g}", None))
        return self


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2014, 12, 31, 12, 0, tzinfo=UTC))


@pytest.fixture
def authorizer(aws: Aws, clock: Clock) -> EcrAuthorizer:
    return EcrAuthorizer(aws.client("ecr"), clock=clock)


def test_the_token_is_decoded_and_cached_until_shortly_before_it_expires(
    aws: Aws, authorizer: EcrAuthorizer, clock: Clock
) -> None:
    calls = record(aws.client("ecr"))

    first = authorizer.credential_for(HOST)
    authorizer.credential_for(HOST)
    clock.now = MOTO_EXPIRY - timedelta(minutes=11)
    authorizer.credential_for(HOST)
    assert calls.names() == ["GetAuthorizationToken"]

    clock.now = MOTO_EXPIRY - timedelta(minutes=9)  # within the refresh margin
    authorizer.credential_for(HOST)
    assert calls.names() == ["GetAuthorizationToken"] * 2

    assert first.kind is RegistryKind.AWS_ECR
    assert first.username == ACCOUNT
    assert first.token.get_secret_value() == f"{ACCOUNT}-auth-token"  # "AWS:" stripped
    assert "auth-token" not in repr(first)


def test_hosts_in_other_regions_get_a_client_of_their_region(aws: Aws, clock: Clock) -> None:
    import boto3

    made: list[str] = []

    def client_for_region(region: str) -> object:
        made.append(region)
        return boto3.client("ecr", region_name=region)

    authorizer = EcrAuthorizer(aws.client("ecr"), client_for_region=client_for_region, clock=clock)

    authorizer.credential_for(f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com")
    authorizer.credential_for(f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com")
    authorizer.credential_for(HOST)

    assert made == ["eu-west-1"]


def test_a_role_without_permission_is_unauthorized_with_what_it_needs(
    aws: Aws, clock: Clock
) -> None:
    client = aws.new_client("ecr")
    with Stubber(client) as stubber:  # moto cannot refuse on IAM grounds: a stubbed answer
        stubber.add_client_error(
            "get_authorization_token", "AccessDeniedException", "not authorized", 400
        )
        with pytest.raises(ImagePullError) as caught:
            EcrAuthorizer(client, clock=clock).credential_for(HOST)

    assert caught.value.reason is PullFailureReason.UNAUTHORIZED
    assert "ecr:GetAuthorizationToken" in caught.value.message


def test_the_wrapper_logs_in_through_iam_when_no_token_is_stored(
    authorizer: EcrAuthorizer,
) -> None:
    inner = RecordingRegistry()
    registry = EcrAwareRegistry(inner, authorizer)
    empty = RegistryCredential(RegistryKind.AWS_ECR, ACCOUNT, SecretStr(""))

    registry.inspect(ECR_REF)
    registry.inspect(ECR_REF, empty)
    registry.check_digest_exists(parse_reference(f"{HOST}/shop@sha256:" + "3" * 64))

    for _, credential in inner.seen:
        assert credential is not None
        assert credential.kind is RegistryKind.AWS_ECR
        assert credential.token.get_secret_value() == f"{ACCOUNT}-auth-token"
    assert [op for op, _ in inner.seen] == ["inspect", "inspect", "check"]


def test_a_stored_ecr_token_is_used_as_it_is(authorizer: EcrAuthorizer, aws: Aws) -> None:
    calls = record(aws.client("ecr"))
    inner = RecordingRegistry()
    stored = RegistryCredential(RegistryKind.AWS_ECR, ACCOUNT, SecretStr("eyJ-from-get-login"))

    EcrAwareRegistry(inner, authorizer).inspect(ECR_REF, stored)

    assert inner.seen == [("inspect", stored)]
    assert calls.names() == []  # no IAM login needed


def test_an_expired_stored_token_is_unauthorized_with_the_iam_hint(
    authorizer: EcrAuthorizer,
) -> None:
    expired = ImagePullError(
        PullFailureReason.UNAUTHORIZED,
        f"{HOST} denied the ECR credential (HTTP 403 DENIED): ECR tokens expire after 12 hours",
    )
    inner = RecordingRegistry(error=expired)
    stored = RegistryCredential(RegistryKind.AWS_ECR, ACCOUNT, SecretStr("eyJ-old"))

    with pytest.raises(ImagePullError) as caught:
        EcrAwareRegistry(inner, authorizer).inspect(ECR_REF, stored)

    assert caught.value.reason is PullFailureReason.UNAUTHORIZED
    assert "expire after 12 hours" in caught.value.message
    assert "its own IAM role" in caught.value.message


def test_other_registries_pass_through_untouched(authorizer: EcrAuthorizer, aws: Aws) -> None:
    calls = record(aws.client("ecr"))
    inner = RecordingRegistry(
        error=ImagePullError(PullFailureReason.UNAUTHORIZED, "ghcr.io refused")
    )
    ghcr = RegistryCredential(RegistryKind.GITHUB, "octocat", SecretStr("ghp_x"))
    registry = EcrAwareRegistry(inner, authorizer)

    with pytest.raises(ImagePullError, match=r"^ghcr\.io refused$"):
        registry.inspect(parse_reference("ghcr.io/acme/shop:1"), ghcr)
    with pytest.raises(ImagePullError):
        registry.inspect(parse_reference("nginx"))

    assert inner.seen == [("inspect", ghcr), ("inspect", None)]
    assert calls.names() == []


def test_ecr_region() -> None:
    assert ecr_region(HOST) == REGION
    assert ecr_region(f"{ACCOUNT}.dkr.ecr-fips.us-gov-west-1.amazonaws.com") == "us-gov-west-1"
    assert ecr_region(f"{ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn") == "cn-north-1"
    with pytest.raises(ValueError, match="not an ECR"):
        ecr_region("ghcr.io")
