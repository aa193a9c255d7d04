"""Services: create (which starts the first deploy), update, delete, suspend/resume, restart,
scale, env vars, and the deploy hook."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Collection
from dataclasses import dataclass

from imagedeploy.domain import hooks
from imagedeploy.domain.deploys import Deploy, DeployStatus, DeployTrigger
from imagedeploy.domain.errors import Conflict, ImagePullError, InvalidInput, NotFound, SlugTaken
from imagedeploy.domain.events import EventType
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.listing import ANY_SERVICE, ServiceFilter
from imagedeploy.domain.outbox import (
    Converge,
    Remove,
    Restart,
    RunJob,
    StopCronRun,
    Suspend,
    SyncSchedule,
)
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
from imagedeploy.ports import Entity, Page, Ports
from imagedeploy.usecases.common import get_service, load_credential
from imagedeploy.usecases.deploys import Triggered, cancel_deploy, settings_of, trigger_deploy
from imagedeploy.usecases.unit_of_work import retry_on_conflict, unit_of_work

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


MAX_SLUG_ATTEMPTS = 5  # a taken slug is rare (a 4-character suffix, then 6 random ones)


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
        slug=unique_slug(spec.slug, service_id),
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
    # The slug is the service's host name: the store reserves it with the service, so two
    # services never share one; a taken one (a suffix collision) is retried with another.
    for attempt in range(1, MAX_SLUG_ATTEMPTS + 1):
        try:
            with unit_of_work(ports) as tx:
                stored_service = tx.put(service)
                stored_deploy = tx.put(deploy)
                for record in touched:
                    tx.put(record)
                if service.type is ServiceType.CRON_JOB:
                    tx.effect(SyncSchedule(service_id))
                tx.effect(RunJob("begin", deploy.id))
            break
        except SlugTaken:
            if attempt == MAX_SLUG_ATTEMPTS:
                raise
            service = dataclasses.replace(service, slug=unique_slug(spec.slug, service_id, attempt))
    return Created(stored_service, stored_deploy, key)


def list_services(
    ports: Ports,
    owner_id: str,
    limit: int,
    cursor: str | None,
    where: ServiceFilter = ANY_SERVICE,
    owner_ids: Collection[str] | None = None,
) -> Page[Service]:
    """The workspace's services that match ``where``; ``owner_ids`` (Render's ``ownerId``)
    other than the workspace's own name no service it may see."""
    if owner_ids is not None and owner_id not in owner_ids:
        return Page([], None)
    return ports.store.list_services(owner_id, limit, cursor, where)


def update_service(ports: Ports, service_id: str, changes: ServiceChanges) -> Service:
    """PATCH: validates (an image change is preflighted) but does not deploy."""
    return _apply_update(ports, service_id, changes, set())


@retry_on_conflict
def _apply_update(
    ports: Ports,
    service_id: str,
    changes: ServiceChanges,
    preflighted: set[tuple[str, str | None]],  # a lost write race retries without I/O
) -> Service:
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
    with unit_of_work(ports) as tx:
        stored = tx.put(updated)
        for record in touched:
            tx.put(record)
        if stored.type is ServiceType.CRON_JOB:
            tx.effect(SyncSchedule(stored.id))
    return stored


@retry_on_conflict
def delete_service(ports: Ports, service_id: str) -> None:
    """Delete the service at once; its runtime resources are removed by a ``Remove`` effect,
    retried until they are all gone (its outbox record is the service's tombstone)."""
    service = get_service(ports, service_id)
    with unit_of_work(ports) as tx:
        tx.delete(service)
        if service.type is ServiceType.CRON_JOB:
            tx.effect(SyncSchedule(service_id))
        if service.active_run_id is not None:
            # Its container may not exist yet (being created): the runtime must not start it.
            tx.effect(StopCronRun(service_id, service.active_run_id))
        tx.effect(Remove(service_id))


