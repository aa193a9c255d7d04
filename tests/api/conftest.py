"""Call the real resolver (the one ``serve`` and the Lambda use) with API Gateway v2 events,
over the use-case ``world`` (real SQLite store, fake registry and runtime)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from imagedeploy.api.app import build_resolver
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.wsgi import _LocalContext
from imagedeploy.domain.accounts import ApiKey, hash_key
from tests.support.apigw import Reply, http_api_event
from tests.usecases.conftest import OWNER, World, world  # noqa: F401 - fixture

API_KEY = "rnd_test_key_7f1c2e9a4b"
BASE = "http://imagedeploy.test"


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
        event = http_api_event(method, path, body, query=query, bearer=key, raw_body=raw_body)
        return Reply.of(self.resolver.resolve(event, _LocalContext()))


@pytest.fixture
def api(world: World) -> Api:  # noqa: F811
    world.store.write(
        put=[
            ApiKey("rnd-00000000000000000001", OWNER, "test", hash_key(API_KEY), datetime.now(UTC))
        ]
    )
    return Api(world, build_resolver(ApiDeps(world.ports, BASE)))
