"""Services: create (which starts the first deploy), update, delete, suspend/resume, restart,
scale, env vars, and the deploy hook."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from imagedeploy.domain import hooks
from imagedeploy.domain.deploys import Deploy, DeployStatus, DeployTrigger
from imagedeploy.domain.errors import Conflict, ImagePullError, InvalidInput, NotFound
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.reference import parse_reference
from imagedeploy.domain.service_rules import (
    ServiceChanges,
    ServiceSpec,
    delete_env_var,
    replace_env_vars,
    set_env_var,
    unique_slug,
    validate_update,
)
from imagedeploy.domain.services import EnvVar, Service, ServiceType
from imagedeploy.ports import Entity, Job, Page
from imagedeploy.usecases.common import get_service, load_credential, notify_all, retrying
from imagedeploy.usecases.context import Ports
from imagedeploy.usecases.deploys import (
    Triggered,
    cancel_deploy,
    run_spec,
    settings_of,
    trigger_deploy,
)

MAX_INSTANCES = 100


@dataclass(frozen=True, slots=True)
class Created:
    service: Service
    deploy: Deploy
    hook_key: str  # shown once; only its hash is stored


def _owned_credential(ports: Ports, owner_id: str, credential_id: str | None) -> list[Entity]:
    """The credential a service will use, re-written unchanged so that a concurrent delete of
    the credential loses its version check instead of leaving the service pointing nowhere."""
    if credential_id is None:
        return []
    record = ports.store.get_credential(credential_id)
    if record is None or record.owner_id != owner_id:
        raise NotFound(
            f"registry credential {credential_id} not found; list them with "
            "GET /v1/registrycredentials"
        )
    return [record]


def create_service(ports: Ports, owner_id: str, spec: ServiceSpec) -> Created:
    """Create the service and its first deploy in one write; the deploy's slow steps are jobs."""
    if ports.store.get_owner(owner_id) is None:
        raise NotFound(f"owner {owner_id} not found; list owners with GET /v1/owners")
    touched = _owned_credential(ports, owner_id, spec.credential_id)
    now = ports.clock.now()
    service_id = new_id(spec.type.id_prefix)
    key = hooks.new_hook_key()
    service = spec.to_service(
        id=service_id,
        owner_id=owner_id,
        hook_key_hash=hooks.hash_hook_key(key),
        now=now,
        slug=unique_slug(spec.slug, service_id),  # the private network host name: unique
    )
    if service.type is ServiceType.WEB_SERVICE:
        service = dataclasses.replace(service, local_port=ports.runtime.allocate_port(service_id))
    deploy = Deploy(
        id=new_id("dep"),
        service_id=service_id,
        status=DeployStatus.CREATED,
        trigger=DeployTrigger.API,
        image_ref=service.image_path,
        credential_id=service.credential_id,
        settings=settings_of(service),
        created_at=now,
        updated_at=now,
    )
    service = dataclasses.replace(service, active_deploy_id=deploy.id)
    stored = ports.store.write(put=[service, deploy, *touched])
    stored_service, stored_deploy = stored[0], stored[1]
    assert isinstance(stored_service, Service)
    assert isinstance(stored_deploy, Deploy)
    if service.type is ServiceType.CRON_JOB:
        ports.scheduler.set_schedule(service_id, service.schedule)
    ports.jobs.enqueue(Job("begin", deploy.id))
    return Created(stored_service, stored_deploy, key)


def list_services(ports: Ports, owner_id: str, limit: int, cursor: str | None) -> Page[Service]:
    return ports.store.list_services(owner_id, limit, cursor)


