"""The deploy state machine (docs/architecture.md §4), pure: ``advance(deploy, signal, now)``.

A deploy moves ``queued → created → pre_deploy_in_progress → update_in_progress → live`` (the
pre-deploy step only when the service has a pre-deploy command), or ends ``pre_deploy_failed``,
``update_failed`` or ``canceled``. Signals come from commands (begin, cancel, supersede), from the
preflight, and from the runtime (pre-deploy exit, rollout healthy, an instance failing, a pull
failing, a timeout). Signals arrive late, twice or out of order (EventBridge delivers at least
once), so every signal names the phase it belongs to and is ignored unless the deploy is in that
phase; a finished deploy ignores everything. The outcome lists the events to record and the
commands for the runtime; the caller writes the new deploy with a version check, so two racing
signals cannot both apply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from imagedeploy.domain.deploys import Deploy, DeployStatus
from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.events import EventType
from imagedeploy.domain.outcomes import NonZeroExit, ServerFailure, failure_reason
from imagedeploy.domain.reference import parse_reference


class Phase(StrEnum):
    PREFLIGHT = "preflight"  # status created, begun: resolving the image
    PRE_DEPLOY = "pre_deploy"
    ROLLOUT = "rollout"


# -- signals ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Begin:
    """The service has no other deploy in progress: this one starts (preflight first)."""


@dataclass(frozen=True, slots=True)
class PreflightPassed:
    image_sha: str
    platform_digest: str


@dataclass(frozen=True, slots=True)
class PreflightFailed:
    reason: PullFailureReason
    message: str


@dataclass(frozen=True, slots=True)
class PreDeployExited:
    exit_code: int


@dataclass(frozen=True, slots=True)
class RolloutHealthy:
    """Every new instance is healthy and serving; old ones are being stopped."""


@dataclass(frozen=True, slots=True)
class InstanceFailed:
    """A new instance failed during the rollout (fail fast), as its runtime saw it."""

    failure: ServerFailure


@dataclass(frozen=True, slots=True)
class PullFailed:
    """A container of the pre-deploy step or of the rollout could not pull its image."""

    phase: Phase
    reason: PullFailureReason
    message: str


@dataclass(frozen=True, slots=True)
class TimedOut:
    phase: Phase
    seconds: int


@dataclass(frozen=True, slots=True)
class Cancel:
    """A user canceled the deploy."""


@dataclass(frozen=True, slots=True)
class Superseded:
    """A newer deploy was queued for the service; this queued one will never run."""

    new_deploy_id: str


@dataclass(frozen=True, slots=True)
class EffectFailed:
    """A command of the deploy (its preflight, pre-deploy task or rollout) kept failing on the
    platform: ``message`` is the platform's error text (``ThrottlingException: Rate exceeded``)."""

    message: str


Signal = (
    Begin
    | PreflightPassed
    | PreflightFailed
    | PreDeployExited
    | RolloutHealthy
    | InstanceFailed
    | PullFailed
    | TimedOut
    | Cancel
    | Superseded
    | EffectFailed
)


# -- outcome ------------------------------------------------------------------------------------


class Command(StrEnum):
    """What the caller must ask of the outside world after writing the new state."""

    PREFLIGHT = "preflight"  # resolve the image through the registry
    RUN_PRE_DEPLOY = "run_pre_deploy"
    START_ROLLOUT = "start_rollout"
    STOP_RUNTIME = "stop_runtime"  # stop this deploy's pre-deploy task or new instances


@dataclass(frozen=True, slots=True)
class EventDraft:
    type: EventType
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Transition:
    deploy: Deploy
    events: tuple[EventDraft, ...] = ()
    commands: tuple[Command, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.events) or bool(self.commands)


def phase_of(deploy: Deploy) -> Phase | None:
    """The phase a deploy is in, or None when it is waiting or finished."""
    if deploy.status is DeployStatus.CREATED and deploy.started_at is not None:
        return Phase.PREFLIGHT
    if deploy.status is DeployStatus.PRE_DEPLOY_IN_PROGRESS:
        return Phase.PRE_DEPLOY
    if deploy.status is DeployStatus.UPDATE_IN_PROGRESS:
        return Phase.ROLLOUT
    return None