@retry_on_conflict
def suspend(ports: Ports, service_id: str) -> Service:
    """Stop every instance and pause the schedule; deploys in progress are canceled (in the
    same write: the queued deploy first, so that canceling the active one promotes nothing)."""
    service = get_service(ports, service_id)
    if service.suspended:
        return service
    for deploy_id in (service.queued_deploy_id, service.active_deploy_id):
        if deploy_id:
            with contextlib.suppress(Conflict):  # it finished meanwhile
                cancel_deploy(ports, service_id, deploy_id)
    service = get_service(ports, service_id)
    with unit_of_work(ports) as tx:
        stored = tx.put(dataclasses.replace(service, suspended=True, updated_at=ports.clock.now()))
        tx.record(stored, EventType.SERVICE_SUSPENDED, {})
        tx.effect(Suspend(service_id))
        if service.type is ServiceType.CRON_JOB:
            tx.effect(SyncSchedule(service_id))
    return stored


def resume(ports: Ports, service_id: str) -> Service:
    """Resume and redeploy what was live (trigger ``service_resumed``)."""
    if _unsuspend(ports, service_id):
        service = get_service(ports, service_id)
        live = ports.store.get_deploy(service.live_deploy_id) if service.live_deploy_id else None
        image = None
        if live is not None and live.image_sha is not None:
            image = parse_reference(f"{parse_reference(live.image_ref).name}@{live.image_sha}")
        trigger_deploy(ports, service_id, DeployTrigger.SERVICE_RESUMED, image=image)
    return get_service(ports, service_id)


@retry_on_conflict
def _unsuspend(ports: Ports, service_id: str) -> bool:
    service = get_service(ports, service_id)
    if not service.suspended:
        return False
    with unit_of_work(ports) as tx:
        stored = tx.put(dataclasses.replace(service, suspended=False, updated_at=ports.clock.now()))
        tx.record(stored, EventType.SERVICE_RESUMED, {})
        if service.type is ServiceType.CRON_JOB:
            tx.effect(SyncSchedule(service_id))
    return True


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
    _live(ports, service, "restart")
    with unit_of_work(ports) as tx:
        tx.record(service, EventType.SERVER_RESTARTED, {"triggeredByUser": None})
        tx.effect(Restart(service_id))
    return service


@retry_on_conflict
def scale(ports: Ports, service_id: str, num_instances: int) -> Service:
    if not 1 <= num_instances <= MAX_INSTANCES:
        raise InvalidInput(f"numInstances must be between 1 and {MAX_INSTANCES}")
    service = get_service(ports, service_id)
    if service.type is ServiceType.CRON_JOB:
        raise InvalidInput("cron jobs run one instance per run and cannot be scaled")
    if service.num_instances == num_instances:
        return service
    with unit_of_work(ports) as tx:
        stored = tx.put(
            dataclasses.replace(service, num_instances=num_instances, updated_at=ports.clock.now())
        )
        tx.record(
            service,
            EventType.INSTANCE_COUNT_CHANGED,
            {"fromInstances": service.num_instances, "toInstances": num_instances},
        )
        tx.effect(Converge(service_id))
    return stored


# -- env vars (apply to the next deploy, as on Render) --------------------------------------


def put_env_vars(ports: Ports, service_id: str, env_vars: list[EnvVar]) -> Service:
    return _update(
        ports, service_id, lambda s: replace_env_vars(s, env_vars, now=ports.clock.now())
    )


def put_env_var(ports: Ports, service_id: str, key: str, value: str) -> Service:
    return _update(ports, service_id, lambda s: set_env_var(s, key, value, now=ports.clock.now()))


def remove_env_var(ports: Ports, service_id: str, key: str) -> Service:
    return _update(ports, service_id, lambda s: delete_env_var(s, key, now=ports.clock.now()))


@retry_on_conflict
def _update(ports: Ports, service_id: str, change: Callable[[Service], Service]) -> Service:
    with unit_of_work(ports) as tx:
        stored = tx.put(change(get_service(ports, service_id)))
    return stored


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
    _update(
        ports, service_id, lambda s: dataclasses.replace(s, hook_key_hash=hooks.hash_hook_key(key))
    )
    return key
