"""Build small, runnable container images offline and push them through the registry HTTP API.

Everything here is plain Python (tarfile, gzip, json, hashlib) and deterministic: fixed mtimes,
uid/gid 0, sorted entries, gzip without name or timestamp, compact JSON in a fixed key order. The
same inputs therefore give the same digests on every run, so tests may compare digests across
sessions and across repositories.

Every image is really runnable by a container engine on linux/amd64:

- layer 1 (shared by all images): ``/bin/busybox`` (the host's static busybox), ``/bin/sh`` and
  a few applets as symlinks to it, an empty ``/tmp`` (1777);
- layer 2: ``/www/index.html`` with a caller-chosen text (e.g. the version);
- optional layer 3 ("big" images): ``/filler.bin``, incompressible bytes of a chosen length;
- config: ``os``/``architecture`` (``variant`` for arm/v7), ``Env`` with ``PORT=10000`` and
  ``Cmd = ["/bin/sh", "-c", 'exec /bin/busybox httpd -f -p "$PORT" -h /www']`` so a ``PORT``
  given at run time wins over the default.

Non-amd64 variants reuse the amd64 busybox: only their config differs. They exist to exercise
platform selection, never to run.

Pushing (:class:`ImagePusher`) is monolithic: ``HEAD`` the blob, else try a cross-repository
mount from a repository this pusher already pushed it to, else ``POST /v2/<name>/blobs/uploads/``
then ``PUT <location>&digest=``. Manifests are ``PUT`` with their media type as ``Content-Type``
and the registry's ``Docker-Content-Digest`` is checked against the locally computed digest.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

# --- media types ------------------------------------------------------------------------------

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
IN_TOTO = "application/vnd.in-toto+json"

#: Accept header that asks for any of the four manifest kinds. Distribution 2.8 serves an OCI
#: manifest/index by tag only when its type is in Accept (else 404), and serves a manifest list's
#: linux/amd64 child instead of the list when the list type is missing, so always send all four.
ACCEPT_ALL_MANIFESTS = ", ".join([OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST])

Format = Literal["docker", "oci"]

# --- image content constants ----------------------------------------------------------------

BUSYBOX_PATH = Path("/bin/busybox")
#: Applets linked to busybox in /bin. ``sh`` is required by the Cmd; the rest help debugging and
#: health checks from inside a container (``wget -qO- localhost:$PORT``).
BUSYBOX_APPLETS = ("cat", "env", "httpd", "ls", "sh", "sleep", "wget")
FIXED_MTIME = 1_700_000_000  # any constant works; a constant keeps layer digests stable
CREATED = "2023-11-14T22:13:20Z"  # == FIXED_MTIME, for config "created"
DEFAULT_PORT = 10000
HTTPD_CMD = ("/bin/sh", "-c", 'exec /bin/busybox httpd -f -p "$PORT" -h /www')
IMAGE_ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    f"PORT={DEFAULT_PORT}",
)
#: Size of the extra layer's payload in "big" images; the compressed layer is a little larger.
#: Tests read the exact total from ``PushedImage.expected_size`` rather than this constant.
BIG_FILLER_BYTES = 512 * 1024


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """Compact JSON in insertion order: deterministic, and the exact bytes that get digested."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# --- value types ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    """Bytes plus the media type they are referenced with (the digest ignores the media type)."""

    media_type: str
    data: bytes = field(repr=False)

    @functools.cached_property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}

    def with_media_type(self, media_type: str) -> Blob:
        return Blob(media_type, self.data)


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``"linux/arm/v7"`` -> Platform("linux", "arm", "v7")."""
        parts = text.split("/")
        if len(parts) not in (2, 3):
            raise ValueError(f"platform must be os/arch[/variant], got {text!r}")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def as_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out


AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
ARM_V7 = Platform("linux", "arm", "v7")
UNKNOWN = Platform("unknown", "unknown")