def pre_deploy_execution_id(deploy: Deploy) -> str:
    """Render's ``deployCommandExecutionId``: one pre-deploy execution per deploy."""
    return f"{deploy.id}-pre"


def advance(deploy: Deploy, signal: Signal, now: datetime) -> Transition:
    """Apply one signal. Returns the deploy unchanged (no events, no commands) when the signal
    does not apply to the deploy's current state."""
    unchanged = Transition(deploy)
    if deploy.status.finished:
        return unchanged
    phase = phase_of(deploy)
    match signal:
        case Begin():
            if deploy.started_at is not None:
                return unchanged
            begun = _with(deploy, now, status=DeployStatus.CREATED, started_at=now)
            started = _event(
                EventType.DEPLOY_STARTED, deployId=deploy.id, trigger=deploy.trigger.value
            )
            return Transition(begun, (started,), (Command.PREFLIGHT,))
        case PreflightPassed(image_sha=sha, platform_digest=platform_digest):
            if phase is not Phase.PREFLIGHT:
                return unchanged
            resolved = _with(deploy, now, image_sha=sha, platform_digest=platform_digest)
            return _after_preflight(resolved, now)
        case PreflightFailed(reason=pull_reason, message=message):
            if phase is not Phase.PREFLIGHT:
                return unchanged
            return _fail_pull(
                deploy, now, DeployStatus.UPDATE_FAILED, pull_reason, message, stop=False
            )
        case PreDeployExited(exit_code=code):
            if phase is not Phase.PRE_DEPLOY:
                return unchanged
            if code == 0:
                ended = _pre_deploy_ended(deploy, "succeeded", {})
                rolling = _with(deploy, now, status=DeployStatus.UPDATE_IN_PROGRESS)
                return Transition(rolling, (ended,), (Command.START_ROLLOUT,))
            return _fail(
                deploy,
                now,
                DeployStatus.PRE_DEPLOY_FAILED,
                {"failure": failure_reason(NonZeroExit(code))},
                stop=False,  # the pre-deploy task already exited
            )
        case RolloutHealthy():
            if phase is not Phase.ROLLOUT:
                return unchanged
            live = _with(deploy, now, status=DeployStatus.LIVE, finished_at=now)
            return Transition(live, (_deploy_ended(deploy, "succeeded", {}),))
        case InstanceFailed(failure=failure):
            if phase is not Phase.ROLLOUT:
                return unchanged
            why = {"failure": failure_reason(failure)}
            failed = _fail(deploy, now, DeployStatus.UPDATE_FAILED, why, stop=True)
            server_failed = _event(EventType.SERVER_FAILED, reason=why["failure"])
            return dataclasses.replace(failed, events=(server_failed, *failed.events))
        case PullFailed(phase=signal_phase, reason=pull_reason, message=message):
            if phase is not signal_phase or signal_phase is Phase.PREFLIGHT:
                return unchanged
            status = (
                DeployStatus.PRE_DEPLOY_FAILED
                if signal_phase is Phase.PRE_DEPLOY
                else DeployStatus.UPDATE_FAILED
            )
            return _fail_pull(deploy, now, status, pull_reason, message, stop=True)
        case TimedOut(phase=signal_phase, seconds=seconds):
            if phase is not signal_phase:
                return unchanged
            status = (
                DeployStatus.PRE_DEPLOY_FAILED
                if signal_phase is Phase.PRE_DEPLOY
                else DeployStatus.UPDATE_FAILED
            )
            why = {"failure": {"evicted": False, "timedOutSeconds": seconds}}
            return _fail(deploy, now, status, why, stop=True)
        case Cancel():
            if not deploy.status.cancelable:
                return unchanged
            return _cancel(deploy, now, {}, stop=phase in (Phase.PRE_DEPLOY, Phase.ROLLOUT))
        case EffectFailed(message=message):
            if deploy.started_at is None:
                return unchanged
            status = (
                DeployStatus.PRE_DEPLOY_FAILED
                if phase is Phase.PRE_DEPLOY
                else DeployStatus.UPDATE_FAILED
            )
            why = {"failure": {"evicted": False, "platformError": message}}
            return _fail(deploy, now, status, why, stop=phase is not Phase.PREFLIGHT)
        case Superseded(new_deploy_id=new_id):
            if deploy.started_at is not None or new_id == deploy.id:
                return unchanged  # only a deploy still waiting can be superseded
            return _cancel(deploy, now, {"newDeploy": {"id": new_id}}, stop=False)
    return unchanged


