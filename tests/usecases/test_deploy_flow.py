"""Deploys through the use cases: create, hook, queueing, supersede, cancel, rollback,
pre-deploy, rate limit — real SQLite store, fake registry and runtime."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from devkit.world import AMD1, IMAGE, SHA1, SHA2, World
from imagedeploy.domain.deploy_machine import Phase, PreDeployExited, PullFailed
from imagedeploy.domain.deploys import DeployStatus, DeployTrigger
from imagedeploy.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PullFailureReason,
    RateLimited,
)
from imagedeploy.domain.events import EventType
from imagedeploy.ports import Limits
from imagedeploy.usecases import credentials, deploys, services

pytestmark = pytest.mark.unit


def events_of(world: World, service_id: str) -> list[EventType]:
    return [e.type for e in reversed(world.store.list_events(service_id, 100).items)]


def test_create_deploys_the_pinned_digest(world: World) -> None:
    created = world.create()
    assert created.deploy.status is DeployStatus.CREATED
    assert [job.kind for job in world.jobs.queue] == ["outbox"]  # its ``begin`` effect
    world.go_live(created.deploy.id)
    deploy = world.store.get_deploy(created.deploy.id)
    assert deploy is not None and deploy.status is DeployStatus.LIVE
    assert (deploy.image_sha, deploy.platform_digest) == (SHA1, AMD1)
    spec = world.runtime.specs[-1]
    assert spec.image == f"{IMAGE}@{AMD1}"  # never the tag
    assert spec.env["PORT"] == "10000" and spec.env["RENDER_SERVICE_ID"] == created.service.id
    service = world.store.get_service(created.service.id)
    assert service is not None
    assert (service.live_deploy_id, service.active_deploy_id) == (deploy.id, None)
    assert events_of(world, service.id) == [EventType.DEPLOY_STARTED, EventType.DEPLOY_ENDED]


def test_hook_with_img_url_deploys_that_tag_once(world: World) -> None:
    created = world.create()
    world.go_live(created.deploy.id)
    triggered = services.deploy_hook(
        world.ports, created.service.id, created.hook_key, f"{IMAGE}:2.0"
    )
    assert triggered.deploy.trigger is DeployTrigger.DEPLOY_HOOK and not triggered.queued
    world.go_live(triggered.deploy.id)
    new = world.store.get_deploy(triggered.deploy.id)
    old = world.store.get_deploy(created.deploy.id)
    assert new is not None and old is not None
    assert (new.status, new.image_sha) == (DeployStatus.LIVE, SHA2)
    assert old.status is DeployStatus.DEACTIVATED
    # the service keeps its configured reference for later deploys
    again = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API)
    assert again.deploy.image_ref == f"{IMAGE}:1.0"


def test_hook_refusals_are_404_and_start_nothing(world: World) -> None:
    created = world.create()
    world.drain()
    before = len(world.store.list_deploys(created.service.id, 100).items)
    for key, img in (
        ("wrong-key", None),
        (None, None),
        (created.hook_key, "registry.example.com/other/web:2.0"),
        (created.hook_key, "nginx@1.24"),
    ):
        with pytest.raises(NotFound):
            services.deploy_hook(world.ports, created.service.id, key, img)
    with pytest.raises(NotFound):
        services.deploy_hook(world.ports, "srv-00000000000000000000", created.hook_key, None)
    assert len(world.store.list_deploys(created.service.id, 100).items) == before


def test_regenerated_key_replaces_the_old_one(world: World) -> None:
    created = world.create()
    new_key = services.regenerate_hook_key(world.ports, created.service.id)
    with pytest.raises(NotFound):
        services.deploy_hook(world.ports, created.service.id, created.hook_key, None)
    assert services.deploy_hook(world.ports, created.service.id, new_key, None).deploy


def test_queued_deploys_newest_wins_older_canceled(world: World) -> None:
    created = world.create()
    world.drain()  # first deploy is rolling out
    second = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API)
    third = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API)
    assert second.queued and third.queued
    world.drain()
    superseded = world.store.get_deploy(second.deploy.id)
    assert superseded is not None and superseded.status is DeployStatus.CANCELED
    assert superseded.reason == {"newDeploy": {"id": third.deploy.id}}
    world.go_live(created.deploy.id)
    world.go_live(third.deploy.id)
    final = world.store.get_deploy(third.deploy.id)
    assert final is not None and final.status is DeployStatus.LIVE


def test_cancel_stops_the_rollout_and_the_old_version_keeps_serving(world: World) -> None:
    created = world.create()
    world.go_live(created.deploy.id)
    triggered = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API)
    world.drain()
    canceled = deploys.cancel_deploy(world.ports, created.service.id, triggered.deploy.id)
    assert canceled.status is DeployStatus.CANCELED
    world.drain()
    assert ("cancel", triggered.deploy.id) in world.runtime.calls
    service = world.store.get_service(created.service.id)
    assert service is not None and service.live_deploy_id == created.deploy.id
    with pytest.raises(Conflict):
        deploys.cancel_deploy(world.ports, created.service.id, triggered.deploy.id)


def test_failing_pre_deploy_keeps_the_old_version(world: World) -> None:
    created = world.create(pre_deploy_command="./migrate --up")
    world.drain()
    deploys.handle_signal(world.ports, created.deploy.id, PreDeployExited(0))
    world.go_live(created.deploy.id)
    triggered = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API)
    world.drain()
    assert world.runtime.specs[-1].command == ("./migrate", "--up")
    deploys.handle_signal(world.ports, triggered.deploy.id, PreDeployExited(2))
    failed = world.store.get_deploy(triggered.deploy.id)
    assert failed is not None and failed.status is DeployStatus.PRE_DEPLOY_FAILED
    assert ("start_rollout", triggered.deploy.id) not in world.runtime.calls
    service = world.store.get_service(created.service.id)
    assert service is not None and service.live_deploy_id == created.deploy.id
    world.drain()
    told = [(e.type, e.details.get("deployId")) for _, e in world.notifier.sent]
    assert told == [(EventType.DEPLOY_ENDED, triggered.deploy.id)]  # a failure: told


def test_wrong_platform_fails_before_anything_runs(world: World) -> None:
    from imagedeploy.domain.errors import ImagePullError

    world.registry.results[f"{IMAGE}:arm"] = ImagePullError(
        PullFailureReason.WRONG_PLATFORM, "image has linux/arm64 only"
    )
    created = world.create(image_path=f"{IMAGE}:arm")
    world.drain()
    deploy = world.store.get_deploy(created.deploy.id)
    assert deploy is not None and deploy.status is DeployStatus.UPDATE_FAILED
    assert not [c for c in world.runtime.calls if c[0] == "start_rollout"]
    assert EventType.IMAGE_PULL_FAILED in events_of(world, created.service.id)


def test_rollback_to_a_deleted_digest_fails_and_changes_nothing(world: World) -> None:
    created = world.create()
    world.go_live(created.deploy.id)
    second = services.deploy_hook(world.ports, created.service.id, created.hook_key, f"{IMAGE}:2.0")
    world.go_live(second.deploy.id)
    world.registry.gone.add(SHA1)
    rolled = deploys.rollback(world.ports, created.service.id, created.deploy.id)
    assert rolled.deploy.trigger is DeployTrigger.ROLLBACK
    assert rolled.deploy.image_ref == f"{IMAGE}@{SHA1}"
    world.drain()
    failed = world.store.get_deploy(rolled.deploy.id)
    assert failed is not None and failed.status is DeployStatus.UPDATE_FAILED
    service = world.store.get_service(created.service.id)
    assert service is not None and service.live_deploy_id == second.deploy.id


def test_rollback_redeploys_the_old_digest_with_current_env(world: World) -> None:
    created = world.create(docker_command="serve --old")
    world.go_live(created.deploy.id)
    services.put_env_var(world.ports, created.service.id, "FEATURE", "on")
    second = services.deploy_hook(world.ports, created.service.id, created.hook_key, f"{IMAGE}:2.0")
    world.go_live(second.deploy.id)
    rolled = deploys.rollback(world.ports, created.service.id, created.deploy.id)
    world.go_live(rolled.deploy.id)
    spec = world.runtime.specs[-1]
    assert spec.image == f"{IMAGE}@{AMD1}"
    assert spec.command == ("serve", "--old")
    assert spec.env["FEATURE"] == "on"
    # a deploy that never resolved an image cannot be rolled back to
    failed = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API)
    deploys.cancel_deploy(world.ports, created.service.id, failed.deploy.id)
    with pytest.raises(InvalidInput):
        deploys.rollback(world.ports, created.service.id, failed.deploy.id)


def test_rollout_pull_failure_is_classified(world: World) -> None:
    created = world.create()
    world.drain()
    deploys.handle_signal(
        world.ports,
        created.deploy.id,
        PullFailed(Phase.ROLLOUT, PullFailureReason.UNAUTHORIZED, "denied"),
    )
    deploy = world.store.get_deploy(created.deploy.id)
    assert deploy is not None and deploy.status is DeployStatus.UPDATE_FAILED
    assert deploy.reason["imagePullFailed"]["reason"] == "unauthorized"


def test_rate_limit_is_shared_by_hooks_and_api(world: World) -> None:
    created = world.create()
    for i in range(9):
        trigger = services.deploy_hook if i % 2 else None
        if trigger:
            trigger(world.ports, created.service.id, created.hook_key, None)
        else:
            deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API)
    last = deploys.trigger_deploy(world.ports, created.service.id, DeployTrigger.API)
    assert last.rate.remaining == 0
    with pytest.raises(RateLimited) as exc:
        services.deploy_hook(world.ports, created.service.id, created.hook_key, None)
    assert exc.value.limit == 10 and exc.value.remaining == 0 and exc.value.reset_seconds <= 60
    world.clock.advance(61)
    assert (
        services.deploy_hook(world.ports, created.service.id, created.hook_key, None).rate.remaining
        == 9
    )


def test_credential_in_use_cannot_be_deleted(world: World) -> None:
    credential_id = world.credential()
    created = world.create(credential_id=credential_id)
    with pytest.raises(Conflict) as exc:
        credentials.delete_credential(world.ports, credential_id)
    assert created.service.id in exc.value.message
    world.drain()
    assert world.registry.calls[-1][2] == "deployer"  # the preflight used the credential
    services.delete_service(world.ports, created.service.id)
    credentials.delete_credential(world.ports, credential_id)
    assert world.ports.secrets.get(credential_id) is None


def test_fifty_concurrent_hooks_one_live_rest_canceled_nothing_lost(world: World) -> None:
    world.ports = (
        world.ports.__class__(**{**world.ports.__dict__, "limits": Limits(deploys_per_minute=1000)})
        if False
        else world.ports
    )

    world.ports = dataclasses.replace(world.ports, limits=Limits(deploys_per_minute=1000))
    created = world.create()
    world.go_live(created.deploy.id)
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def hook() -> None:
        try:
            barrier.wait()
            results.append(
                services.deploy_hook(
                    world.ports, created.service.id, created.hook_key, None
                ).deploy.id
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hook) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 50
    world.drain()
    # finish whatever is active, repeatedly, until nothing is in progress
    for _ in range(60):
        service = world.store.get_service(created.service.id)
        assert service is not None
        if service.active_deploy_id is None:
            break
        world.go_live(service.active_deploy_id)
    statuses = {d: world.store.get_deploy(d).status for d in results}  # type: ignore[union-attr]
    live = [d for d, s in statuses.items() if s is DeployStatus.LIVE]
    assert len(live) == 1
    assert set(statuses.values()) <= {
        DeployStatus.LIVE,
        DeployStatus.DEACTIVATED,
        DeployStatus.CANCELED,
    }
    assert len(world.store.list_deploys(created.service.id, 100).items) == 51
