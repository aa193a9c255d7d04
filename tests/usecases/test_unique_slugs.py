"""A service's slug is its host name (web: ``<slug>.<base domain>``; private: ``<slug>`` on the
private network): ``create_service`` reserves it with the service, so two services named
alike never share one, even when their id suffixes collide."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.world import OWNER, open_world
from imagedeploy.domain.errors import SlugTaken
from imagedeploy.domain.service_rules import unique_slug
from imagedeploy.domain.services import ServiceType
from imagedeploy.usecases import services

pytestmark = pytest.mark.unit


def test_two_services_named_alike_get_different_hosts(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        first = world.create(name="api").service
        second = world.create(ServiceType.PRIVATE_SERVICE, name="api").service
        assert first.slug.startswith("api-") and second.slug.startswith("api-")
        assert first.slug != second.slug


def test_a_suffix_collision_picks_another_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_world(tmp_path) as world:
        first = world.create(name="api").service
        # The next service's id ends like the first one's: its first candidate slug is taken.
        twin_id = f"srv-{'0' * 16}{first.id[-4:]}"
        ids = iter([twin_id, "dep-00000000000000000001"])
        monkeypatch.setattr(services, "new_id", lambda prefix: next(ids))
        second = world.create(name="api").service
        assert second.id == twin_id
        assert unique_slug("api", twin_id) == first.slug
        assert second.slug == unique_slug("api", twin_id, 1) != first.slug
        assert world.store.get_service(twin_id) == second


def test_every_suffix_taken_is_a_conflict_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always_taken(slug: str, service_id: str, attempt: int = 0) -> str:
        return taken

    with open_world(tmp_path) as world:
        taken = world.create(name="api").service.slug
        monkeypatch.setattr(services, "unique_slug", always_taken)
        with pytest.raises(SlugTaken, match="taken by another service"):
            world.create(name="api")
        assert len(world.store.list_services(OWNER, 10, None).items) == 1
