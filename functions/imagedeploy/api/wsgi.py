"""Serve the Lambda resolver over HTTP: a WSGI app that turns each request into an API Gateway
HTTP API (payload v2) event, calls the same resolver ``handlers.api`` uses, and turns its answer
back into HTTP. ``imagedeploy serve`` runs it on waitress."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

from imagedeploy.api import errors
from imagedeploy.api.log_stream import SUBSCRIBE_PATH, LogStreamer
from imagedeploy.domain.errors import ImagedeployError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from imagedeploy.api.app import ImagedeployResolver

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
MAX_BODY = 6 * 1024 * 1024  # API Gateway's (and Lambda's) request payload limit

_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class _LocalContext:
    """The few Lambda context attributes powertools reads."""

    function_name = "imagedeploy-serve"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:imagedeploy-serve"
    memory_limit_in_mb = 0
    aws_request_id = ""
    log_group_name = ""
    log_stream_name = ""

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def to_event(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The API Gateway HTTP API v2 event for one WSGI request."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    raw_path = environ.get("PATH_INFO", "/") or "/"
    # WSGI decodes the path as latin-1; API Gateway gives the decoded UTF-8 path
    path = raw_path.encode("latin-1").decode("utf-8", "replace")
    query = environ.get("QUERY_STRING", "")
    params: dict[str, str] = {}
    for pair in query.split("&") if query else []:
        key, _, value = pair.partition("=")
        key, value = unquote(key.replace("+", " ")), unquote(value.replace("+", " "))
        params[key] = f"{params[key]},{value}" if key in params else value  # API GW joins repeats
    is_text = headers.get("content-type", "").startswith(("application/json", "text/"))
    try:
        text = body.decode("utf-8") if is_text else None
    except UnicodeDecodeError:
        text = None
    method = environ.get("REQUEST_METHOD", "GET")
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": params or None,
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": environ.get("REMOTE_ADDR", ""),
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": f"local-{time.monotonic_ns()}",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": text if text is not None else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": text is None and bool(body),
    }


def wsgi_app(
    resolver: ImagedeployResolver, log_stream: LogStreamer | None = None
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app. Requests run concurrently, one per server thread: the resolver keeps each
    request's state per thread (``api.app.ImagedeployResolver``), so a request waiting on a
    registry holds up no other."""
    context = _LocalContext()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY:  # api.http_server refuses these before reading them
            return _error(errors.payload_too_large(MAX_BODY), start_response)
        body = environ["wsgi.input"].read(length) if length else b""
        event = to_event(environ, body)
        result = resolver.resolve(event, cast("LambdaContext", context))
        status = int(result.get("statusCode", 500))
        headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers += [(key, str(v)) for v in values]
        for cookie in result.get("cookies") or []:
            headers.append(("Set-Cookie", cookie))
        if log_stream is not None and status == 200 and event["rawPath"] == SUBSCRIBE_PATH:
            return _stream(log_stream, event, start_response)
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        start_response(f"{status} {_REASONS.get(status, 'Status')}", headers)
        return [data]

    return app


def _stream(
    log_stream: LogStreamer, event: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    """``GET /v1/logs/subscribe`` the resolver accepted: the event stream (``api.log_stream``)."""
    try:
        events = log_stream.open(event["headers"], event["rawQueryString"])
    except ImagedeployError as exc:
        return _error(errors.error_response(exc), start_response)
    start_response(
        "200 OK",
        [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")],
    )
    return events


def _error(mapped: errors.ErrorResponse, start_response: StartResponse) -> list[bytes]:
    headers = [("Content-Type", "application/json"), *mapped.headers.items()]
    start_response(f"{mapped.status} {_REASONS.get(mapped.status, 'Status')}", headers)
    return [json.dumps(mapped.body).encode()]