@dataclass(frozen=True)
class Layer:
    """A gzip-compressed layer: ``blob`` is what the registry stores, ``diff_id`` goes in config."""

    blob: Blob
    diff_id: str

    def as_media_type(self, media_type: str) -> Layer:
        return Layer(self.blob.with_media_type(media_type), self.diff_id)


@dataclass(frozen=True)
class BuiltImage:
    """One platform image: manifest + config + layers, all as bytes, ready to push."""

    platform: Platform
    manifest: Blob
    config: Blob
    layers: tuple[Layer, ...]

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def size(self) -> int:
        """Config + distinct layers (compressed, deduplicated by digest), as preflight counts."""
        distinct = {layer.blob.digest: layer.blob.size for layer in self.layers}
        return self.config.size + sum(distinct.values())

    def blobs(self) -> list[Blob]:
        return [self.config, *(layer.blob for layer in self.layers)]


@dataclass(frozen=True)
class PushedImage:
    """What a push produced; tests compare the registry's answers with these fields.

    ``reference`` is host-less (``"demo/web:1.0"``): the three registry flavours share one
    storage, so the same image is reachable on each of them; use :meth:`ref_on` for a full ref.
    """

    repository: str
    tag: str
    digest: str  #: the tag's digest, as Docker-Content-Digest reports it
    media_type: str  #: media type of the tagged manifest / index / list
    amd64_digest: str | None  #: linux/amd64 image manifest digest (== digest for single amd64)
    platforms: tuple[str, ...]  #: real platforms, e.g. ("linux/amd64", "linux/arm64")
    expected_size: int | None  #: config + distinct layers of the amd64 manifest, None if no amd64
    text: str  #: what /www/index.html contains
    platform_digests: Mapping[str, str] = field(default_factory=dict)  #: platform -> digest
    sizes: Mapping[str, int] = field(default_factory=dict)  #: platform -> config + layers
    attestation_digest: str | None = None  #: the unknown/unknown entry of an OCI index
    images: tuple[BuiltImage, ...] = field(default=(), repr=False)  #: the platform images

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"

    def ref_on(self, host: str) -> str:
        """``"127.0.0.1:5000/demo/web:1.0"``."""
        return f"{host}/{self.repository}:{self.tag}"

    def pinned_on(self, host: str) -> str:
        """``host/repository@<amd64 manifest digest>``: what runs after preflight pins it."""
        if self.amd64_digest is None:
            raise ValueError(f"{self.reference} has no linux/amd64 image")
        return f"{host}/{self.repository}@{self.amd64_digest}"

    def image_for(self, platform: str) -> BuiltImage:
        for image in self.images:
            if str(image.platform) == platform:
                return image
        raise KeyError(platform)


# --- layers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    name: str
    kind: Literal["dir", "file", "symlink"]
    mode: int
    data: bytes = b""
    target: str = ""


