"""Call the real resolver (the one ``serve`` and the Lambda use) with API Gateway v2 events,
over the use-case ``world`` (real SQLite store, fake registry and runtime)."""

from __future__ import annotations

import pytest

from devkit.apigw import Api, api_over
from devkit.world import World


@pytest.fixture
def api(world: World) -> Api:
    return api_over(world)
