"""Deploys: trigger (API, hook, rollback), cancel, and advance on signals.

The request path does one store read and one conditional write (with the outbox record of the
``begin`` job), then the slow steps (the registry preflight, the runtime) run as effects.
``handle_signal`` is the single place where a deploy changes state: it applies the pure state
machine and writes the deploy, its events, the service's deploy slots and the machine's commands
(outbox effects) in one unit of work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime

from imagedeploy.domain import deploy_machine as machine
from imagedeploy.domain.deploy_machine import Command, Signal
from imagedeploy.domain.deploys import Deploy, DeploySettings, DeployStatus, DeployTrigger
from imagedeploy.domain.errors import (
    ConcurrentUpdate,
    Conflict,
    ImagePullError,
    InvalidInput,
    NotFound,
    RateLimited,
)
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.outbox import Effect, RunJob, StartPreDeploy, StartRollout, StopDeploy
from imagedeploy.domain.reference import ImageReference, parse_reference
from imagedeploy.domain.service_rules import internal_address, runtime_env, split_command
from imagedeploy.domain.services import PLAN_RESOURCES, Service
from imagedeploy.ports import Ports, RunSpec
from imagedeploy.usecases.common import get_service, load_credential
from imagedeploy.usecases.unit_of_work import UnitOfWork, retry_on_conflict, unit_of_work

logger = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class RateInfo:
    limit: int
    remaining: int
    reset_seconds: int


@dataclass(frozen=True, slots=True)
class Triggered:
    deploy: Deploy
    queued: bool  # another deploy is in progress: this one waits (the API answers 202)
    rate: RateInfo


def settings_of(service: Service) -> DeploySettings:
    return DeploySettings(
        docker_command=service.docker_command,
        pre_deploy_command=service.pre_deploy_command,
        health_check_path=service.health_check_path,
        port=service.port,
        plan=service.plan,
    )


def trigger_deploy(
    ports: Ports,
    service_id: str,
    trigger: DeployTrigger,
    *,
    image: ImageReference | None = None,
    settings: DeploySettings | None = None,
    rollback_of: str | None = None,
    service: Service | None = None,
) -> Triggered:
    """Create a deploy of ``image`` (default: the service's configured reference, re-resolved).

    One read and one conditional write: the deploy, and the service with its deploy slots and
    rate-limit window (and the outbox record of its ``begin`` job). Raises ``RateLimited`` past
    the per-service limit. ``service``, when given, saves the read; a lost race re-reads.
    """
    request = _DeployRequest(trigger, image, settings, rollback_of)
    if service is not None:
        with contextlib.suppress(ConcurrentUpdate):
            return _trigger(ports, service, request)
    return _trigger_fresh(ports, service_id, request)


@dataclass(frozen=True, slots=True)
class _DeployRequest:
    trigger: DeployTrigger
    image: ImageReference | None
    settings: DeploySettings | None
    rollback_of: str | None


@retry_on_conflict
def _trigger_fresh(ports: Ports, service_id: str, request: _DeployRequest) -> Triggered:
    return _trigger(ports, get_service(ports, service_id), request)


def _trigger(ports: Ports, current: Service, request: _DeployRequest) -> Triggered:
    if current.suspended:
        raise Conflict(f"service {current.id} is suspended; resume it before deploying")
    now = ports.clock.now()
    window, hits, rate = _rate_window(ports, current, now)
    busy = current.active_deploy_id is not None
    with unit_of_work(ports) as tx:
        deploy = tx.put(
            Deploy(
                id=new_id("dep"),
                service_id=current.id,
                status=DeployStatus.QUEUED if busy else DeployStatus.CREATED,
                trigger=request.trigger,
                image_ref=request.image.normalized if request.image else current.image_path,
                credential_id=current.credential_id,
                settings=request.settings or settings_of(current),
                created_at=now,
                updated_at=now,
                rollback_of=request.rollback_of,
            )
        )
        tx.put(
            dataclasses.replace(
                current,
                rate_window_start=window,
                rate_window_hits=hits,
                active_deploy_id=current.active_deploy_id if busy else deploy.id,
                queued_deploy_id=deploy.id if busy else current.queued_deploy_id,
            )
        )
        if busy and current.queued_deploy_id:
            tx.effect(RunJob("supersede", current.queued_deploy_id))
        if not busy:
            tx.effect(RunJob("begin", deploy.id))
    return Triggered(deploy, busy, rate)


def _rate_window(ports: Ports, service: Service, now: datetime) -> tuple[int, int, RateInfo]:
    limit = ports.limits.deploys_per_minute
    epoch = int(now.timestamp())
    window = epoch - epoch % RATE_WINDOW_SECONDS
    hits = service.rate_window_hits + 1 if service.rate_window_start == window else 1
    reset = window + RATE_WINDOW_SECONDS - epoch
    if hits > limit:
        raise RateLimited(
            f"too many deploys for service {service.id}: at most {limit} per minute; "
            f"try again in {reset} s",
            limit=limit,
            remaining=0,
            reset_seconds=reset,
        )
    return window, hits, RateInfo(limit, limit - hits, reset)


def rollback(ports: Ports, service_id: str, target_deploy_id: str) -> Triggered:
    """Deploy the digest an earlier deploy ran, with its command and health check path; env vars,
    instance count and plan stay as they are now. The preflight checks the digest still exists."""
    service = get_service(ports, service_id)
    target = ports.store.get_deploy(target_deploy_id)
    if target is None or target.service_id != service_id:
        raise NotFound(f"deploy {target_deploy_id} not found for service {service_id}")
    if target.image_sha is None:
        raise InvalidInput(
            f"deploy {target_deploy_id} never resolved an image (it ended {target.status}); "
            "roll back to a deploy that went live"
        )
    image = parse_reference(target.image_ref)
    pinned = parse_reference(f"{image.name}@{target.image_sha}")
    settings = dataclasses.replace(
        settings_of(service),
        docker_command=target.settings.docker_command,
        health_check_path=target.settings.health_check_path,
        # An old release's migrations must not run again over newer data.
        pre_deploy_command="",
    )
    return trigger_deploy(
        ports,
        service_id,
        DeployTrigger.ROLLBACK,
        image=pinned,
        settings=settings,
        rollback_of=target.id,
        service=service,
    )


def get_deploy(ports: Ports, service_id: str, deploy_id: str) -> Deploy:
    deploy = ports.store.get_deploy(deploy_id)
    if deploy is None or deploy.service_id != service_id:
        raise NotFound(f"deploy {deploy_id} not found for service {service_id}")
    return deploy


def cancel_deploy(ports: Ports, service_id: str, deploy_id: str) -> Deploy:
    deploy = get_deploy(ports, service_id, deploy_id)
    if not deploy.status.cancelable:
        raise Conflict(f"deploy {deploy_id} is already {deploy.status} and cannot be canceled")
    return handle_signal(ports, deploy_id, machine.Cancel()) or deploy


@retry_on_conflict
def handle_signal(ports: Ports, deploy_id: str, signal: Signal) -> Deploy | None:
    """Advance a deploy; duplicate, late and reordered signals are no-ops. Returns the deploy as
    stored afterwards (None if it no longer exists). The new state, its events and the
    machine's commands (as outbox effects) are one write."""
    deploy = ports.store.get_deploy(deploy_id)
    if deploy is None:
        return None
    service = ports.store.get_service(deploy.service_id)
    if service is None:
        return None
    now = ports.clock.now()
    transition = machine.advance(deploy, signal, now)
    if not transition.changed:
        return deploy
    if Command.START_ROLLOUT in transition.commands and not service.type.long_running:
        # A cron job's deploy starts nothing: its runs use the live digest. Resolved is live.
        healthy = machine.advance(transition.deploy, machine.RolloutHealthy(), now)
        transition = machine.Transition(
            healthy.deploy, transition.events + healthy.events, healthy.commands
        )
    with unit_of_work(ports) as tx:
        after = tx.put(transition.deploy)
        _free_slots(ports, tx, service, deploy, transition.deploy, now)
        tx.record_drafts(service, transition.events)
        tx.effect(*_effects(service, transition.deploy, transition.commands))
    logger.info(
        "deploy advanced",
        extra={
            "deploy_id": deploy_id,
            "status": after.status.value,
            "signal": type(signal).__name__,
        },
    )
    return after


def _free_slots(
    ports: Ports, tx: UnitOfWork, service: Service, before: Deploy, after: Deploy, now: datetime
) -> None:
    """When a deploy finishes: free the service's slot, move the live pointer, deactivate the
    previous live deploy and promote the newest queued deploy (and begin it)."""
    if not after.status.finished or before.status.finished:
        return
    if service.queued_deploy_id == after.id:
        tx.put(dataclasses.replace(service, queued_deploy_id=None))
        return
    if service.active_deploy_id != after.id:
        return
    changes: dict[str, object] = {"active_deploy_id": None}
    if after.status is DeployStatus.LIVE:
        if service.live_deploy_id and service.live_deploy_id != after.id:
            previous = ports.store.get_deploy(service.live_deploy_id)
            if previous is not None and previous.status is DeployStatus.LIVE:
                tx.put(machine.deactivate(previous, now))
        changes["live_deploy_id"] = after.id
    if service.queued_deploy_id:
        queued = ports.store.get_deploy(service.queued_deploy_id)
        if queued is not None and queued.status is DeployStatus.QUEUED:
            tx.put(dataclasses.replace(queued, status=DeployStatus.CREATED, updated_at=now))
            changes["active_deploy_id"] = queued.id
            tx.effect(RunJob("begin", queued.id))
        changes["queued_deploy_id"] = None
    tx.put(dataclasses.replace(service, **changes))  # type: ignore[arg-type]


def _effects(service: Service, deploy: Deploy, commands: tuple[Command, ...]) -> list[Effect]:
    effects: list[Effect] = []
    for command in commands:
        if command is Command.RUN_PRE_DEPLOY:
            effects.append(StartPreDeploy(deploy.id))
        elif command is Command.START_ROLLOUT:
            effects.append(StartRollout(deploy.id))
        elif command is Command.STOP_RUNTIME:
            effects.append(StopDeploy(service.id, deploy.id))
        # Command.PREFLIGHT: the ``begin`` job runs the preflight itself (one queue hop); a
        # lost one is re-enqueued by reconcile.
    return effects


def internal_host(service: Service) -> str:
    """The host name of a private service on the platform's network (``host`` of its address)."""
    address = internal_address(service)
    return address.rsplit(":", 1)[0] if address else ""


def pinned_image(deploy: Deploy) -> str:
    """``repository@<linux/amd64 digest>``: what every container of this deploy runs."""
    if deploy.platform_digest is None:
        raise AssertionError(f"deploy {deploy.id} has not been resolved")
    return f"{parse_reference(deploy.image_ref).name}@{deploy.platform_digest}"


def runnable_live_deploy(ports: Ports, service: Service) -> Deploy | None:
    """The service's live deploy when it has a pinned digest to run a new container of (a cron
    run, a one-off job); None when there is none yet."""
    live = ports.store.get_deploy(service.live_deploy_id or "")
    return None if live is None or live.platform_digest is None else live


def run_spec(ports: Ports, service: Service, deploy: Deploy, command: str | None = None) -> RunSpec:
    """What to run for ``deploy``: its pinned digest with its settings, the service's current env
    vars and instance count. ``command`` overrides the deploy's command (pre-deploy)."""
    text = deploy.settings.docker_command if command is None else command
    argv = split_command(text)
    env = runtime_env(service, deploy.id)
    if service.type.has_port:
        env["PORT"] = str(deploy.settings.port)  # what the health check and router use
    return RunSpec(
        service_id=service.id,
        deploy_id=deploy.id,
        image=pinned_image(deploy),
        command=argv or None,
        env=env,
        resources=PLAN_RESOURCES[deploy.settings.plan],
        port=deploy.settings.port if service.type.has_port else None,
        health_check_path=deploy.settings.health_check_path,
        num_instances=service.num_instances,
        stop_timeout_seconds=service.max_shutdown_delay_seconds,
        credential=load_credential(ports, deploy.credential_id),
        credential_id=deploy.credential_id,
        internal_host=internal_host(service),
        route_port=service.local_port,
        slug=service.slug,
        owner_id=service.owner_id,
        service_name=service.name,
    )


def run_preflight(ports: Ports, deploy_id: str) -> None:
    """The slow first step of a deploy (a job, never in a request): resolve the image with the
    service's credential; a rollback first checks its digest still exists."""
    deploy = ports.store.get_deploy(deploy_id)
    if deploy is None or machine.phase_of(deploy) is not machine.Phase.PREFLIGHT:
        return
    credential = load_credential(ports, deploy.credential_id)
    ref = parse_reference(deploy.image_ref)
    signal: Signal
    try:
        if deploy.rollback_of is not None:
            ports.registry.check_digest_exists(ref, credential)
        result = ports.registry.inspect(ref, credential)
    except ImagePullError as exc:
        signal = machine.PreflightFailed(exc.reason, exc.message)
    else:
        signal = machine.PreflightPassed(result.digest, result.platform_digest)
    handle_signal(ports, deploy_id, signal)


def supersede(ports: Ports, deploy_id: str) -> None:
    """Cancel a queued deploy that a newer one replaced (``reason.newDeploy``)."""
    deploy = ports.store.get_deploy(deploy_id)
    if deploy is None or deploy.status is not DeployStatus.QUEUED:
        return
    service = ports.store.get_service(deploy.service_id)
    if service is None:
        return
    # The newer deploy may still be queued, or already promoted to active.
    for newer_id in (service.queued_deploy_id, service.active_deploy_id):
        newer = ports.store.get_deploy(newer_id) if newer_id and newer_id != deploy_id else None
        if newer is not None and newer.created_at >= deploy.created_at:
            handle_signal(ports, deploy_id, machine.Superseded(newer.id))
            return
