"""Benchmark: AWS calls per API request and per deploy hook on the Lambda stack, under moto.

The real ``imagedeploy.handlers.api.lambda_handler`` with API Gateway HTTP API (payload v2)
events, over the real bootstrap wiring the AWS adapters, exactly as the handler tests build it
(``devkit.lambda_stack``: moto's ``mock_aws`` with the VPC, cluster, ALB, Cloud Map
namespace, SNS topic and Scheduler group of ``devkit.moto_aws``; ``FakeRegistry`` for the
registry preflight, ``FakeClock``). Every boto3 client injected into the bootstrap gets a
``before-call`` hook on ``client.meta.events``; only calls made while a measured request is in
the handler are counted (one botocore API call = one round trip; moto answers it). Registry
calls are the ``FakeRegistry``'s own record. Jobs queued show as ``sqs.SendMessage``.

Each case runs ``--reps`` times; the service is taken back to the case's starting state between
repetitions outside the measurement (drain the worker, complete the rollout with the ECS event,
advance the clock past the rate limit). Counts are reported as ``min-max`` if they vary.

    .venv/bin/python -m bench.dynamodb_calls [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the handlers' INFO lines: not data

CLIENTS = (
    "dynamodb",
    "secretsmanager",
    "ecs",
    "elbv2",
    "servicediscovery",
    "logs",
    "sqs",
    "scheduler",
    "sns",
)
SERVICE_ORDER = (
    "dynamodb",
    "secretsmanager",
    "sqs",
    "ecs",
    "elbv2",
    "servicediscovery",
    "logs",
    "scheduler",
    "sns",
)


def _detail(operation: str, params: dict[str, Any]) -> str:
    """What a DynamoDB call touches: the item kind (SK) of a GetItem/PutItem, the index and key
    prefix of a Query, the number of items of a transaction."""
    try:
        if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
            key = params.get("Key") or params.get("Item") or {}
            return (
                str(key["SK"]["S"]).split("#")[0]
                if "SK" in key
                else str(key.get("PK", {}).get("S", "")).split("#")[0]
            )
        if operation == "Query":
            values = [
                v.get("S", "") for v in (params.get("ExpressionAttributeValues") or {}).values()
            ]
            prefix = next(
                (v.split("#")[0] + "#…#" + v.split("#")[-1] for v in values if "#" in v), ""
            )
            return f"{params.get('IndexName', 'table')} {prefix}".strip()
        if operation == "TransactWriteItems":
            return f"{len(params.get('TransactItems', []))} items"
    except Exception:  # a label only
        return ""
    return ""


class Counting:
    """``provide-client-params`` keeps the API parameters of the call about to be made;
    ``before-call`` counts it (one botocore API call = one round trip)."""

    def __init__(self) -> None:
        self.active = False
        self.calls: list[str] = []
        self.details: list[str] = []
        self._params: dict[str, Any] = {}

    def params(self, params: dict[str, Any], **_: Any) -> None:
        self._params = params

    def hook(self, model: Any, **_: Any) -> None:
        if self.active:
            name = f"{model.service_model.service_name}.{model.name}"
            self.calls.append(name)
            detail = _detail(model.name, self._params) if name.startswith("dynamodb.") else ""
            self.details.append(f"{name}({detail})" if detail else name)

    @contextmanager
    def measure(self) -> Iterator[list[str]]:
        self.calls = []
        self.details = []
        self.active = True
        try:
            yield self.calls
        finally:
            self.active = False


@contextmanager
def build_stack() -> Iterator[Any]:
    """The handler tests' ``stack`` fixture outside pytest (``devkit.lambda_stack``)."""
    from devkit.lambda_stack import lambda_stack
    from devkit.moto_aws import create_network, mocked_aws

    with mocked_aws() as aws, lambda_stack(aws, create_network(aws)) as stack:
        yield stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    from devkit.lambda_stack import IMAGE, WEB_DETAILS, create_service, live_web_service

    with build_stack() as stack:
        counting = Counting()
        for name in CLIENTS:
            events = stack.aws.client(name).meta.events
            events.register("provide-client-params", counting.params)
            events.register("before-call", counting.hook)
        registry_calls = stack.registry.calls

        def settle(service_id: str) -> None:
            """Outside the measurement: run the queued jobs, complete any rollout, forget the
            rate limit — the service is idle and live again."""
            for _ in range(6):  # a queued deploy starts when the one before it finishes
                stack.drain()
                ref = stack.ecs.rollout_ref(service_id)
                if ref is None:
                    break
                deploy = stack.app.ports.store.get_deploy(ref.deploy_id)
                if deploy is None or deploy.status.finished:
                    break
                stack.ecs_event(stack.deployment_event(service_id))
            stack.drain()
            stack.clock.advance(120)

        created, _, _ = live_web_service(stack)  # with a registry credential
        service_id = created["service"]["id"]
        hook_url = created["deployHookUrl"]
        plain = create_service(stack, "web_service", WEB_DETAILS, name="plain-web")
        plain_id = plain["service"]["id"]
        settle(plain_id)
        settle(service_id)
        stack.ok(stack.call("GET", "/v1/owners"))  # the resolver is built on the first request

        results: list[tuple[str, int, list[Counter[str]], list[int], list[str]]] = []

        def case(
            label: str,
            request: Callable[[], Any],
            before: Callable[[], None] | None = None,
            after: Callable[[], None] | None = None,
        ) -> None:
            counts: list[Counter[str]] = []
            registry: list[int] = []
            status = 0
            first: list[str] = []
            for _ in range(args.reps):
                if before:
                    before()
                n_registry = len(registry_calls)
                with counting.measure() as calls:
                    reply = request()
                status = reply.status
                counts.append(Counter(calls))
                first = first or list(counting.details)
                registry.append(len(registry_calls) - n_registry)
                if after:
                    after()
            results.append((label, status, counts, registry, first))

        def busy() -> None:  # a deploy of the service in progress (hook, worker rolled it out)
            settle(service_id)
            stack.hook(hook_url)
            stack.drain()
            stack.clock.advance(120)

        case(
            "hook, idle service (deploy starts)",
            lambda: stack.hook(hook_url),
            after=lambda: settle(service_id),
        )
        case(
            "hook, POST, idle service (deploy starts)",
            lambda: stack.hook(hook_url, "POST"),
            after=lambda: settle(service_id),
        )
        case(
            "hook, `imgURL` tag override (deploy starts)",
            lambda: stack.hook(hook_url, imgURL=f"{IMAGE}:2.0"),
            after=lambda: settle(service_id),
        )
        case(
            "hook, another deploy in progress (queued)",
            lambda: stack.hook(hook_url),
            before=busy,
            after=lambda: settle(service_id),
        )
        case("hook, wrong key (404)", lambda: stack.hook(hook_url, key="wrong-key-123"))
        case(
            "`POST /v1/services/{id}/deploys` (deploy starts), service with a credential",
            lambda: stack.call("POST", f"/v1/services/{service_id}/deploys", {}),
            after=lambda: settle(service_id),
        )
        case(
            "`POST /v1/services/{id}/deploys` (deploy starts), no credential",
            lambda: stack.call("POST", f"/v1/services/{plain_id}/deploys", {}),
            after=lambda: settle(plain_id),
        )
        case(
            "`GET /v1/services/{id}`, service with a credential",
            lambda: stack.call("GET", f"/v1/services/{service_id}"),
        )
        case(
            "`GET /v1/services/{id}`, no credential",
            lambda: stack.call("GET", f"/v1/services/{plain_id}"),
        )
        case("`GET /v1/services` (2 services)", lambda: stack.call("GET", "/v1/services"))
        case("`GET /v1/owners`", lambda: stack.call("GET", "/v1/owners"))
        made: list[str] = []

        def create() -> Any:
            reply = stack.call(
                "POST",
                "/v1/services",
                {
                    "type": "web_service",
                    "name": f"bench-{len(made)}",
                    "ownerId": stack.owner_id,
                    "image": {"ownerId": stack.owner_id, "imagePath": f"{IMAGE}:1.0"},
                    "serviceDetails": WEB_DETAILS,
                },
            )
            made.append(reply.json["service"]["id"] if reply.status == 201 else "")
            return reply

        case(
            "`POST /v1/services` (create + first deploy)",
            create,
            after=lambda: settle(made[-1]) if made[-1] else None,
        )

    def span(values: list[int]) -> str:
        lo, hi = min(values), max(values)
        return str(lo) if lo == hi else f"{lo}-{hi}"

    print(
        f"moto {__import__('moto').__version__}, real handlers + bootstrap, FakeRegistry; "
        f"{args.reps} repetitions per case; target ≤ 2 DynamoDB calls per hook"
    )
    print()
    print(
        "| request | status | DynamoDB | Secrets Manager | SQS | ECS | other AWS | registry "
        "| AWS calls (in order, first repetition) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, status, counts, registry, details in results:

        def of(service: str, counts: list[Counter[str]] = counts) -> str:
            return span(
                [sum(v for k, v in c.items() if k.startswith(service + ".")) for c in counts]
            )

        other = span(
            [
                sum(
                    v
                    for k, v in c.items()
                    if k.split(".")[0] not in ("dynamodb", "secretsmanager", "sqs", "ecs")
                )
                for c in counts
            ]
        )
        order = ", ".join(details) or "none"
        print(
            f"| {label} | {status} | {of('dynamodb')} | {of('secretsmanager')} | {of('sqs')} | "
            f"{of('ecs')} | {other} | {span(registry)} | {order} |"
        )


if __name__ == "__main__":
    main()