def _tar(entries: Iterable[_Entry]) -> bytes:
    """A deterministic tar: sorted names, fixed mtime, root-owned."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(entries, key=lambda e: e.name):
            info = tarfile.TarInfo(entry.name)
            info.mtime = FIXED_MTIME
            info.mode = entry.mode
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = entry.target
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return out.getvalue()


def _layer(entries: Iterable[_Entry]) -> Layer:
    raw = _tar(entries)
    # mtime=0 and no filename keep the gzip header constant.
    compressed = gzip.compress(raw, compresslevel=6, mtime=0)
    return Layer(Blob(DOCKER_LAYER, compressed), sha256_digest(raw))


@functools.cache
def busybox_layer() -> Layer:
    """Static busybox at /bin/busybox plus applet symlinks; computed once per process."""
    busybox = BUSYBOX_PATH.read_bytes()
    entries = [
        _Entry("bin", "dir", 0o755),
        _Entry("bin/busybox", "file", 0o755, data=busybox),
        _Entry("tmp", "dir", 0o1777),
        *(_Entry(f"bin/{a}", "symlink", 0o777, target="busybox") for a in BUSYBOX_APPLETS),
    ]
    return _layer(entries)


@functools.cache
def www_layer(text: str) -> Layer:
    """/www/index.html containing ``text`` (a trailing newline is added)."""
    return _layer(
        [
            _Entry("www", "dir", 0o755),
            _Entry("www/index.html", "file", 0o644, data=(text + "\n").encode()),
        ]
    )


@functools.cache
def filler_layer(nbytes: int, seed: str = "big") -> Layer:
    """/filler.bin with ``nbytes`` of incompressible, deterministic bytes (SHAKE-256 stream)."""
    data = hashlib.shake_256(seed.encode()).digest(nbytes)
    return _layer([_Entry("filler.bin", "file", 0o644, data=data)])


def files_layer(files: Mapping[str, bytes]) -> Layer:
    """A layer holding ``files`` (path without leading '/' -> bytes, mode 0755) and their
    directories."""
    dirs = {str(Path(name).parent) for name in files} - {"."}
    for directory in list(dirs):
        dirs.update(str(parent) for parent in Path(directory).parents if str(parent) != ".")
    entries = [_Entry(d, "dir", 0o755) for d in sorted(dirs)]
    entries += [_Entry(name, "file", 0o755, data=data) for name, data in files.items()]
    return _layer(entries)


# --- images ---------------------------------------------------------------------------------


def _config(platform: Platform, layers: Sequence[Layer], text: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
    }
    if platform.variant:
        config["variant"] = platform.variant
    config.update(
        {
            "created": CREATED,
            "config": {
                "Env": list(IMAGE_ENV),
                "Cmd": list(HTTPD_CMD),
                "WorkingDir": "/",
                "ExposedPorts": {f"{DEFAULT_PORT}/tcp": {}},
                "Labels": {"org.opencontainers.image.version": text},
            },
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": [  # the old path, kept: it is part of every digest
                {"created": CREATED, "created_by": "tests/support/images.py"} for _ in layers
            ],
        }
    )
    return config


def build_image(
    text: str,
    platform: Platform | str = AMD64,
    *,
    fmt: Format = "docker",
    extra_bytes: int = 0,
    extra_files: Mapping[str, bytes] | None = None,
) -> BuiltImage:
    """Build one platform image serving ``text``; ``extra_bytes`` > 0 adds a filler layer,
    ``extra_files`` a top layer with those files."""
    if isinstance(platform, str):
        platform = Platform.parse(platform)
    layers = [busybox_layer(), www_layer(text)]
    if extra_bytes:
        layers.append(filler_layer(extra_bytes))
    if extra_files:
        layers.append(files_layer(extra_files))
    if fmt == "docker":
        manifest_type, config_type, layer_type = DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER
    else:
        manifest_type, config_type, layer_type = OCI_MANIFEST, OCI_CONFIG, OCI_LAYER
    typed_layers = tuple(layer.as_media_type(layer_type) for layer in layers)
    config = Blob(config_type, canonical_json(_config(platform, typed_layers, text)))
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": config.descriptor(),
        "layers": [layer.blob.descriptor() for layer in typed_layers],
    }
    return BuiltImage(platform, Blob(manifest_type, canonical_json(manifest)), config, typed_layers)


def build_attestation(subject: BuiltImage, reference: str) -> BuiltImage:
    """A BuildKit-style provenance attestation manifest for ``subject`` (platform unknown/unknown).

    Like BuildKit: an OCI manifest whose single layer is an in-toto statement, and whose config
    says ``unknown/unknown``; the index entry that points at it carries the annotations.
    """
    platform = str(subject.platform).replace("/", "%2F")
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [
            {
                "name": f"pkg:docker/{reference}?platform={platform}",
                "digest": {"sha256": subject.digest.removeprefix("sha256:")},
            }
        ],
        "predicate": {
            "builder": {"id": ""},
            "buildType": "https://mobyproject.org/buildkit@v1",
            "metadata": {"buildInvocationID": "tests-support"},
        },
    }
    layer_blob = Blob(IN_TOTO, canonical_json(statement))
    layer = Layer(layer_blob, layer_blob.digest)  # not compressed: diff_id == digest
    config = Blob(
        OCI_CONFIG,
        canonical_json(
            {
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
            }
        ),
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [
            layer_blob.descriptor(
                annotations={"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}
            )
        ],
    }
    return BuiltImage(UNKNOWN, Blob(OCI_MANIFEST, canonical_json(manifest)), config, (layer,))


def build_index(
    entries: Sequence[tuple[BuiltImage, Mapping[str, str] | None]], *, fmt: Format
) -> Blob:
    """An OCI index (``fmt="oci"``) or a Docker manifest list (``fmt="docker"``)."""
    media_type = OCI_INDEX if fmt == "oci" else DOCKER_MANIFEST_LIST
    manifests = []
    for image, extra in entries:
        descriptor = image.manifest.descriptor()
        if extra:
            descriptor["annotations"] = dict(extra)
        descriptor["platform"] = image.platform.as_json()
        manifests.append(descriptor)
    body = {"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}
    return Blob(media_type, canonical_json(body))


# --- pushing --------------------------------------------------------------------------------


class PushError(RuntimeError):
    pass


def _check(response: httpx.Response, *expected: int) -> httpx.Response:
    if response.status_code not in expected:
        raise PushError(
            f"{response.request.method} {response.request.url.path} -> "
            f"{response.status_code}: {response.text[:500]}"
        )
    return response


class ImagePusher:
    """Pushes built images through ``client`` (an ``httpx.Client`` whose base_url is a registry).

    Use :func:`devkit.regclient.registry_client` to get a client with the right auth.
    Remembers which repository holds which blob so shared layers are uploaded once and mounted
    into further repositories (``POST ...?mount=<digest>&from=<repo>``).
    """

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self._blob_home: dict[str, str] = {}  # digest -> a repository that has it

    # low level -----------------------------------------------------------------------------

    def push_blob(self, repository: str, blob: Blob) -> None:
        url = f"/v2/{repository}/blobs/{blob.digest}"
        if self.client.head(url).status_code == 200:
            self._blob_home.setdefault(blob.digest, repository)
            return
        params: dict[str, str] = {}
        home = self._blob_home.get(blob.digest)
        if home and home != repository:
            params = {"mount": blob.digest, "from": home}
        start = _check(
            self.client.post(f"/v2/{repository}/blobs/uploads/", params=params), 201, 202
        )
        if start.status_code == 202:  # no mount: upload monolithically
            location = start.headers["Location"]  # carries ?_state=...: append, don't replace
            separator = "&" if "?" in location else "?"
            _check(
                self.client.put(
                    f"{location}{separator}digest={blob.digest}",
                    content=blob.data,
                    headers={"Content-Type": "application/octet-stream"},
                ),
                201,
            )
        self._blob_home.setdefault(blob.digest, repository)

    def push_manifest(self, repository: str, reference: str, manifest: Blob) -> str:
        """PUT a manifest by tag or digest; returns (and checks) the registry's digest."""
        response = _check(
            self.client.put(
                f"/v2/{repository}/manifests/{reference}",
                content=manifest.data,
                headers={"Content-Type": manifest.media_type},
            ),
            201,
        )
        digest = response.headers.get("Docker-Content-Digest")
        if digest != manifest.digest:
            raise PushError(f"registry says {digest} for manifest {manifest.digest}")
        return manifest.digest

    def push_built(self, repository: str, image: BuiltImage, reference: str | None = None) -> str:
        """Push an image's blobs then its manifest (by digest unless ``reference`` is a tag)."""
        for blob in image.blobs():
            self.push_blob(repository, blob)
        return self.push_manifest(repository, reference or image.digest, image.manifest)

    def delete_manifest(self, ref: str) -> str:
        """Delete ``repo:tag`` or ``repo@digest`` (DELETE needs a digest); returns the digest."""
        repository, digest = self.resolve(ref)
        _check(self.client.delete(f"/v2/{repository}/manifests/{digest}"), 202)
        return digest

    def resolve(self, ref: str) -> tuple[str, str]:
        """``repo:tag`` or ``repo@digest`` -> (repository, digest) via HEAD."""
        if "@" in ref:
            repository, digest = ref.split("@", 1)
            return repository, digest
        repository, tag = ref.rsplit(":", 1)
        head = _check(
            self.client.head(
                f"/v2/{repository}/manifests/{tag}", headers={"Accept": ACCEPT_ALL_MANIFESTS}
            ),
            200,
        )
        return repository, head.headers["Docker-Content-Digest"]

    # the image kinds the tests need ---------------------------------------------------------

    def _single(
        self, repository: str, tag: str, text: str, image: BuiltImage, *, amd64_only: bool = True
    ) -> PushedImage:
        digest = self.push_built(repository, image, tag)
        is_amd64 = image.platform == AMD64
        return PushedImage(
            repository=repository,
            tag=tag,
            digest=digest,
            media_type=image.manifest.media_type,
            amd64_digest=digest if is_amd64 else None,
            platforms=(str(image.platform),),
            expected_size=image.size if is_amd64 else None,
            text=text,
            platform_digests={str(image.platform): digest},
            sizes={str(image.platform): image.size},
            images=(image,),
        )

    def push_docker_image(
        self, repository: str, tag: str, text: str, platform: Platform | str = AMD64
    ) -> PushedImage:
        """Single-arch Docker v2 schema 2 manifest."""
        image = build_image(text, platform, fmt="docker")
        return self._single(repository, tag, text, image)

    def push_oci_image(
        self, repository: str, tag: str, text: str, platform: Platform | str = AMD64
    ) -> PushedImage:
        """Single-arch OCI image manifest."""
        image = build_image(text, platform, fmt="oci")
        return self._single(repository, tag, text, image)

    def push_image_with_files(
        self, repository: str, tag: str, text: str, files: Mapping[str, bytes]
    ) -> PushedImage:
        """linux/amd64 Docker image with a top layer holding ``files``."""
        image = build_image(text, AMD64, fmt="docker", extra_files=files)
        return self._single(repository, tag, text, image)

    def push_arm64_only(
        self, repository: str, tag: str, text: str, fmt: Format = "docker"
    ) -> PushedImage:
        """A single manifest whose config says linux/arm64 (no amd64 anywhere)."""
        return self._single(repository, tag, text, build_image(text, ARM64, fmt=fmt))

    def push_big_image(
        self, repository: str, tag: str, text: str, extra_bytes: int = BIG_FILLER_BYTES
    ) -> PushedImage:
        """linux/amd64 Docker image with an extra incompressible layer of ``extra_bytes``."""
        image = build_image(text, AMD64, fmt="docker", extra_bytes=extra_bytes)
        return self._single(repository, tag, text, image)

    def _multi(
        self,
        repository: str,
        tag: str,
        text: str,
        images: Sequence[BuiltImage],
        *,
        fmt: Format,
        attestation: BuiltImage | None = None,
    ) -> PushedImage:
        entries: list[tuple[BuiltImage, Mapping[str, str] | None]] = [(i, None) for i in images]
        by_platform = {str(i.platform): i for i in images}
        amd64 = by_platform.get(str(AMD64))
        if attestation is not None:
            assert amd64 is not None, "an attestation refers to the amd64 image"
            entries.append(
                (
                    attestation,
                    {
                        "vnd.docker.reference.digest": amd64.digest,
                        "vnd.docker.reference.type": "attestation-manifest",
                    },
                )
            )
        for image, _ in entries:  # children first: the registry checks they exist
            self.push_built(repository, image)
        index = build_index(entries, fmt=fmt)
        digest = self.push_manifest(repository, tag, index)
        return PushedImage(
            repository=repository,
            tag=tag,
            digest=digest,
            media_type=index.media_type,
            amd64_digest=amd64.digest if amd64 else None,
            platforms=tuple(by_platform),
            expected_size=amd64.size if amd64 else None,
            text=text,
            platform_digests={p: i.digest for p, i in by_platform.items()},
            sizes={p: i.size for p, i in by_platform.items()},
            attestation_digest=attestation.digest if attestation else None,
            images=tuple(images) + ((attestation,) if attestation else ()),
        )

    def push_oci_index(
        self, repository: str, tag: str, text: str, *, with_attestation: bool = True
    ) -> PushedImage:
        """OCI index: linux/amd64 + linux/arm64 (+ BuildKit-style attestation for amd64)."""
        images = [build_image(text, p, fmt="oci") for p in (AMD64, ARM64)]
        attestation = (
            build_attestation(images[0], f"{repository}:{tag}") if with_attestation else None
        )
        return self._multi(repository, tag, text, images, fmt="oci", attestation=attestation)

    def push_docker_manifest_list(
        self, repository: str, tag: str, text: str, *, with_arm_v7: bool = True
    ) -> PushedImage:
        """Docker manifest list: linux/amd64 + linux/arm64 (+ linux/arm/v7)."""
        platforms = [AMD64, ARM64, *([ARM_V7] if with_arm_v7 else [])]
        images = [build_image(text, p, fmt="docker") for p in platforms]
        return self._multi(repository, tag, text, images, fmt="docker")


