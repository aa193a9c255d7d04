"""The dashboard tests' browser: a ``FormClient`` over the resolver of the test's world."""

from __future__ import annotations

import pytest

from devkit.dashboard import FormClient, dashboard_over
from devkit.world import World


@pytest.fixture
def client(world: World) -> FormClient:
    return FormClient(dashboard_over(world).resolve)
