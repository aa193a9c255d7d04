"""Which credential kinds fit which registry hosts, and that credentials never show their token."""

import pytest
from pydantic import SecretStr

from imagedeploy.domain.registries import (
    RegistryCredential,
    RegistryKind,
    api_host,
    credential_mismatch,
    registry_kind_of,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("docker.io", RegistryKind.DOCKER),
        ("registry-1.docker.io", RegistryKind.DOCKER),
        ("ghcr.io", RegistryKind.GITHUB),
        ("registry.gitlab.com", RegistryKind.GITLAB),
        ("us-docker.pkg.dev", RegistryKind.GOOGLE_ARTIFACT),
        ("europe-west1-docker.pkg.dev", RegistryKind.GOOGLE_ARTIFACT),
        ("gcr.io", RegistryKind.GOOGLE_ARTIFACT),
        ("eu.gcr.io", RegistryKind.GOOGLE_ARTIFACT),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com", RegistryKind.AWS_ECR),
        ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", RegistryKind.AWS_ECR),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", RegistryKind.AWS_ECR),
        ("registry.example.com", None),
        ("localhost:5000", None),
        ("[::1]:5000", None),
        ("1234.dkr.ecr.us-east-1.amazonaws.com", None),
        ("ghcr.io.evil.example", None),
    ],
)
def test_registry_kind_of(host: str, kind: RegistryKind | None) -> None:
    assert registry_kind_of(host) is kind


def test_matching_kinds_are_accepted() -> None:
    assert credential_mismatch(RegistryKind.GITHUB, "ghcr.io") is None
    assert credential_mismatch(RegistryKind.DOCKER, "docker.io") is None
    assert credential_mismatch(RegistryKind.DOCKER, "registry.example.com:5000") is None
    assert credential_mismatch(RegistryKind.GITLAB, "gitlab.example.com") is None


def test_mismatch_says_which_kind_the_registry_needs() -> None:
    message = credential_mismatch(RegistryKind.GITHUB, "docker.io")
    assert message is not None
    assert "GITHUB" in message and "Docker Hub" in message and "DOCKER credential" in message
    message = credential_mismatch(RegistryKind.AWS_ECR, "registry.example.com")
    assert message is not None and "AWS_ECR" in message


def test_docker_hub_api_host() -> None:
    assert api_host("docker.io") == "registry-1.docker.io"
    assert api_host("ghcr.io") == "ghcr.io"


def test_credential_repr_and_identity_hide_the_token() -> None:
    cred = RegistryCredential(RegistryKind.DOCKER, "alice", SecretStr("s3cr3t-token-value"))
    assert "s3cr3t" not in repr(cred) and "s3cr3t" not in str(cred)
    assert "s3cr3t" not in cred.identity
    other = RegistryCredential(RegistryKind.DOCKER, "alice", SecretStr("another"))
    assert cred.identity != other.identity
