"""Deploy hook rules (docs/architecture.md §7.1): the ``imgURL`` override, hook keys, the rate
limit's response headers.

``GET|POST /deploy/{serviceId}?key=KEY[&imgURL=REF]`` starts a deploy. ``imgURL`` (already
URL-decoded by the web layer) may change only the tag and/or digest of the service's image: its
registry and repository must be the service's after normalization. Every refusal is a
``NotFound`` (the hook answers 404) whose message says what is wrong; it is raised only after the
key matched, so it reveals nothing to someone without the key.

Pure: no I/O, no clock (times are passed in). Keys come from ``secrets``.
"""

from __future__ import annotations

from imagedeploy.domain.accounts import hash_key, key_matches, new_secret_key
from imagedeploy.domain.digest import quote
from imagedeploy.domain.errors import InvalidReference, NotFound
from imagedeploy.domain.reference import TAG_PATTERN, ImageReference, parse_reference
from imagedeploy.domain.service_rules import parse_image_path

__all__ = [
    "HOOK_KEY_BYTES",
    "hash_hook_key",
    "hook_key_matches",
    "hook_not_found",
    "new_hook_key",
    "rate_limit_headers",
    "resolve_hook_image",
]

HOOK_KEY_BYTES = 32

# Compared against when the service does not exist, so a wrong service id costs the same time
# as a wrong key. No key hashes to it (it is not a sha256 hex digest).
_NO_SERVICE_HASH = "-" * 64


# --- imgURL ---


def resolve_hook_image(service_image_path: str, img_url: str | None) -> ImageReference:
    """What a hook deploys: the service's reference, or it with ``img_url``'s tag and/or digest.

    ``img_url`` None -> the service's reference. Otherwise an optional ``http(s)://`` is
    stripped and the rest parsed as Docker does; a tag replaces the service's tag and digest, a
    digest pins the service's tag to it, both give both, and neither means ``:latest`` (as in
    Docker). Raises ``NotFound`` for a malformed ``img_url`` or one naming another repository.
    """
    service_ref = parse_reference(service_image_path)
    if img_url is None:
        return service_ref
    if img_url.strip() == "":
        raise NotFound(
            f"imgURL is empty: leave it out to deploy this service's image "
            f"({service_ref.normalized}), or give a tag or digest, e.g. {service_ref.name}:1.2.3"
        )
    try:
        override = parse_image_path(img_url)
    except InvalidReference as error:
        raise NotFound(_malformed(img_url, error, service_ref)) from None
    if not override.same_repository_as(service_ref):
        raise NotFound(
            f"imgURL {quote(img_url)} names the repository {override.name}, but this service "
            f"deploys {service_ref.name}: imgURL may change only the tag or digest, so it must "
            f"name the service's repository {service_ref.name} (e.g. {service_ref.name}:1.2.3 or "
            f"{service_ref.name}@sha256:<64 hex>); change the service's image to deploy another "
            "repository"
        )
    resolved = service_ref
    if override.tag is not None or override.digest is None:
        resolved = resolved.with_tag(override.tag or "latest")  # drops the service's digest
    if override.digest is not None:
        resolved = resolved.with_digest(override.digest)  # keeps the tag, for people to read
    return resolved


def _malformed(img_url: str, error: InvalidReference, service_ref: ImageReference) -> str:
    text = img_url.split("://", 1)[-1]
    name, at, after = text.rpartition("@")
    if at and ":" not in after and TAG_PATTERN.match(after) and ":" not in name.rpartition("/")[2]:
        # Render's own docs write nginx%401.24, i.e. "nginx@1.24": a tag after '@'.
        try:
            suggestion = parse_reference(f"{name}:{after}").normalized
        except InvalidReference:
            suggestion = f"{service_ref.name}:{after}"
        return (
            f"imgURL {quote(img_url)} has the tag {after!r} after '@', but '@' introduces a "
            f"digest (sha256:<64 hex>): write the tag after ':', e.g. imgURL={suggestion} "
            "(URL-encoded, ':' is %3A and '/' is %2F)"
        )
    return (
        f"imgURL {quote(img_url)} is not an image reference ({error.message}); give this "
        f"service's repository with a tag or digest, e.g. {service_ref.name}:1.2.3 or "
        f"{service_ref.name}@sha256:<64 hex>"
    )


# --- keys ---


def new_hook_key() -> str:
    """A fresh deploy hook key: 32 random bytes, URL-safe base64 (43 characters). Store only
    ``hash_hook_key(key)``."""
    return new_secret_key(HOOK_KEY_BYTES)


def hash_hook_key(key: str) -> str:
    """What is stored for a hook key (``Service.hook_key_hash``)."""
    return hash_key(key)


def hook_key_matches(key: str | None, stored_hash: str | None) -> bool:
    """Constant-time check of a presented key. ``stored_hash`` None (no such service) or a
    missing key compare against a placeholder, so every refusal costs the same."""
    if stored_hash is None or not key or not key.isascii():  # keys are URL-safe base64
        key_matches("", _NO_SERVICE_HASH)
        return False
    return key_matches(key, stored_hash)


def hook_not_found() -> NotFound:
    """The one answer to a wrong service id or a wrong or missing key: it does not say which."""
    return NotFound(
        "no deploy hook matches this URL: check the service id and the key "
        "(a regenerated key replaces the old one; copy the current hook URL from the service)"
    )


# --- the per-service deploy rate limit (the window lives on the service) ---


def rate_limit_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    """The ``Ratelimit-*`` response headers (``remaining`` is never shown below 0)."""
    return {
        "Ratelimit-Limit": str(limit),
        "Ratelimit-Remaining": str(max(0, remaining)),
        "Ratelimit-Reset": str(reset),
    }
