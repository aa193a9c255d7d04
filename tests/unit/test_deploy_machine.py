"""The deploy state machine: the happy paths, each failure, and property tests over arbitrary
signal sequences (duplicates, late and reordered signals)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagedeploy.domain.deploy_machine import (
    Begin,
    Cancel,
    Command,
    InstanceFailed,
    Phase,
    PreDeployExited,
    PreflightFailed,
    PreflightPassed,
    PullFailed,
    RolloutHealthy,
    Signal,
    Superseded,
    TimedOut,
    Transition,
    advance,
    deactivate,
)
from imagedeploy.domain.deploys import Deploy, DeploySettings, DeployStatus, DeployTrigger
from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.events import EventType
from imagedeploy.domain.outcomes import NonZeroExit, OomKilled
from imagedeploy.domain.services import Plan

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SHA = "sha256:" + "a" * 64
AMD64 = "sha256:" + "b" * 64


def make_deploy(pre_deploy: str = "", status: DeployStatus = DeployStatus.CREATED) -> Deploy:
    return Deploy(
        id="dep-0123456789abcdefghij",
        service_id="srv-0123456789abcdefghij",
        status=status,
        trigger=DeployTrigger.DEPLOY_HOOK,
        image_ref="127.0.0.1:5000/demo/web:1.0",
        credential_id=None,
        settings=DeploySettings("", pre_deploy, "/healthz", 10000, Plan.STARTER),
        created_at=T0,
        updated_at=T0,
    )


def run(deploy: Deploy, *signals: Signal) -> tuple[Deploy, list[Transition]]:
    steps = []
    for i, signal in enumerate(signals):
        step = advance(deploy, signal, T0 + timedelta(seconds=i + 1))
        steps.append(step)
        deploy = step.deploy
    return deploy, steps


def event_types(steps: list[Transition]) -> list[EventType]:
    return [e.type for s in steps for e in s.events]


def test_happy_path_without_pre_deploy() -> None:
    deploy, steps = run(make_deploy(), Begin(), PreflightPassed(SHA, AMD64), RolloutHealthy())
    assert deploy.status is DeployStatus.LIVE
    assert (deploy.image_sha, deploy.platform_digest) == (SHA, AMD64)
    assert deploy.started_at is not None and deploy.finished_at is not None
    assert [c for s in steps for c in s.commands] == [Command.PREFLIGHT, Command.START_ROLLOUT]
    assert event_types(steps) == [EventType.DEPLOY_STARTED, EventType.DEPLOY_ENDED]
    ended = steps[-1].events[0].details
    assert ended == {"deployId": deploy.id, "deployStatus": "succeeded", "reason": {}}


def test_happy_path_with_pre_deploy() -> None:
    deploy, steps = run(
        make_deploy("./migrate"),
        Begin(),
        PreflightPassed(SHA, AMD64),
        PreDeployExited(0),
        RolloutHealthy(),
    )
    assert deploy.status is DeployStatus.LIVE
    assert [c for s in steps for c in s.commands] == [
        Command.PREFLIGHT,
        Command.RUN_PRE_DEPLOY,
        Command.START_ROLLOUT,
    ]
    assert event_types(steps) == [
        EventType.DEPLOY_STARTED,
        EventType.PRE_DEPLOY_STARTED,
        EventType.PRE_DEPLOY_ENDED,
        EventType.DEPLOY_ENDED,
    ]


def test_failing_pre_deploy_ends_the_deploy_and_touches_no_instance() -> None:
    deploy, steps = run(
        make_deploy("./migrate"), Begin(), PreflightPassed(SHA, AMD64), PreDeployExited(3)
    )
    assert deploy.status is DeployStatus.PRE_DEPLOY_FAILED
    assert Command.START_ROLLOUT not in [c for s in steps for c in s.commands]
    pre_ended, ended = steps[-1].events
    assert pre_ended.details["preDeployStatus"] == "failed"
    assert ended.details["reason"] == {"failure": {"evicted": False, "nonZeroExit": 3}}


def test_preflight_failure_is_an_image_pull_failed_event() -> None:
    deploy, steps = run(
        make_deploy(),
        Begin(),
        PreflightFailed(PullFailureReason.WRONG_PLATFORM, "image has linux/arm64 only"),
    )
    assert deploy.status is DeployStatus.UPDATE_FAILED
    pull, ended = steps[-1].events
    assert pull.type is EventType.IMAGE_PULL_FAILED
    assert pull.details == {
        "imageURL": "127.0.0.1:5000/demo/web:1.0",
        "message": "image has linux/arm64 only",
    }
    assert ended.details["deployStatus"] == "failed"
    assert ended.details["reason"]["imagePullFailed"]["reason"] == "wrong_platform"
    assert steps[-1].commands == ()


def test_rollout_pull_failure_names_the_pinned_digest_and_stops_the_rollout() -> None:
    deploy, steps = run(
        make_deploy(),
        Begin(),
        PreflightPassed(SHA, AMD64),
        PullFailed(Phase.ROLLOUT, PullFailureReason.UNAUTHORIZED, "denied"),
    )
    assert deploy.status is DeployStatus.UPDATE_FAILED
    assert steps[-1].events[0].details["imageURL"] == f"127.0.0.1:5000/demo/web@{AMD64}"
    assert steps[-1].commands == (Command.STOP_RUNTIME,)


def test_instance_failure_fails_fast_with_a_server_failed_event() -> None:
    deploy, steps = run(
        make_deploy(),
        Begin(),
        PreflightPassed(SHA, AMD64),
        InstanceFailed(OomKilled(512)),
    )
    assert deploy.status is DeployStatus.UPDATE_FAILED
    assert [e.type for e in steps[-1].events] == [EventType.SERVER_FAILED, EventType.DEPLOY_ENDED]


def test_timeouts_per_phase() -> None:
    deploy, _ = run(
        make_deploy(), Begin(), PreflightPassed(SHA, AMD64), TimedOut(Phase.ROLLOUT, 900)
    )
    assert deploy.status is DeployStatus.UPDATE_FAILED
    assert deploy.reason == {"failure": {"evicted": False, "timedOutSeconds": 900}}
    deploy, _ = run(
        make_deploy("x"), Begin(), PreflightPassed(SHA, AMD64), TimedOut(Phase.PRE_DEPLOY, 1800)
    )
    assert deploy.status is DeployStatus.PRE_DEPLOY_FAILED


def test_cancel_in_every_cancelable_state() -> None:
    for prefix in ([], [Begin()], [Begin(), PreflightPassed(SHA, AMD64)]):
        deploy, steps = run(make_deploy("x"), *prefix, Cancel())
        assert deploy.status is DeployStatus.CANCELED
        assert steps[-1].events[-1].details["deployStatus"] == "canceled"
    deploy, _ = run(make_deploy(status=DeployStatus.QUEUED), Cancel())
    assert deploy.status is DeployStatus.CANCELED


def test_only_a_waiting_deploy_can_be_superseded() -> None:
    deploy, steps = run(make_deploy(status=DeployStatus.QUEUED), Superseded("dep-new"))
    assert deploy.status is DeployStatus.CANCELED
    assert deploy.reason == {"newDeploy": {"id": "dep-new"}}
    deploy, steps = run(make_deploy(), Begin(), Superseded("dep-new"))
    assert deploy.status is DeployStatus.CREATED
    assert not steps[-1].changed


def test_deactivate_only_touches_live() -> None:
    live, _ = run(make_deploy(), Begin(), PreflightPassed(SHA, AMD64), RolloutHealthy())
    assert deactivate(live, T0).status is DeployStatus.DEACTIVATED
    failed, _ = run(make_deploy(), Begin(), TimedOut(Phase.PREFLIGHT, 60))
    assert deactivate(failed, T0) == failed


# -- properties ---------------------------------------------------------------------------------

signals = st.one_of(
    st.just(Begin()),
    st.just(PreflightPassed(SHA, AMD64)),
    st.sampled_from(list(PullFailureReason)).map(lambda r: PreflightFailed(r, "m")),
    st.integers(0, 3).map(PreDeployExited),
    st.just(RolloutHealthy()),
    st.just(InstanceFailed(NonZeroExit(1))),
    st.tuples(st.sampled_from(list(Phase)), st.sampled_from(list(PullFailureReason))).map(
        lambda t: PullFailed(t[0], t[1], "m")
    ),
    st.sampled_from(list(Phase)).map(lambda p: TimedOut(p, 60)),
    st.just(Cancel()),
    st.just(Superseded("dep-newer")),
)
starts = st.tuples(
    st.sampled_from(["", "./migrate"]), st.sampled_from([DeployStatus.CREATED, DeployStatus.QUEUED])
)


@settings(max_examples=400)
@given(starts, st.lists(signals, max_size=12))
def test_any_signal_sequence_keeps_the_invariants(
    start: tuple[str, DeployStatus], sequence: list[Signal]
) -> None:
    deploy, steps = run(make_deploy(*start), *sequence)
    types = event_types(steps)
    # at most one start and one end, in that order; a finished deploy has its end event
    assert types.count(EventType.DEPLOY_STARTED) <= 1
    assert types.count(EventType.DEPLOY_ENDED) == (1 if deploy.status.finished else 0)
    if EventType.DEPLOY_STARTED in types and EventType.DEPLOY_ENDED in types:
        assert types.index(EventType.DEPLOY_STARTED) < types.index(EventType.DEPLOY_ENDED)
    # once finished, nothing changes any more
    finished_at = next((i for i, s in enumerate(steps) if s.deploy.status.finished), None)
    if finished_at is not None:
        assert all(not s.changed for s in steps[finished_at + 1 :])
        assert all(s.deploy == steps[finished_at].deploy for s in steps[finished_at:])
    # live only through a passed preflight (and a successful pre-deploy when there is one)
    if deploy.status is DeployStatus.LIVE:
        assert deploy.platform_digest == AMD64
        if start[0]:
            assert EventType.PRE_DEPLOY_ENDED in types
    if deploy.status is DeployStatus.PRE_DEPLOY_FAILED:
        assert start[0]
    # never an image deploy build status
    assert deploy.status not in (DeployStatus.BUILD_IN_PROGRESS, DeployStatus.BUILD_FAILED)
    # pre-deploy events pair up
    assert types.count(EventType.PRE_DEPLOY_ENDED) <= types.count(EventType.PRE_DEPLOY_STARTED) <= 1


@settings(max_examples=300)
@given(starts, st.lists(signals, max_size=10), signals)
def test_a_duplicated_signal_is_harmless(
    start: tuple[str, DeployStatus], prefix: list[Signal], signal: Signal
) -> None:
    deploy, _ = run(make_deploy(*start), *prefix)
    once = advance(deploy, signal, T0 + timedelta(hours=1))
    twice = advance(once.deploy, signal, T0 + timedelta(hours=2))
    assert not twice.changed
    assert twice.deploy == once.deploy


@settings(max_examples=300)
@given(st.lists(signals, max_size=10))
def test_signals_of_a_finished_phase_never_apply_later(sequence: list[Signal]) -> None:
    """Late pre-deploy and preflight signals cannot disturb a rollout in progress."""
    deploy, _ = run(
        make_deploy("./migrate"), Begin(), PreflightPassed(SHA, AMD64), PreDeployExited(0)
    )
    assert deploy.status is DeployStatus.UPDATE_IN_PROGRESS
    late = [
        s
        for s in sequence
        if isinstance(s, PreDeployExited | PreflightPassed | PreflightFailed | Begin)
        or (isinstance(s, PullFailed | TimedOut) and s.phase is not Phase.ROLLOUT)
    ]
    after, steps = run(deploy, *late)
    assert after == deploy
    assert not any(s.changed for s in steps)
