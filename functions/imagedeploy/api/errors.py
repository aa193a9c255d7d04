"""The one mapping from errors to Render's error responses: ``(status, {"id", "message"})``.

=============================================  ======  =====================================
error                                          status  ``id``
=============================================  ======  =====================================
``InvalidInput`` / ``InvalidReference``        400     ``invalid_input`` / ``invalid_reference``
request validation (pydantic, powertools)      400     ``invalid_input``
``Unauthenticated``                            401     ``unauthorized``
``NotFound``                                   404     ``not_found``
``Conflict`` / ``ConcurrentUpdate``            409     ``conflict`` / ``concurrent_update``
``RateLimited``                                429     ``rate_limited`` + ``Ratelimit-*``
``ImagePullError`` (the image is unusable)     400     ``image_pull_failed``
``ImagePullError`` (registry down/throttling)  503     ``image_pull_failed`` + ``Retry-After``
``StorageUnavailable`` (disk full, read-only)  503     ``storage_unavailable`` + ``Retry-After``
powertools ``ServiceError`` (unknown route)    its     by status
anything else                                  500     ``internal_error``
=============================================  ======  =====================================

Why 400 and not 422 for a body that fails validation: Render documents ``400`` ("The request
could not be understood") on every operation that takes input and ``422`` on none, so a Render
client handles 400. ``VALIDATION_STATUS`` is the one place to change that.

An ``ImagePullError`` reaching the API comes from a synchronous preflight (``PATCH`` of a
service's image, ``POST /images/verify``) within the short request budget: when the image
itself is the problem (not found, unauthorized, wrong platform, too large, ...) the request is
wrong as it stands (400; verify reports these in its 200 body instead); when the registry is
unavailable, too slow or throttling, the same request can succeed later (503 with
``Retry-After``; Render documents 503 everywhere).

Bodies never carry a stack trace, an input value (pydantic's ``input`` may hold an auth token)
or an unexpected exception's text; unexpected errors are logged here instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from imagedeploy.domain.errors import (
    ConcurrentUpdate,
    Conflict,
    ImagedeployError,
    ImagePullError,
    InvalidInput,
    NotFound,
    RateLimited,
    StorageUnavailable,
    Unauthenticated,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

__all__ = [
    "VALIDATION_STATUS",
    "ErrorResponse",
    "error_response",
    "install",
    "payload_too_large",
    "to_response",
    "validation_message",
]

logger = logging.getLogger(__name__)

VALIDATION_STATUS: Final = 400
INTERNAL_MESSAGE: Final = "An unexpected server error has occurred."
RETRY_UNAVAILABLE_SECONDS: Final = 10  # Retry-After of a 503: the registry may be back soon
_STATUS_IDS: Final = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}
_MAX_LISTED: Final = 10
STORAGE_RETRY_AFTER_SECONDS: Final = 30


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """An error as Render sends it: status, ``{"id", "message"}`` body, extra headers."""

    status: int
    id: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def body(self) -> dict[str, str]:
        return {"id": self.id, "message": self.message}


def error_response(exc: BaseException) -> ErrorResponse:
    """The response for ``exc`` (pure; logging of unexpected errors is ``to_response``'s)."""
    if isinstance(exc, ImagedeployError):
        return _domain(exc)
    if isinstance(exc, ValidationError):
        return ErrorResponse(VALIDATION_STATUS, "invalid_input", validation_message(exc.errors()))
    powertools = _powertools(exc)
    if powertools is not None:
        return powertools
    return ErrorResponse(500, "internal_error", INTERNAL_MESSAGE)


def _domain(exc: ImagedeployError) -> ErrorResponse:
    match exc:
        case RateLimited():
            headers = {
                "Ratelimit-Limit": str(exc.limit),
                "Ratelimit-Remaining": str(exc.remaining),
                "Ratelimit-Reset": str(exc.reset_seconds),
                "Retry-After": str(exc.reset_seconds),
            }
            return ErrorResponse(429, exc.code, exc.message, headers)
        case InvalidInput():
            return ErrorResponse(400, exc.code, exc.message)
        case Unauthenticated():
            return ErrorResponse(401, exc.code, exc.message, {"WWW-Authenticate": "Bearer"})
        case NotFound():
            return ErrorResponse(404, exc.code, exc.message)
        case ConcurrentUpdate():
            message = f"{exc.message} (the resource changed while this request ran; retry it)"
            return ErrorResponse(409, exc.code, message)
        case Conflict():
            return ErrorResponse(409, exc.code, exc.message)
        case StorageUnavailable():
            headers = {"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)}
            return ErrorResponse(503, exc.code, exc.message, headers)
        case ImagePullError():
            message = f"image pull failed ({exc.reason}): {exc.message}"
            if exc.transient:
                retry = {"Retry-After": str(RETRY_UNAVAILABLE_SECONDS)}
                return ErrorResponse(503, exc.code, message, retry)
            return ErrorResponse(400, exc.code, message)
    # A subclass nobody mapped yet: the message is safe (domain contract), the status is ours.
    return ErrorResponse(500, exc.code, exc.message)


def _powertools(exc: BaseException) -> ErrorResponse | None:
    from aws_lambda_powertools.event_handler.exceptions import ServiceError
    from aws_lambda_powertools.event_handler.openapi.exceptions import (
        RequestUnsupportedContentType,
        RequestValidationError,
    )

    # (powertools' other ValidationExceptions, e.g. of a response, are our bugs: a 500)
    if isinstance(exc, RequestValidationError | RequestUnsupportedContentType):
        return ErrorResponse(VALIDATION_STATUS, "invalid_input", validation_message(exc.errors()))
    if isinstance(exc, ServiceError):
        status = int(exc.status_code)
        message = exc.msg if isinstance(exc.msg, str) else HTTPStatus(status).phrase
        return ErrorResponse(status, _STATUS_IDS.get(status, "error"), message)
    return None


def payload_too_large(limit_bytes: int) -> ErrorResponse:
    """A request body over the API's limit (refused by the server before it is read)."""
    megabytes = limit_bytes / (1024 * 1024)
    return ErrorResponse(
        413,
        "payload_too_large",
        f"the request body is larger than the API accepts ({megabytes:g} MB, "
        f"{limit_bytes:,} bytes); no operation takes a body that large",
    )


def validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    """One sentence per problem, ``location: what is wrong``; never the input values."""
    parts = [_problem(error) for error in errors[:_MAX_LISTED]]
    if len(errors) > _MAX_LISTED:
        parts.append(f"and {len(errors) - _MAX_LISTED} more problems")
    return "; ".join(parts) or "the request is not valid"


def _problem(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    loc = tuple(error.get("loc", ()))
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    if kind == "unsupported_content_type":
        return "the request body must be JSON (Content-Type: application/json)"
    if kind == "missing" and loc == ("body",) and error.get("msg") == "Field required":
        return "a JSON request body is required"  # powertools' own "no body at all" error
    where = _location(loc)
    message = str(error.get("msg", "is not valid"))
    return f"{where}: {message}" if where else message


def _location(loc: Sequence[Any]) -> str:
    parts = list(loc)
    prefix = ""
    if parts and parts[0] == "body":
        parts = parts[1:]
    elif parts and parts[0] in ("query", "path", "header", "cookie"):
        prefix = f"{parts[0]} parameter "
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"{prefix}{text}" if text else prefix.strip()


def to_response(exc: Exception) -> Response[str]:
    """A powertools exception handler: ``app.exception_handler(Exception)(to_response)``."""
    from aws_lambda_powertools.event_handler import Response

    mapped = error_response(exc)
    if mapped.status >= 500 and mapped.id == "internal_error":
        logger.error("unhandled error in an API request", exc_info=exc)
    return Response(
        status_code=mapped.status,
        content_type="application/json",
        body=json.dumps(mapped.body),
        headers=dict(mapped.headers),
    )


def install(app: ApiGatewayResolver) -> None:
    """Route every error of ``app`` (domain errors, request validation, unknown routes,
    unexpected exceptions) through ``to_response``."""
    from aws_lambda_powertools.event_handler.exceptions import ServiceError
    from aws_lambda_powertools.event_handler.openapi.exceptions import ValidationException

    app.exception_handler(
        [ImagedeployError, ValidationError, ValidationException, ServiceError, Exception]
    )(to_response)
