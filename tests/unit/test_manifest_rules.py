"""Platform choice, size and media-type rules, without a registry."""

import json

import pytest

from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.registry.manifest import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageManifest,
    Index,
    Platform,
    choose_linux_amd64,
    image_size,
    parse_manifest,
    platform_from_config,
    require_image_config,
    require_linux_amd64,
    require_size_within,
)

pytestmark = pytest.mark.unit

D = "sha256:" + "a" * 64


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def entry(n: int, os_: str, arch: str, variant: str | None = None) -> dict[str, object]:
    platform: dict[str, str] = {"os": os_, "architecture": arch}
    if variant:
        platform["variant"] = variant
    return {"mediaType": OCI_MANIFEST, "digest": digest(n), "size": 100 + n, "platform": platform}


def index(*entries: dict[str, object], media_type: str = OCI_INDEX) -> Index:
    body = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": list(entries)})
    parsed = parse_manifest(media_type, body.encode())
    assert isinstance(parsed, Index)
    return parsed


def reason(exc: pytest.ExceptionInfo[ImagePullError]) -> PullFailureReason:
    return exc.value.reason


def test_chooses_amd64_and_ignores_attestations() -> None:
    chosen = choose_linux_amd64(
        index(
            entry(1, "linux", "arm64", "v8"),
            entry(2, "linux", "amd64"),
            entry(3, "unknown", "unknown"),
        )
    )
    assert chosen.digest == digest(2)


def test_prefers_no_variant_then_lowest_level() -> None:
    assert choose_linux_amd64(
        index(entry(1, "linux", "amd64", "v3"), entry(2, "linux", "amd64"))
    ).digest == digest(2)
    assert choose_linux_amd64(
        index(entry(1, "linux", "amd64", "v3"), entry(2, "linux", "amd64", "v2"))
    ).digest == digest(2)


def test_v4_only_is_refused_naming_it() -> None:
    with pytest.raises(ImagePullError) as exc:
        choose_linux_amd64(index(entry(1, "linux", "amd64", "v4")))
    assert reason(exc) is PullFailureReason.WRONG_PLATFORM
    assert "linux/amd64/v4" in exc.value.message


def test_wrong_platform_names_what_was_found_and_how_to_fix() -> None:
    with pytest.raises(ImagePullError) as exc:
        choose_linux_amd64(
            index(
                entry(1, "linux", "arm64"),
                entry(2, "linux", "arm", "v7"),
                entry(3, "unknown", "unknown"),
                media_type=DOCKER_LIST,
            )
        )
    assert reason(exc) is PullFailureReason.WRONG_PLATFORM
    assert "linux/arm/v7, linux/arm64 only" in exc.value.message
    assert "unknown" not in exc.value.message
    assert "--platform=linux/amd64" in exc.value.message


def test_windows_amd64_is_not_linux() -> None:
    with pytest.raises(ImagePullError):
        choose_linux_amd64(index(entry(1, "windows", "amd64")))


def test_single_manifest_platform_comes_from_config() -> None:
    require_linux_amd64(platform_from_config(b'{"os":"linux","architecture":"amd64"}'))
    with pytest.raises(ImagePullError) as exc:
        require_linux_amd64(platform_from_config(b'{"os":"linux","architecture":"arm64"}'))
    assert "image has linux/arm64 only" in exc.value.message
    with pytest.raises(ImagePullError) as exc:
        platform_from_config(b'{"rootfs": {}}')
    assert reason(exc) is PullFailureReason.UNSUPPORTED_MANIFEST


def manifest(layers: list[tuple[str, int]], config_size: int = 500) -> ImageManifest:
    body = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": D,
            "size": config_size,
        },
        "layers": [{"mediaType": "x", "digest": d, "size": s} for d, s in layers],
    }
    parsed = parse_manifest(DOCKER_MANIFEST, json.dumps(body).encode())
    assert isinstance(parsed, ImageManifest)
    return parsed


def test_size_is_config_plus_distinct_layers() -> None:
    m = manifest([(digest(1), 1000), (digest(2), 20), (digest(1), 1000)], config_size=7)
    assert image_size(m) == 1027


def test_size_limit_is_inclusive_and_message_is_actionable() -> None:
    require_size_within(10_000_000_000, 10_000_000_000)
    with pytest.raises(ImagePullError) as exc:
        require_size_within(10_000_000_001, 10_000_000_000)
    assert reason(exc) is PullFailureReason.TOO_LARGE
    assert "10,000,000,001 bytes" in exc.value.message


def test_schema1_is_unsupported() -> None:
    for body, ctype in (
        (b'{"schemaVersion": 1, "name": "x", "fsLayers": []}', "application/json"),
        (b"{}", "application/vnd.docker.distribution.manifest.v1+prettyjws"),
    ):
        with pytest.raises(ImagePullError) as exc:
            parse_manifest(ctype, body)
        assert reason(exc) is PullFailureReason.UNSUPPORTED_MANIFEST
        assert "schema 1" in exc.value.message


def test_media_type_falls_back_to_body_then_shape() -> None:
    body = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    assert isinstance(parse_manifest(None, body), Index)
    body = json.dumps(
        {"schemaVersion": 2, "config": {"digest": D, "size": 1}, "layers": []}
    ).encode()
    assert parse_manifest("application/octet-stream", body).media_type == OCI_MANIFEST


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}',
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",'
        b' "config": {"digest": "x"}, "layers": []}',
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",'
        b' "config": {"digest": "x", "size": -1}, "layers": []}',
        b'{"schemaVersion": 2, "mediaType": "application/vnd.example.other+json"}',
    ],
)
def test_malformed_manifests_are_unsupported_not_crashes(body: bytes) -> None:
    with pytest.raises(ImagePullError) as exc:
        parse_manifest(None, body)
    assert reason(exc) is PullFailureReason.UNSUPPORTED_MANIFEST


def test_artifacts_are_not_images() -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": D, "size": 1},
        "layers": [],
    }
    parsed = parse_manifest(OCI_MANIFEST, json.dumps(body).encode())
    assert isinstance(parsed, ImageManifest)
    with pytest.raises(ImagePullError) as exc:
        require_image_config(parsed)
    assert "not a container image" in exc.value.message


def test_platform_string() -> None:
    assert str(Platform("linux", "arm", "v7")) == "linux/arm/v7"
    assert str(Platform("linux", "amd64")) == "linux/amd64"
