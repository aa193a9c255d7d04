"""The small error hierarchy every layer raises; the API maps these to HTTP in one place
(``api/errors.py``).

Callers branch on the class (or on ``PullFailureReason``), never on message text. Messages say
what is wrong and how to fix it, and never contain a secret.
"""

from __future__ import annotations

from enum import StrEnum


class ImagedeployError(Exception):
    """Base class: something a user or operator can act on."""

    code: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ImagedeployError):
    """The request itself is wrong; retrying it unchanged will fail again (400)."""

    code = "invalid_input"


class InvalidReference(InvalidInput):
    """An image reference (or a digest) does not parse the way Docker parses it."""

    code = "invalid_reference"


class NotFound(ImagedeployError):
    """The resource does not exist, or the caller may not know that it does (404)."""

    code = "not_found"


class Conflict(ImagedeployError):
    """The request contradicts the current state, e.g. deleting a credential in use (409)."""

    code = "conflict"


class ConcurrentUpdate(Conflict):
    """A conditional write lost a race: someone else changed the record first. Use cases retry
    these; one that escapes to the API is a 409."""

    code = "concurrent_update"


class SlugTaken(Conflict):
    """A new service's slug (its host name) is already another service's: the store reserves
    slugs atomically with the service; ``create_service`` tries another suffix."""

    code = "conflict"

    def __init__(self, slug: str) -> None:
        super().__init__(f"host name {slug!r} is taken by another service")
        self.slug = slug


class RateLimited(ImagedeployError):
    """Too many requests for one service in the current window (429)."""

    code = "rate_limited"

    def __init__(self, message: str, *, limit: int, remaining: int, reset_seconds: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.remaining = remaining
        self.reset_seconds = reset_seconds


class Unauthenticated(ImagedeployError):
    """No valid API key (401)."""

    code = "unauthorized"


class StorageUnavailable(ImagedeployError):
    """The state cannot be written or read right now (a full, read-only or failing disk): the
    request was not applied and may succeed once an operator frees space (503)."""

    code = "storage_unavailable"


class PullFailureReason(StrEnum):
    """Why a preflight ("pull") failed; the reason of an ``image_pull_failed`` event."""

    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate_limited"
    REGISTRY_UNAVAILABLE = "registry_unavailable"
    WRONG_PLATFORM = "wrong_platform"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MANIFEST = "unsupported_manifest"
    INVALID_REFERENCE = "invalid_reference"
    BLOCKED_HOST = "blocked_host"


class ImagePullError(ImagedeployError):
    """The registry could not give us a runnable linux/amd64 image; ``reason`` classifies why."""

    code = "image_pull_failed"

    def __init__(self, reason: PullFailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def transient(self) -> bool:
        """The registry, not the image, is the problem: the same request can succeed later."""
        return self.reason in (
            PullFailureReason.REGISTRY_UNAVAILABLE,
            PullFailureReason.RATE_LIMITED,
        )

    def __repr__(self) -> str:
        return f"ImagePullError({self.reason.value!r}, {self.message!r})"
