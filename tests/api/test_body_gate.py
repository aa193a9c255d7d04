"""What the body gate answers from a request's head alone, before a large body is read
(``ImagedeployResolver.admit_body``, used by ``api.http_server``)."""

from __future__ import annotations

import pytest

from devkit.apigw import API_KEY, api_over
from devkit.world import World
from imagedeploy.domain.errors import InvalidInput, NotFound, Unauthenticated

pytestmark = pytest.mark.integration


def test_a_large_dashboard_form_is_refused_with_the_limit_and_the_way_out(world: World) -> None:
    gate = api_over(world).resolver.admit_body
    refusal = gate("/dashboard/services/srv-x/env", "", {})
    assert isinstance(refusal, InvalidInput)
    assert "64 KiB" in refusal.message and "PUT /v1/services/{id}/env-vars" in refusal.message


def test_the_api_needs_a_key_and_other_paths_are_not_routes(world: World) -> None:
    gate = api_over(world).resolver.admit_body
    assert gate("/v1/services", "", {"authorization": f"Bearer {API_KEY}"}) is None
    assert isinstance(gate("/v1/services", "", {}), Unauthenticated)
    assert isinstance(gate("/elsewhere", "", {}), NotFound)
