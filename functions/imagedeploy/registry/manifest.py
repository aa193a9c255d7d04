"""Manifest media types and the pure image rules: which manifest is linux/amd64, and how big it is.

No I/O here: the client fetches bytes, these functions decide.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from imagedeploy.domain.errors import ImagePullError, PullFailureReason

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
# Sent on every manifest request: without it registries fall back to schema 1 or 404.
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

IMAGE_CONFIG_TYPES = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)

TARGET_OS = "linux"
TARGET_ARCH = "amd64"
# amd64 micro-architecture levels Fargate's x86_64 CPUs run; "no variant" is preferred.
ACCEPTED_AMD64_VARIANTS: tuple[str | None, ...] = (None, "v1", "v2", "v3")


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    @property
    def is_attestation(self) -> bool:
        return self.os == "unknown" and self.architecture == "unknown"


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None


@dataclass(frozen=True, slots=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]


@dataclass(frozen=True, slots=True)
class ImageManifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


def _unsupported(message: str) -> ImagePullError:
    return ImagePullError(PullFailureReason.UNSUPPORTED_MANIFEST, message)


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _unsupported(f"{what} is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise _unsupported(f"{what} is not a JSON object")
    return doc


def _descriptor(raw: Any, what: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise _unsupported(f"{what} is not a JSON object")
    digest, size, media_type = raw.get("digest"), raw.get("size"), raw.get("mediaType", "")
    if not isinstance(digest, str) or not isinstance(size, int) or isinstance(size, bool):
        raise _unsupported(f"{what} lacks a digest or a size")
    if size < 0:
        raise _unsupported(f"{what} has a negative size")
    platform = None
    if isinstance(p := raw.get("platform"), dict):
        os_, arch, variant = p.get("os"), p.get("architecture"), p.get("variant")
        if isinstance(os_, str) and isinstance(arch, str):
            platform = Platform(
                os_, arch, variant if isinstance(variant, str) and variant else None
            )
    return Descriptor(str(media_type), digest, size, platform)


def parse_manifest(content_type: str | None, body: bytes) -> Index | ImageManifest:
    """Parse a manifest body; the media type comes from the response, else from the body."""
    doc = _json_object(body, "the manifest the registry returned")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    schema1 = (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED)
    if media_type not in INDEX_TYPES | IMAGE_TYPES | set(schema1):
        body_type = doc.get("mediaType")
        media_type = body_type if isinstance(body_type, str) else ""
    if doc.get("schemaVersion") == 1 or media_type in schema1:
        raise _unsupported(
            "the image uses a Docker schema 1 manifest, which is deprecated and unsupported; "
            "push it again with a current docker, buildah or skopeo"
        )
    if not media_type:
        # OCI allows omitting mediaType; the shape tells an index from an image manifest.
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type in INDEX_TYPES:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise _unsupported("the image index has no list of manifests")
        return Index(
            media_type,
            tuple(_descriptor(m, f"index entry {i}") for i, m in enumerate(entries)),
        )
    if media_type in IMAGE_TYPES:
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise _unsupported("the image manifest has no list of layers")
        return ImageManifest(
            media_type,
            _descriptor(doc.get("config"), "the manifest's config"),
            tuple(_descriptor(layer, f"layer {i}") for i, layer in enumerate(layers)),
        )
    raise _unsupported(
        f"manifest media type {media_type!r} is not a container image or image index; "
        "imagedeploy runs OCI and Docker v2 images"
    )


def _wrong_platform(found: list[Platform]) -> ImagePullError:
    names = sorted({str(p) for p in found}) or ["no platform"]
    return ImagePullError(
        PullFailureReason.WRONG_PLATFORM,
        f"image has {', '.join(names)} only; imagedeploy runs linux/amd64: "
        "build with --platform=linux/amd64",
    )


def choose_linux_amd64(index: Index) -> Descriptor:
    """The index entry to run, preferring no variant, then the lowest accepted level; attestation
    manifests (``unknown/unknown``) are ignored."""
    candidates: list[tuple[int, Descriptor]] = []
    found: list[Platform] = []
    for entry in index.manifests:
        if entry.platform is None or entry.platform.is_attestation:
            continue
        found.append(entry.platform)
        p = entry.platform
        if (
            p.os == TARGET_OS
            and p.architecture == TARGET_ARCH
            and p.variant in ACCEPTED_AMD64_VARIANTS
        ):
            candidates.append((ACCEPTED_AMD64_VARIANTS.index(p.variant), entry))
    if not candidates:
        raise _wrong_platform(found)
    chosen = min(candidates, key=lambda c: c[0])[1]
    if chosen.media_type in INDEX_TYPES:
        raise _unsupported("nested image indexes are not supported; push a flat index")
    return chosen


def platform_from_config(body: bytes) -> Platform:
    """The os/architecture an image config declares."""
    doc = _json_object(body, "the image config blob")
    os_, arch, variant = doc.get("os"), doc.get("architecture"), doc.get("variant")
    if not isinstance(os_, str) or not isinstance(arch, str):
        raise _unsupported("the image config does not say which os/architecture it is for")
    return Platform(os_, arch, variant if isinstance(variant, str) and variant else None)


def require_linux_amd64(platform: Platform) -> None:
    if (
        platform.os != TARGET_OS
        or platform.architecture != TARGET_ARCH
        or platform.variant not in ACCEPTED_AMD64_VARIANTS
    ):
        raise _wrong_platform([platform])


def require_image_config(manifest: ImageManifest) -> None:
    """Refuse OCI artifacts (Helm charts, SBOMs, ...) that share the manifest format."""
    if manifest.config.media_type.lower() not in IMAGE_CONFIG_TYPES:
        raise _unsupported(
            f"this is not a container image (config media type {manifest.config.media_type!r})"
        )


def image_size(manifest: ImageManifest) -> int:
    """Config plus compressed layers, each distinct layer counted once (what a pull transfers)."""
    distinct = {layer.digest: layer.size for layer in manifest.layers}
    return manifest.config.size + sum(distinct.values())


def require_size_within(size: int, limit: int) -> None:
    if size > limit:
        raise ImagePullError(
            PullFailureReason.TOO_LARGE,
            f"image is {size:,} bytes compressed ({_human(size)}), over the limit of "
            f"{limit:,} bytes ({_human(limit)}); make the image smaller (multi-stage build, "
            "slimmer base image)",
        )


def _human(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
