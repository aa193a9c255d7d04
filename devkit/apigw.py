"""API Gateway HTTP API (payload format 2.0) events for tests, and the replies they produce:
the same shape reaches the resolver from ``serve``'s WSGI adapter and from the API Lambda.
``Api`` calls the real resolver with them over the use-case world (``devkit.world``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from devkit.world import OWNER, World
from imagedeploy.adapters.local.log_store import SqliteLogStore
from imagedeploy.api.app import build_resolver
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.wsgi import _LocalContext
from imagedeploy.domain.accounts import ApiKey, hash_key

ACCOUNT = "123456789012"
API_KEY = "rnd_test_key_7f1c2e9a4b"
BASE = "http://imagedeploy.test"


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


@dataclass
class Api:
    world: World
    resolver: Any
    logs: SqliteLogStore | None = None  # the log store ``GET /v1/logs`` reads

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        key: str | None = API_KEY,
        raw_body: str | None = None,
    ) -> Reply:
        event = http_api_event(method, path, body, query=query, bearer=key, raw_body=raw_body)
        return Reply.of(self.resolver.resolve(event, _LocalContext()))


def api_over(world: World) -> Api:
    """The resolver over ``world``, with ``API_KEY`` stored for ``OWNER``."""
    world.store.write(
        put=[
            ApiKey("rnd-00000000000000000001", OWNER, "test", hash_key(API_KEY), datetime.now(UTC))
        ]
    )
    logs = SqliteLogStore(world.store.path.parent / "logs.sqlite")
    return Api(world, build_resolver(ApiDeps(world.ports, BASE, log_reader=logs)), logs)