def update_service(ports: Ports, service_id: str, changes: ServiceChanges) -> Service:
    """PATCH: validates (an image change is preflighted) but does not deploy."""

    preflighted: set[tuple[str, str | None]] = set()  # a lost write race retries without I/O

    def attempt() -> Service:
        service = get_service(ports, service_id)
        updated = validate_update(service, changes, now=ports.clock.now())
        touched = []
        if updated.credential_id != service.credential_id:
            touched = _owned_credential(ports, service.owner_id, updated.credential_id)
        source = (updated.image_path, updated.credential_id)
        if source != (service.image_path, service.credential_id) and source not in preflighted:
            try:
                ports.registry.inspect(
                    parse_reference(updated.image_path),
                    load_credential(ports, updated.credential_id),
                )
            except ImagePullError as exc:
                message = f"image {updated.image_path}: {exc.message}"
                if exc.transient:  # the registry, not the request, is wrong: retry later
                    raise ImagePullError(exc.reason, message) from exc
                raise InvalidInput(message) from exc
            preflighted.add(source)
        (stored, *_) = ports.store.write(put=[updated, *touched])
        assert isinstance(stored, Service)
        return stored

    stored = retrying(attempt)
    if stored.type is ServiceType.CRON_JOB:
        ports.scheduler.set_schedule(stored.id, stored.schedule)
    return stored


def delete_service(ports: Ports, service_id: str) -> None:
    def attempt() -> Service:
        service = get_service(ports, service_id)
        ports.store.write(delete=[service])
        return service

    service = retrying(attempt)
    if service.type is ServiceType.CRON_JOB:
        ports.scheduler.remove_schedule(service_id)
    ports.runtime.remove(service_id)


def _record(ports: Ports, service: Service, type_: EventType, details: dict[str, object]) -> Event:
    return Event(new_id("evt"), service.id, type_, ports.clock.now(), dict(details))


def suspend(ports: Ports, service_id: str) -> Service:
    """Stop every instance and pause the schedule; deploys in progress are canceled."""

    def attempt() -> tuple[Service, Event | None]:
        service = get_service(ports, service_id)
        if service.suspended:
            return service, None
        event = _record(ports, service, EventType.SERVICE_SUSPENDED, {})
        (stored, _) = ports.store.write(
            put=[dataclasses.replace(service, suspended=True, updated_at=ports.clock.now()), event]
        )
        assert isinstance(stored, Service)
        return stored, event

    service, event = retrying(attempt)
    if event is not None:
        for deploy_id in (service.queued_deploy_id, service.active_deploy_id):
            if deploy_id:
                with contextlib.suppress(Conflict):  # it finished meanwhile
                    cancel_deploy(ports, service_id, deploy_id)
        ports.runtime.suspend(service_id)
        if service.type is ServiceType.CRON_JOB:
            ports.scheduler.remove_schedule(service_id)
        notify_all(ports, service, [event])
    return service


def resume(ports: Ports, service_id: str) -> Service:
    """Resume and redeploy what was live (trigger ``service_resumed``)."""

    def attempt() -> tuple[Service, Event | None]:
        service = get_service(ports, service_id)
        if not service.suspended:
            return service, None
        event = _record(ports, service, EventType.SERVICE_RESUMED, {})
        (stored, _) = ports.store.write(
            put=[dataclasses.replace(service, suspended=False, updated_at=ports.clock.now()), event]
        )
        assert isinstance(stored, Service)
        return stored, event

    service, event = retrying(attempt)
    if event is not None:
        live = ports.store.get_deploy(service.live_deploy_id) if service.live_deploy_id else None
        image = None
        if live is not None and live.image_sha is not None:
            image = parse_reference(f"{parse_reference(live.image_ref).name}@{live.image_sha}")
        trigger_deploy(ports, service_id, DeployTrigger.SERVICE_RESUMED, image=image)
        if service.type is ServiceType.CRON_JOB:
            ports.scheduler.set_schedule(service_id, service.schedule)
        notify_all(ports, service, [event])
    return get_service(ports, service_id)


def _live(ports: Ports, service: Service, action: str) -> Deploy:
    if service.suspended:
        raise Conflict(f"service {service.id} is suspended; resume it before you {action} it")
    live = ports.store.get_deploy(service.live_deploy_id) if service.live_deploy_id else None
    if live is None:
        raise Conflict(f"service {service.id} has no live deploy to {action}")
    return live


