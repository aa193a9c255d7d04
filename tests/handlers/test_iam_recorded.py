"""The IAM coverage check, from what runs: every AWS call an adapter makes while a handler runs
(API, worker, ECS events, cron, reconcile, driven end to end under moto) is recorded through a
botocore ``before-call`` hook, with the handler on the call stack, and must be allowed by that
function's role in template.yaml. It also proves the static scan in
tests/infra/test_iam_coverage.py misses none of the operations that ran."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from devkit.lambda_stack import (
    IMAGE,
    WEB_DETAILS,
    LambdaContext,
    Stack,
    create_service,
    live_web_service,
)
from tests.infra.template import function_actions, load_template
from tests.infra.test_iam_coverage import NOT_CALLED_BY_FUNCTIONS, adapter_operations

pytestmark = pytest.mark.integration

FUNCTION_OF_HANDLER = {
    "api": "ApiFunction",
    "worker": "WorkerFunction",
    "ecs_events": "EcsEventsFunction",
    "cron": "CronFunction",
    "reconcile": "ReconcileFunction",
}
SERVICES = (
    "dynamodb",
    "sqs",
    "sns",
    "secretsmanager",
    "scheduler",
    "ecs",
    "elbv2",
    "servicediscovery",
    "logs",
    "ecr",
)


def _caller() -> tuple[str | None, bool]:
    """(the function whose handler is on the stack, whether an AWS adapter made the call)."""
    function = None
    from_adapter = False
    for frame in traceback.extract_stack():
        path = frame.filename.replace("\\", "/")
        if "/imagedeploy/adapters/aws/" in path:
            from_adapter = True
        if "/imagedeploy/handlers/" in path:
            name = path.rsplit("/", 1)[1].removesuffix(".py")
            function = FUNCTION_OF_HANDLER.get(name, function)
    return function, from_adapter


@pytest.fixture
def recorded(stack: Stack) -> Iterator[dict[str, set[str]]]:
    """Function logical id -> IAM actions its handler's adapters called."""
    calls: dict[str, set[str]] = {}

    def record(model: Any, **_: Any) -> None:
        function, from_adapter = _caller()
        if function and from_adapter:
            action = f"{model.service_model.signing_name}:{model.name}"
            calls.setdefault(function, set()).add(action)

    for name in SERVICES:
        stack.aws.client(name).meta.events.register("before-call.*.*", record)
    yield calls
    for name in SERVICES:
        stack.aws.client(name).meta.events.unregister("before-call.*.*", record)


def test_every_call_the_handlers_make_is_allowed_by_their_role(
    stack: Stack, recorded: dict[str, set[str]]
) -> None:
    from imagedeploy.handlers import cron as cron_handler
    from imagedeploy.handlers import reconcile as reconcile_handler

    # A web service with a stored credential: API, worker, ECS events.
    created, _credential, _first = live_web_service(stack)
    service_id = created["service"]["id"]
    assert stack.hook(created["deployHookUrl"], imgURL=f"{IMAGE}:2.0").status in (200, 202)
    stack.drain()
    stack.ecs_event(stack.deployment_event(service_id))
    # A private service (Cloud Map) and a cron job (Scheduler, RunTask from the cron function).
    private = create_service(stack, "private_service", WEB_DETAILS)
    cron_job = create_service(
        stack,
        "cron_job",
        {
            "runtime": "image",
            "plan": "starter",
            "schedule": "*/10 * * * *",
            "envSpecificDetails": {"dockerCommand": "report"},
        },
    )
    stack.drain()
    cron_handler.lambda_handler(
        {"serviceId": cron_job["service"]["id"], "scheduledTime": "2026-01-01T12:00:00Z"},
        LambdaContext(),
    )
    stack.drain()
    reconcile_handler.lambda_handler({}, LambdaContext())
    # Suspend and delete: scale to zero, untag, remove target groups, rules, Cloud Map, schedules.
    stack.ok(stack.call("POST", f"/v1/services/{service_id}/suspend"), 202)
    stack.drain()
    for gone in (service_id, private["service"]["id"], cron_job["service"]["id"]):
        stack.ok(stack.call("DELETE", f"/v1/services/{gone}"), 204)
    stack.drain()
    reconcile_handler.lambda_handler({}, LambdaContext())

    assert set(recorded) >= {"ApiFunction", "WorkerFunction", "EcsEventsFunction"}
    granted = function_actions(load_template())
    missing = sorted(
        f"{function} lacks {action}"
        for function, actions in recorded.items()
        for action in actions
        if action not in granted[function] and action not in NOT_CALLED_BY_FUNCTIONS
    )
    assert not missing, "\n".join(missing)
    scanned = set(adapter_operations())
    unscanned = sorted(a for actions in recorded.values() for a in actions if a not in scanned)
    assert not unscanned, f"the static scan missed: {unscanned}"
