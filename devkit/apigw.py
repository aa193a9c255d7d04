"""API Gateway HTTP API (payload format 2.0) events for tests, and the replies they produce:
the same shape reaches the resolver from ``serve``'s WSGI adapter and from the API Lambda."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

ACCOUNT = "123456789012"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lowercased names
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None

    @classmethod
    def of(cls, result: dict[str, Any]) -> Reply:
        """The reply in a resolver's (or a Lambda's) proxy response."""
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        return cls(result["statusCode"], headers, result.get("body") or "")


def http_api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    bearer: str | None = None,
    raw_body: str | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An HTTP API v2 event; ``body`` is sent as JSON unless ``raw_body`` is given."""
    headers = {"content-type": "application/json", "user-agent": "tests"}
    if bearer is not None:
        headers["authorization"] = f"Bearer {bearer}"
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": headers,
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "tests",
            },
            "requestId": "req",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:12:00:00 +0000",
            "timeEpoch": 1767268800000,
        },
        "body": text,
        "isBase64Encoded": False,
    }
