"""Call the real resolver (the one ``serve`` and the Lambda use) with API Gateway v2 events,
over the use-case ``world`` (real SQLite store, fake registry and runtime)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from imagedeploy.api.app import build_resolver
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.wsgi import _LocalContext
from imagedeploy.domain.accounts import ApiKey, hash_key
from tests.usecases.conftest import OWNER, World, world  # noqa: F401 - fixture

API_KEY = "rnd_test_key_7f1c2e9a4b"
BASE = "http://imagedeploy.test"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


@dataclass
class Api:
    world: World
    resolver: Any

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
        headers = {"content-type": "application/json", "user-agent": "tests"}
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": urlencode(query or {}),
            "headers": headers,
            "queryStringParameters": query or None,
            "requestContext": {
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "tests",
                },
                "requestId": "test",
                "stage": "$default",
                "timeEpoch": 0,
            },
            "body": text,
            "isBase64Encoded": False,
        }
        result = self.resolver.resolve(event, _LocalContext())
        return Reply(
            result["statusCode"],
            {k.lower(): v for k, v in (result.get("headers") or {}).items()},
            result.get("body") or "",
        )


@pytest.fixture
def api(world: World) -> Api:  # noqa: F811
    world.store.write(
        put=[
            ApiKey("rnd-00000000000000000001", OWNER, "test", hash_key(API_KEY), datetime.now(UTC))
        ]
    )
    return Api(world, build_resolver(ApiDeps(world.ports, BASE)))
