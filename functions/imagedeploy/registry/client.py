"""``RegistryClient``: the preflight ("pull") of a deploy, and the rollback exists-check.

Request budget (docs/architecture.md §16): a cold multi-arch preflight on a token registry is
challenge, token, index, linux/amd64 manifest; a repeat of an unchanged tag is one HEAD, because
manifests and config platforms are cached by digest (content-addressed, so they never go stale)
and tokens until expiry.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from imagedeploy import __version__
from imagedeploy.domain.errors import ImagePullError, InvalidReference, PullFailureReason
from imagedeploy.domain.reference import ImageReference, validate_digest
from imagedeploy.domain.registries import (
    RegistryCredential,
    RegistryKind,
    api_host,
    credential_mismatch,
    uses_plain_http,
)
from imagedeploy.net.egress import EgressPolicy, Home, Resolver, registry_egress
from imagedeploy.net.pinned import pinned_client
from imagedeploy.registry.auth import Authenticator, refused_message
from imagedeploy.registry.challenge import parse_challenges
from imagedeploy.registry.manifest import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    MANIFEST_ACCEPT,
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
from imagedeploy.registry.transport import (
    Budget,
    RegistryHttp,
    Reply,
    from_a_registry,
    unreachable,
)
from imagedeploy.settings import Settings

logger = logging.getLogger(__name__)

CACHE_ENTRIES = 512
MANIFEST_TYPES = frozenset({OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST})


@dataclass(frozen=True, slots=True)
class PreflightResult:
    reference: str  # the normalized reference as given (tag and/or digest)
    digest: str  # what the tag names: the index or manifest digest (``image.sha``)
    platform_digest: str  # the linux/amd64 image manifest digest everything runs
    platform: str
    media_type: str  # of ``digest``
    size_bytes: int  # config + distinct compressed layers of the linux/amd64 image

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": self.digest,
            "platformDigest": self.platform_digest,
            "platform": self.platform,
            "mediaType": self.media_type,
            "sizeBytes": self.size_bytes,
        }


@dataclass(frozen=True, slots=True)
class _Manifest:
    digest: str
    media_type: str
    body: bytes


K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class _Lru(Generic[K, V]):
    """A small thread-safe LRU map for immutable, content-addressed data."""

    def __init__(self, capacity: int) -> None:
        self._data: OrderedDict[K, V] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._capacity:
                self._data.popitem(last=False)


@dataclass(slots=True)
class _Call:
    """One registry operation against one repository: where, as whom, and its time budget."""

    ref: ImageReference
    host: str
    base_url: str
    credential: RegistryCredential | None
    budget: Budget

    @property
    def repository(self) -> str:
        return self.ref.repository

    @property
    def label(self) -> str:
        return self.ref.normalized


def _content_digest(body: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def _header_digest(reply: Reply) -> str | None:
    value = reply.headers.get("docker-content-digest")
    if not value:
        return None
    try:
        return validate_digest(value.strip())
    except InvalidReference:
        return None  # a registry's malformed header: fall back to hashing the body


def _is_bearer(header: str | None) -> bool:
    return header is not None and header.startswith("Bearer ")


def _error_code(reply: Reply) -> str:
    """The distribution error code (``MANIFEST_UNKNOWN``, ``DENIED``...), for messages."""
    try:
        errors = json.loads(reply.body).get("errors") or []
        return str(errors[0].get("code", "")) if errors else ""
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""


class RegistryClient:
    def __init__(
        self,
        settings: Settings,
        *,
        egress: EgressPolicy | None = None,
        http_client: httpx.Client | None = None,
        resolver: Resolver | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        """``egress``: where registries may be (default: the strict AWS policy; the
        composition root passes its home's). ``http_client`` replaces the pinned client
        (tests; it then decides where it connects). ``resolver`` replaces DNS."""
        self._settings = settings
        egress = egress or registry_egress(settings, Home.AWS)
        if resolver is not None:
            egress = dataclasses.replace(egress, resolver=resolver)
        self._owns_client = http_client is None
        self._client = http_client or pinned_client(
            egress,
            timeout=settings.registry_request_timeout_seconds,
            headers={"User-Agent": f"imagedeploy/{__version__}"},
        )
        optional: dict[str, Any] = {
            k: v
            for k, v in {"sleep": sleep, "clock": clock, "jitter": jitter}.items()
            if v is not None
        }
        self._http = RegistryHttp(
            self._client,
            egress=egress,
            max_attempts=settings.registry_max_attempts,
            **optional,
        )
        self._auth = Authenticator(self._http)
        self._manifests: _Lru[str, _Manifest] = _Lru(CACHE_ENTRIES)
        self._platforms: _Lru[str, Platform] = _Lru(CACHE_ENTRIES)
        self._tags: _Lru[tuple[str, str, str], str] = _Lru(CACHE_ENTRIES)
        self._budget_seconds = settings.registry_retry_budget_seconds

    def with_budget(self, seconds: float) -> RegistryClient:
        """This client (same connections, token and manifest caches) with ``seconds`` as the
        time budget of each operation: what an API request may spend on a registry."""
        view = copy.copy(self)
        view._budget_seconds = seconds
        view._owns_client = False  # closing the view leaves the shared connections open
        return view

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public operations ------------------------------------------------------------------------
    def inspect(
        self, ref: ImageReference, credential: RegistryCredential | None = None
    ) -> PreflightResult:
        """Resolve ``ref`` to digests, choose linux/amd64 and check the size; no layer is read."""
        return self._with_public_fallback(ref, credential, self._inspect)

    def check_digest_exists(
        self, ref: ImageReference, credential: RegistryCredential | None = None
    ) -> None:
        """Raise unless ``ref``'s digest still exists and is readable (the rollback check)."""
        if ref.digest is None:
            raise ImagePullError(
                PullFailureReason.INVALID_REFERENCE,
                f"{ref} names no digest; a rollback needs the digest of the earlier deploy",
            )
        self._with_public_fallback(ref, credential, self._check_digest)

    # -- internals --------------------------------------------------------------------------------
    def _with_public_fallback(
        self,
        ref: ImageReference,
        credential: RegistryCredential | None,
        operation: Callable[[_Call], T],
    ) -> T:
        if credential is not None and (
            problem := credential_mismatch(credential.kind, ref.registry)
        ):
            raise ImagePullError(PullFailureReason.UNAUTHORIZED, problem)
        try:
            return operation(self._call(ref, credential))
        except ImagePullError as exc:
            # GHCR refuses stale credentials even for public images: try once without them.
            if not (
                exc.reason is PullFailureReason.UNAUTHORIZED
                and credential is not None
                and credential.kind is RegistryKind.GITHUB
            ):
                raise
            try:
                return operation(self._call(ref, None))
            except ImagePullError:
                raise exc from None

    def _call(self, ref: ImageReference, credential: RegistryCredential | None) -> _Call:
        host = api_host(ref.registry)
        scheme = "http" if uses_plain_http(host) else "https"
        return _Call(
            ref=ref,
            host=host,
            base_url=f"{scheme}://{host}",
            credential=credential,
            budget=self._http.budget(self._budget_seconds),
        )

    def _inspect(self, call: _Call) -> PreflightResult:
        top = self._resolve_top(call, call.ref.digest, call.ref.tag or "latest")
        manifest = parse_manifest(top.media_type, top.body)
        if isinstance(manifest, Index):
            entry = choose_linux_amd64(manifest)
            platform_digest = entry.digest
            child = self._manifest_by_digest(call, entry.digest)
            image = parse_manifest(child.media_type, child.body)
            if not isinstance(image, ImageManifest):
                raise ImagePullError(
                    PullFailureReason.UNSUPPORTED_MANIFEST,
                    "the linux/amd64 entry of the index is not an image manifest",
                )
            assert entry.platform is not None  # choose_linux_amd64 only returns entries with one
            platform = entry.platform
        else:
            image, platform_digest = manifest, top.digest
        require_image_config(image)
        if not isinstance(manifest, Index):
            platform = self._config_platform(call, image)
            require_linux_amd64(platform)
        size = image_size(image)
        require_size_within(size, self._settings.max_image_bytes)
        logger.info(
            "preflight resolved",
            extra={"image": call.label, "digest": top.digest, "size_bytes": size},
        )
        return PreflightResult(
            reference=call.label,
            digest=top.digest,
            platform_digest=platform_digest,
            platform=str(platform),
            media_type=top.media_type,
            size_bytes=size,
        )

    def _resolve_top(self, call: _Call, ref_digest: str | None, tag: str) -> _Manifest:
        target = ref_digest or tag
        known = ref_digest or self._tags.get((call.host, call.repository, tag))
        if known is not None and (cached := self._manifests.get(known)) is not None:
            # Seen before: one HEAD tells whether the tag still names the same content.
            reply = self._request(call, "HEAD", f"manifests/{target}", accept=MANIFEST_ACCEPT)
            self._raise_for_status(call, reply, what="image")
            head_digest = _header_digest(reply) or ref_digest
            if head_digest == known:
                return cached
        reply = self._request(
            call,
            "GET",
            f"manifests/{target}",
            accept=MANIFEST_ACCEPT,
            max_body=self._settings.max_manifest_bytes,
            what="manifest",
        )
        self._raise_for_status(call, reply, what="image")
        manifest = self._verified_manifest(call, reply, ref_digest)
        if ref_digest is None:
            self._tags.put((call.host, call.repository, tag), manifest.digest)
        return manifest

    def _verified_manifest(self, call: _Call, reply: Reply, expected: str | None) -> _Manifest:
        content_type = reply.headers.get("content-type", "").split(";", 1)[0].strip()
        if content_type not in MANIFEST_TYPES and not from_a_registry(reply):
            raise unreachable(call.host)  # some other HTTP server answered 200
        claimed = expected or _header_digest(reply)
        algorithm = claimed.split(":", 1)[0] if claimed else "sha256"
        actual = _content_digest(reply.body, algorithm)
        if claimed is not None and actual != claimed:
            raise ImagePullError(
                PullFailureReason.REGISTRY_UNAVAILABLE,
                f"{call.host} returned a manifest for {call.label} whose content does not match "
                f"its digest {claimed}; the registry is serving corrupt data",
            )
        manifest = _Manifest(actual, content_type, reply.body)
        if not manifest.media_type:
            parsed = parse_manifest(None, reply.body)
            manifest = _Manifest(actual, parsed.media_type, reply.body)
        self._manifests.put(actual, manifest)
        return manifest

    def _manifest_by_digest(self, call: _Call, digest: str) -> _Manifest:
        if (cached := self._manifests.get(digest)) is not None:
            return cached
        reply = self._request(
            call,
            "GET",
            f"manifests/{digest}",
            accept=MANIFEST_ACCEPT,
            max_body=self._settings.max_manifest_bytes,
            what="manifest",
        )
        self._raise_for_status(call, reply, what="linux/amd64 manifest")
        return self._verified_manifest(call, reply, validate_digest(digest))

    def _config_platform(self, call: _Call, image: ImageManifest) -> Platform:
        digest = image.config.digest
        if (cached := self._platforms.get(digest)) is not None:
            return cached
        reply = self._request(
            call,
            "GET",
            f"blobs/{digest}",
            max_body=self._settings.max_manifest_bytes,
            what="image config",
        )
        self._raise_for_status(call, reply, what="image config")
        expected = validate_digest(digest)
        if _content_digest(reply.body, expected.split(":", 1)[0]) != expected:
            raise ImagePullError(
                PullFailureReason.REGISTRY_UNAVAILABLE,
                f"{call.host} returned an image config that does not match its digest {digest}",
            )
        platform = platform_from_config(reply.body)
        self._platforms.put(digest, platform)
        return platform

    def _check_digest(self, call: _Call) -> None:
        reply = self._request(call, "HEAD", f"manifests/{call.ref.digest}", accept=MANIFEST_ACCEPT)
        if not from_a_registry(reply):
            raise unreachable(call.host)
        if reply.status == 404:
            raise ImagePullError(
                PullFailureReason.NOT_FOUND,
                f"{call.label} no longer exists in the registry: the digest was deleted or "
                "garbage-collected, so there is nothing to roll back to",
            )
        if reply.status in (401, 403):
            raise ImagePullError(
                PullFailureReason.UNAUTHORIZED,
                f"{call.label} is gone or the credential can no longer read it (HTTP "
                f"{reply.status} with a fresh token). "
                + refused_message(call.host, call.credential),
            )
        self._raise_for_status(call, reply, what="image")

    def _request(
        self,
        call: _Call,
        method: str,
        path: str,
        *,
        accept: str | None = None,
        max_body: int | None = None,
        what: str = "response",
    ) -> Reply:
        """One registry API request with authentication: a 401 is answered with the challenge's
        credentials, and once more for ``insufficient_scope``; a 403 on a cached token gets one
        fresh token (tokens can be revoked before they expire)."""
        url = f"{call.base_url}/v2/{call.repository}/{path}"
        header = self._auth.header(call.host, call.repository, call.credential, call.budget)
        answered_challenge = False  # the header was made for this very request's challenge
        scope_retried = False
        while True:
            headers = {"Accept": accept} if accept else {}
            if header:
                headers["Authorization"] = header
            reply = self._http.send(
                method, url, headers=headers, budget=call.budget, max_body=max_body, what=what
            )
            challenges = None
            if reply.status == 401:
                challenges = parse_challenges(reply.headers.get_list("www-authenticate"))
                if not challenges:
                    return reply
                if answered_challenge:
                    if scope_retried or not any(
                        c.get("error") == "insufficient_scope" for c in challenges
                    ):
                        return reply
                    scope_retried = True
            elif not (reply.status == 403 and not answered_challenge and _is_bearer(header)):
                return reply
            header = self._auth.header(
                call.host,
                call.repository,
                call.credential,
                call.budget,
                challenges=challenges,
                force_refresh=True,
            )
            answered_challenge = True
            if header is None:
                return reply

    def _raise_for_status(self, call: _Call, reply: Reply, *, what: str) -> None:
        if 200 <= reply.status < 300:
            return
        if not from_a_registry(reply):
            raise unreachable(call.host)
        code = _error_code(reply)
        if reply.status == 404:
            raise ImagePullError(
                PullFailureReason.NOT_FOUND,
                f"{what} {call.label} was not found on {call.host}"
                + (f" ({code})" if code else "")
                + "; check the repository name and the tag or digest",
            )
        if reply.status == 401 or (reply.status == 403 and call.credential is None):
            raise ImagePullError(
                PullFailureReason.UNAUTHORIZED, refused_message(call.host, call.credential)
            )
        if reply.status == 403:
            assert call.credential is not None
            message = refused_message(call.host, call.credential)
            if call.credential.kind is RegistryKind.AWS_ECR:
                # ECR answers an expired login token with 403 DENIED, not 401.
                message = (
                    f"{call.host} denied the ECR credential (HTTP 403"
                    + (f" {code}" if code else "")
                    + "): ECR tokens expire after 12 hours; update the credential with the "
                    "output of `aws ecr get-login-password`"
                )
            raise ImagePullError(PullFailureReason.UNAUTHORIZED, message)
        raise ImagePullError(
            PullFailureReason.REGISTRY_UNAVAILABLE,
            f"{call.host} answered HTTP {reply.status}"
            + (f" ({code})" if code else "")
            + f" for {what} {call.label}",
        )