# --- the standard set pushed once per test session ------------------------------------------


@dataclass(frozen=True)
class ImageSet:
    """The standard images under one prefix (``demo/...`` or ``public/...``)."""

    web_v1: PushedImage  #: <prefix>/web:1.0, Docker v2 schema 2, linux/amd64
    web_v2: PushedImage  #: <prefix>/web:2.0, same kind, other index.html -> other digests
    oci: PushedImage  #: <prefix>/oci:1.0, OCI manifest, linux/amd64
    multi: PushedImage  #: <prefix>/multi:1.0, OCI index amd64 + arm64 + attestation
    docker_list: PushedImage  #: <prefix>/list:1.0, Docker manifest list amd64/arm64/arm/v7
    arm64_only: PushedImage  #: <prefix>/arm64only:1.0, single manifest, linux/arm64
    big: PushedImage  #: <prefix>/big:1.0, amd64 with an extra ~512 KiB layer

    def all(self) -> tuple[PushedImage, ...]:
        return (
            self.web_v1,
            self.web_v2,
            self.oci,
            self.multi,
            self.docker_list,
            self.arm64_only,
            self.big,
        )


@dataclass(frozen=True)
class StandardImages:
    """``demo`` (pull needs credentials on auth'd registries) and ``public`` (anonymous pull
    allowed by the token server's default policy). ``images["demo/web:1.0"]`` also works."""

    demo: ImageSet
    public: ImageSet

    def all(self) -> tuple[PushedImage, ...]:
        return self.demo.all() + self.public.all()

    def __getitem__(self, reference: str) -> PushedImage:
        for image in self.all():
            if image.reference == reference:
                return image
        raise KeyError(reference)


def push_image_set(pusher: ImagePusher, prefix: str) -> ImageSet:
    """Push the standard images under ``prefix``; index.html says e.g. ``"demo/web 1.0"``."""
    return ImageSet(
        web_v1=pusher.push_docker_image(f"{prefix}/web", "1.0", f"{prefix}/web 1.0"),
        web_v2=pusher.push_docker_image(f"{prefix}/web", "2.0", f"{prefix}/web 2.0"),
        oci=pusher.push_oci_image(f"{prefix}/oci", "1.0", f"{prefix}/oci 1.0"),
        multi=pusher.push_oci_index(f"{prefix}/multi", "1.0", f"{prefix}/multi 1.0"),
        docker_list=pusher.push_docker_manifest_list(f"{prefix}/list", "1.0", f"{prefix}/list 1.0"),
        arm64_only=pusher.push_arm64_only(f"{prefix}/arm64only", "1.0", f"{prefix}/arm64only 1.0"),
        big=pusher.push_big_image(f"{prefix}/big", "1.0", f"{prefix}/big 1.0"),
    )


def push_standard_images(pusher: ImagePusher) -> StandardImages:
    return StandardImages(
        demo=push_image_set(pusher, "demo"), public=push_image_set(pusher, "public")
    )