def deactivate(previous_live: Deploy, now: datetime) -> Deploy:
    """The live deploy a newer one replaced."""
    if previous_live.status is not DeployStatus.LIVE:
        return previous_live
    return _with(previous_live, now, status=DeployStatus.DEACTIVATED)


# -- helpers ------------------------------------------------------------------------------------


def _with(deploy: Deploy, now: datetime, **changes: Any) -> Deploy:
    return dataclasses.replace(deploy, updated_at=now, **changes)


def _event(type_: EventType, **details: Any) -> EventDraft:
    return EventDraft(type_, details)


def _deploy_ended(deploy: Deploy, status: str, reason: dict[str, Any]) -> EventDraft:
    return _event(EventType.DEPLOY_ENDED, deployId=deploy.id, deployStatus=status, reason=reason)


def _pre_deploy_ended(deploy: Deploy, status: str, reason: dict[str, Any]) -> EventDraft:
    return _event(
        EventType.PRE_DEPLOY_ENDED,
        deployId=deploy.id,
        deployCommandExecutionId=pre_deploy_execution_id(deploy),
        preDeployStatus=status,
        reason=reason,
    )


def _after_preflight(deploy: Deploy, now: datetime) -> Transition:
    if deploy.settings.pre_deploy_command:
        started = _event(
            EventType.PRE_DEPLOY_STARTED,
            deployId=deploy.id,
            deployCommandExecutionId=pre_deploy_execution_id(deploy),
        )
        running = _with(deploy, now, status=DeployStatus.PRE_DEPLOY_IN_PROGRESS)
        return Transition(running, (started,), (Command.RUN_PRE_DEPLOY,))
    rolling = _with(deploy, now, status=DeployStatus.UPDATE_IN_PROGRESS)
    return Transition(rolling, (), (Command.START_ROLLOUT,))


def _fail(
    deploy: Deploy,
    now: datetime,
    status: DeployStatus,
    reason: dict[str, Any],
    *,
    stop: bool,
    extra_events: tuple[EventDraft, ...] = (),
) -> Transition:
    events = list(extra_events)
    if deploy.status is DeployStatus.PRE_DEPLOY_IN_PROGRESS:
        events.append(_pre_deploy_ended(deploy, "failed", reason))
    events.append(_deploy_ended(deploy, "failed", reason))
    failed = _with(deploy, now, status=status, finished_at=now, reason=reason)
    return Transition(failed, tuple(events), (Command.STOP_RUNTIME,) if stop else ())


def _fail_pull(
    deploy: Deploy,
    now: datetime,
    status: DeployStatus,
    reason: PullFailureReason,
    message: str,
    *,
    stop: bool,
) -> Transition:
    image = deploy.image_ref
    if deploy.platform_digest:  # after the preflight everything pulls the pinned digest
        image = f"{parse_reference(image).name}@{deploy.platform_digest}"
    pull_failed = _event(EventType.IMAGE_PULL_FAILED, imageURL=image, message=message)
    detail = {"imagePullFailed": {"reason": reason.value, "message": message}}
    return _fail(deploy, now, status, detail, stop=stop, extra_events=(pull_failed,))


def _cancel(deploy: Deploy, now: datetime, reason: dict[str, Any], *, stop: bool) -> Transition:
    events = []
    if deploy.status is DeployStatus.PRE_DEPLOY_IN_PROGRESS:
        events.append(_pre_deploy_ended(deploy, "canceled", reason))
    events.append(_deploy_ended(deploy, "canceled", reason))
    canceled = _with(deploy, now, status=DeployStatus.CANCELED, finished_at=now, reason=reason)
    return Transition(canceled, tuple(events), (Command.STOP_RUNTIME,) if stop else ())
