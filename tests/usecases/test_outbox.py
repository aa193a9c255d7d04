"""The unit of work and the outbox dispatcher, with a real SQLite store and a runtime that fails
on demand (``world``)."""

from __future__ import annotations

import dataclasses

import pytest

from devkit.world import World
from imagedeploy.domain.deploys import DeployStatus
from imagedeploy.domain.errors import ConcurrentUpdate
from imagedeploy.domain.events import EventType
from imagedeploy.domain.outbox import (
    Converge,
    Restart,
    StartRollout,
    StopDeploy,
    backoff_seconds,
    error_text,
    retries_left,
)
from imagedeploy.ports import RunSpec
from imagedeploy.usecases.outbox import retry_effect
from imagedeploy.usecases.unit_of_work import retry_on_conflict, unit_of_work
from imagedeploy.usecases.worker import run_job

pytestmark = pytest.mark.unit


class Throttled(Exception):
    """Shaped like botocore's ClientError: the AWS error code and message in ``response``."""

    def __init__(self) -> None:
        super().__init__("An error occurred (ThrottlingException)")
        self.response = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}


def failing_rollouts(world: World, times: int | None) -> list[str]:
    """Make ``start_rollout`` raise ``Throttled`` ``times`` times (None: always)."""
    attempts: list[str] = []
    real = world.runtime.start_rollout

    def start_rollout(spec: RunSpec) -> None:
        attempts.append(spec.deploy_id)
        if times is None or len(attempts) <= times:
            raise Throttled()
        real(spec)

    world.runtime.start_rollout = start_rollout  # type: ignore[method-assign]
    return attempts


def test_the_backoff_doubles_up_to_a_minute() -> None:
    assert [backoff_seconds(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert retries_left(3, 7) and not retries_left(4, 7)


def test_error_text_names_the_aws_error_code() -> None:
    assert error_text(Throttled()) == "ThrottlingException: Rate exceeded"
    assert error_text(ValueError("bad")) == "ValueError: bad"


def test_a_failing_effect_is_retried_with_backoff_and_then_succeeds(world: World) -> None:
    attempts = failing_rollouts(world, times=3)
    created = world.create()
    world.drain()
    assert len(attempts) == 4
    assert world.jobs.delays == [1, 2, 4]
    deploy = world.store.get_deploy(created.deploy.id)
    assert deploy is not None and deploy.status is DeployStatus.UPDATE_IN_PROGRESS
    assert world.store.list_outbox(10).items == []


def test_an_effect_that_keeps_failing_fails_its_deploy_with_the_error(world: World) -> None:
    failing_rollouts(world, times=None)
    created = world.create()
    world.drain()
    deploy = world.store.get_deploy(created.deploy.id)
    assert deploy is not None and deploy.status is DeployStatus.UPDATE_FAILED
    assert deploy.reason["failure"]["platformError"] == "ThrottlingException: Rate exceeded"
    ended = world.store.list_events(created.service.id, 1).items[0]
    assert ended.type is EventType.DEPLOY_ENDED
    # the budget (300 s by default) spent: 1 + 2 + 4 + ... + 60 + 60 + 60 + 60 + 60 + 60
    assert sum(world.jobs.delays) <= world.ports.limits.effect_retry_seconds
    assert world.store.list_outbox(10).items == []


def test_a_retrying_record_keeps_its_attempts_and_the_error(world: World) -> None:
    failing_rollouts(world, times=None)
    world.create()
    while world.jobs.queue and not world.jobs.delays:
        run_job(world.ports, world.jobs.queue.popleft())
    (record,) = world.store.list_outbox(10).items
    assert (record.attempts, record.last_error) == (1, "ThrottlingException: Rate exceeded")
    assert record.due_at > record.created_at


def test_state_and_effects_are_one_write(world: World) -> None:
    created = world.create()
    world.drain()
    service = world.store.get_service(created.service.id)
    assert service is not None

    @retry_on_conflict
    def rename(name: str, *, lose: list[bool]) -> None:
        current = world.store.get_service(created.service.id)
        assert current is not None
        if lose:  # another writer gets there between the read and the commit
            lose.pop()
            world.store.write(put=[dataclasses.replace(current, name="other")])
        with unit_of_work(world.ports) as tx:
            tx.put(dataclasses.replace(current, name=name))
            tx.effect(StopDeploy(current.id, "dep-x"))

    def stale_write() -> None:
        with unit_of_work(world.ports) as tx:
            tx.put(dataclasses.replace(service, version=service.version - 1))
            tx.effect(StopDeploy(service.id, "dep-y"))

    with pytest.raises(ConcurrentUpdate):
        stale_write()
    assert world.store.list_outbox(10).items == []  # nothing half-written

    rename("renamed", lose=[True])
    stored = world.store.get_service(created.service.id)
    assert stored is not None and stored.name == "renamed"
    (record,) = world.store.list_outbox(10).items  # one record: the retry's, not the loser's
    world.drain()
    assert ("cancel", "dep-x") in world.runtime.calls
    assert world.store.list_outbox(10).items == []
    assert record.id


def test_an_effect_a_runtime_failed_in_the_background_is_retried_then_fails_its_deploy(
    world: World,
) -> None:
    """The local runtime hands back a create the engine failed (``retry_effect``): a record of
    the effect's own, due after the backoff, until the budget is spent."""
    created = world.create()
    world.drain()
    deploy_id = created.deploy.id
    retry_effect(world.ports, StartRollout(deploy_id), 1, "EngineError: layer not known")
    (record,) = world.store.list_outbox(10).items
    assert record.pending() == [StartRollout(deploy_id)]
    assert (record.attempts, record.last_error) == (1, "EngineError: layer not known")
    assert world.jobs.delays == [1]
    world.drain()  # dispatched: the rollout is asked for again
    assert world.store.list_outbox(10).items == []
    budget = world.ports.limits.effect_retry_seconds
    spent = next(n for n in range(1, 100) if not retries_left(n, budget))
    retry_effect(world.ports, StartRollout(deploy_id), spent, "EngineError: layer not known")
    deploy = world.store.get_deploy(deploy_id)
    assert deploy is not None and deploy.status is DeployStatus.UPDATE_FAILED
    assert deploy.reason["failure"]["platformError"] == "EngineError: layer not known"
    world.drain()  # the failure's notifications
    assert world.store.list_outbox(10).items == []


@pytest.mark.parametrize("effect_type", [Converge, Restart])
def test_a_service_effect_that_fails_for_good_is_on_the_service_timeline(
    world: World, effect_type: type[Converge] | type[Restart]
) -> None:
    """A converge or restart has no deploy to fail: when its budget is spent, a
    ``server_failed`` event carries the engine's text, so the failure does not disappear."""
    created = world.create()
    world.drain()
    service_id = created.service.id
    budget = world.ports.limits.effect_retry_seconds
    spent = next(n for n in range(1, 100) if not retries_left(n, budget))
    retry_effect(world.ports, effect_type(service_id), spent, "EngineError: no space left")
    events = world.store.list_events(service_id, 50).items
    failed = [e for e in events if e.type is EventType.SERVER_FAILED]
    assert len(failed) == 1
    assert "EngineError: no space left" in failed[0].details["reason"]["unhealthy"]
    world.drain()  # the event's notifications
    assert world.store.list_outbox(10).items == []