def restart(ports: Ports, service_id: str) -> Service:
    service = get_service(ports, service_id)
    if service.type is ServiceType.CRON_JOB:
        raise InvalidInput("cron jobs cannot be restarted; trigger a run instead")
    live = _live(ports, service, "restart")
    event = _record(ports, service, EventType.SERVER_RESTARTED, {"triggeredByUser": None})
    ports.store.write(put=[event])
    ports.runtime.restart(run_spec(ports, service, live))
    notify_all(ports, service, [event])
    return service


def scale(ports: Ports, service_id: str, num_instances: int) -> Service:
    if not 1 <= num_instances <= MAX_INSTANCES:
        raise InvalidInput(f"numInstances must be between 1 and {MAX_INSTANCES}")

    def attempt() -> tuple[Service, Event | None]:
        service = get_service(ports, service_id)
        if service.type is ServiceType.CRON_JOB:
            raise InvalidInput("cron jobs run one instance per run and cannot be scaled")
        if service.num_instances == num_instances:
            return service, None
        event = _record(
            ports,
            service,
            EventType.INSTANCE_COUNT_CHANGED,
            {"fromInstances": service.num_instances, "toInstances": num_instances},
        )
        updated = dataclasses.replace(
            service, num_instances=num_instances, updated_at=ports.clock.now()
        )
        (stored, _) = ports.store.write(put=[updated, event])
        assert isinstance(stored, Service)
        return stored, event

    service, event = retrying(attempt)
    if event is not None:
        live = ports.store.get_deploy(service.live_deploy_id) if service.live_deploy_id else None
        if live is not None and not service.suspended:
            ports.runtime.converge(run_spec(ports, service, live))
        notify_all(ports, service, [event])
    return service


# -- env vars (apply to the next deploy, as on Render) --------------------------------------


def put_env_vars(ports: Ports, service_id: str, env_vars: list[EnvVar]) -> Service:
    return _update(
        ports, service_id, lambda s: replace_env_vars(s, env_vars, now=ports.clock.now())
    )


def put_env_var(ports: Ports, service_id: str, key: str, value: str) -> Service:
    return _update(ports, service_id, lambda s: set_env_var(s, key, value, now=ports.clock.now()))


def remove_env_var(ports: Ports, service_id: str, key: str) -> Service:
    return _update(ports, service_id, lambda s: delete_env_var(s, key, now=ports.clock.now()))


def _update(ports: Ports, service_id: str, change: Callable[[Service], Service]) -> Service:
    def attempt() -> Service:
        (stored,) = ports.store.write(put=[change(get_service(ports, service_id))])
        assert isinstance(stored, Service)
        return stored

    return retrying(attempt)


# -- deploy hook ---------------------------------------------------------------------------


def deploy_hook(ports: Ports, service_id: str, key: str | None, img_url: str | None) -> Triggered:
    """``GET|POST /deploy/{serviceId}?key=…[&imgURL=…]``: one read, one conditional write.
    A wrong id or key is the same 404, so the hook does not reveal which services exist."""
    service = hook_service(ports, service_id, key)
    image = hooks.resolve_hook_image(service.image_path, img_url)
    return trigger_deploy(
        ports, service_id, DeployTrigger.DEPLOY_HOOK, image=image, service=service
    )


def hook_service(ports: Ports, service_id: str, key: str | None) -> Service:
    """The service a deploy hook URL names when ``key`` is its hook key; else the one hook 404."""
    service = ports.store.get_service(service_id)
    if not hooks.hook_key_matches(key, service.hook_key_hash if service else None):
        raise hooks.hook_not_found()
    assert service is not None
    return service


def regenerate_hook_key(ports: Ports, service_id: str) -> str:
    """A new key; the old one stops working at once."""
    key = hooks.new_hook_key()

    def attempt() -> None:
        service = get_service(ports, service_id)
        ports.store.write(
            put=[dataclasses.replace(service, hook_key_hash=hooks.hash_hook_key(key))]
        )

    retrying(attempt)
    return key
