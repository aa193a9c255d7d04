"""The preflight against a real registry (CNCF distribution) in its three auth flavours."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest

from devkit.images import Blob, ImagePusher, PushedImage, StandardImages
from devkit.registry import RunningRegistry
from devkit.registry_client import credential_for
from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.domain.reference import parse_reference
from imagedeploy.domain.registries import RegistryKind
from imagedeploy.registry import RegistryClient
from imagedeploy.registry.manifest import OCI_MANIFEST

pytestmark = pytest.mark.integration

FLAVOURS = ["anon_registry", "basic_registry", "token_registry"]
RUNNABLE = ["web_v1", "oci", "multi", "docker_list"]


@pytest.fixture(params=FLAVOURS)
def registry(request: pytest.FixtureRequest) -> RunningRegistry:
    registry: RunningRegistry = request.getfixturevalue(request.param)
    return registry


def inspect(client: RegistryClient, registry: RunningRegistry, ref: str) -> object:
    return client.inspect(parse_reference(ref), credential_for(registry.credentials))


@pytest.mark.parametrize("kind", RUNNABLE)
def test_each_image_kind_resolves_digest_platform_and_size(
    registry: RunningRegistry,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
    kind: str,
) -> None:
    image: PushedImage = getattr(test_images.demo, kind)
    result = make_client().inspect(
        parse_reference(image.ref_on(registry.host)), credential_for(registry.credentials)
    )
    assert result.digest == image.digest
    assert result.platform_digest == image.amd64_digest
    assert result.platform == "linux/amd64"
    assert result.media_type == image.media_type
    assert result.size_bytes == image.expected_size
    assert result.reference == f"{registry.host}/{image.reference}"


def test_by_digest_references_are_verified_and_resolved(
    token_registry: RunningRegistry,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
) -> None:
    multi = test_images.demo.multi
    client = make_client()
    cred = credential_for(token_registry.credentials)
    by_index = client.inspect(
        parse_reference(f"{token_registry.host}/{multi.repository}@{multi.digest}"), cred
    )
    assert (by_index.digest, by_index.platform_digest) == (multi.digest, multi.amd64_digest)
    pinned = client.inspect(parse_reference(multi.pinned_on(token_registry.host)), cred)
    assert pinned.digest == pinned.platform_digest == multi.amd64_digest
    assert pinned.size_bytes == multi.expected_size
    # tag and digest: the digest is what counts, whatever the tag says now
    both = client.inspect(
        parse_reference(f"{token_registry.host}/{multi.repository}:anything@{multi.digest}"), cred
    )
    assert both.digest == multi.digest


def test_arm64_only_is_wrong_platform_naming_what_was_found(
    registry: RunningRegistry,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
) -> None:
    with pytest.raises(ImagePullError) as exc:
        inspect(make_client(), registry, test_images.demo.arm64_only.ref_on(registry.host))
    assert exc.value.reason is PullFailureReason.WRONG_PLATFORM
    assert "image has linux/arm64 only" in exc.value.message
    assert "--platform=linux/amd64" in exc.value.message


def test_size_limit(
    anon_registry: RunningRegistry,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
) -> None:
    web, big = test_images.demo.web_v1, test_images.demo.big
    assert web.expected_size is not None
    client = make_client(max_image_bytes=web.expected_size)
    assert inspect(client, anon_registry, web.ref_on(anon_registry.host)) is not None
    with pytest.raises(ImagePullError) as exc:
        inspect(client, anon_registry, big.ref_on(anon_registry.host))
    assert exc.value.reason is PullFailureReason.TOO_LARGE
    assert f"{big.expected_size:,} bytes" in exc.value.message


def test_unknown_tag_and_repository_are_not_found(
    registry: RunningRegistry,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
) -> None:
    client = make_client()
    for ref in ("demo/web:9.9", "demo/does-not-exist:1.0"):
        with pytest.raises(ImagePullError) as exc:
            inspect(client, registry, f"{registry.host}/{ref}")
        assert exc.value.reason is PullFailureReason.NOT_FOUND, ref
        assert "check the repository name and the tag" in exc.value.message


@pytest.mark.parametrize("flavour", ["basic_registry", "token_registry"])
def test_anonymous_on_a_private_registry_is_unauthorized(
    request: pytest.FixtureRequest,
    flavour: str,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
) -> None:
    registry: RunningRegistry = request.getfixturevalue(flavour)
    with pytest.raises(ImagePullError) as exc:
        make_client().inspect(parse_reference(test_images.demo.web_v1.ref_on(registry.host)))
    assert exc.value.reason is PullFailureReason.UNAUTHORIZED
    assert "add a registry credential" in exc.value.message


def test_anonymous_pull_of_a_public_repository_on_a_token_registry(
    token_registry: RunningRegistry,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
) -> None:
    image = test_images.public.multi
    result = make_client().inspect(parse_reference(image.ref_on(token_registry.host)))
    assert result.platform_digest == image.amd64_digest


@pytest.mark.parametrize("flavour", ["basic_registry", "token_registry"])
def test_wrong_password_is_unauthorized_with_a_fix(
    request: pytest.FixtureRequest,
    flavour: str,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
) -> None:
    from devkit.regclient import Credentials

    registry: RunningRegistry = request.getfixturevalue(flavour)
    assert registry.credentials is not None
    wrong = credential_for(Credentials(registry.credentials.username, "not-the-password"))
    with pytest.raises(ImagePullError) as exc:
        make_client().inspect(parse_reference(test_images.demo.web_v1.ref_on(registry.host)), wrong)
    assert exc.value.reason is PullFailureReason.UNAUTHORIZED
    assert repr(registry.credentials.username) in exc.value.message
    assert "not-the-password" not in exc.value.message


def test_credential_of_another_kind_is_refused_before_any_request(
    token_registry: RunningRegistry,
    token_server: object,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
    fault_proxy: Callable[[RunningRegistry], object],
) -> None:
    proxy = fault_proxy(token_registry)
    cred = credential_for(token_registry.credentials, RegistryKind.AWS_ECR)
    with pytest.raises(ImagePullError) as exc:
        make_client().inspect(
            parse_reference(test_images.demo.web_v1.ref_on(proxy.host)),  # type: ignore[attr-defined]
            cred,
        )
    assert exc.value.reason is PullFailureReason.UNAUTHORIZED
    assert "AWS_ECR credential" in exc.value.message
    assert proxy.count() == 0  # type: ignore[attr-defined]


def test_an_oci_artifact_is_an_unsupported_manifest(
    anon_registry: RunningRegistry,
    image_pusher: ImagePusher,
    make_client: Callable[..., RegistryClient],
) -> None:
    # A Helm chart pushed as an OCI artifact: a valid manifest, but not a container image.
    config = Blob("application/vnd.cncf.helm.config.v1+json", b'{"name":"chart","version":"1"}')
    chart = Blob("application/vnd.cncf.helm.chart.content.v1.tar+gzip", b"not really a chart")
    manifest = Blob(
        OCI_MANIFEST,
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config.descriptor(),
                "layers": [chart.descriptor()],
            }
        ).encode(),
    )
    repo = f"scratch/{uuid.uuid4().hex[:12]}"
    for blob in (config, chart):
        image_pusher.push_blob(repo, blob)
    image_pusher.push_manifest(repo, "1.0", manifest)
    with pytest.raises(ImagePullError) as exc:
        inspect(make_client(), anon_registry, f"{anon_registry.host}/{repo}:1.0")
    assert exc.value.reason is PullFailureReason.UNSUPPORTED_MANIFEST
    assert "not a container image" in exc.value.message
