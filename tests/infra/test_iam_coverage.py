"""Every AWS operation the adapters call is allowed by the IAM role of each function that can call
it (a first deploy must not discover a missing permission as AccessDenied in production).

The operations are read from the code of ``adapters/aws`` (every ``<client>.<operation>(...)``,
``get_paginator("<operation>")``), the client's service decided by the receiver's name; a call on
a receiver this test cannot attribute to a service fails the test rather than being skipped.
The roles are read from template.yaml: each function's role, its inline policies and the managed
policies it references."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from tests.infra.template import ROOT, function_actions, load_template

pytestmark = pytest.mark.unit

ADAPTERS = ROOT / "functions" / "imagedeploy" / "adapters" / "aws"

# Receiver attribute/variable name -> boto3 service name.
RECEIVERS = {
    "_ecs": "ecs",
    "ecs": "ecs",
    "_elbv2": "elbv2",
    "elbv2": "elbv2",
    "_discovery": "servicediscovery",
    "discovery": "servicediscovery",
    "_logs": "logs",
    "logs": "logs",
    "_route53_client": "route53",
    "_cloudwatch": "cloudwatch",
}
# Modules whose one client is called "client"/"_client" (or made by a helper): its service.
MODULE_CLIENT = {
    "dynamodb_store": "dynamodb",
    "ecr_auth": "ecr",
    "jobs": "sqs",
    "scheduler": "scheduler",
    "secrets": "secretsmanager",
    "service_env": "secretsmanager",
    "workspace_groups": "ec2",
    "sns_notifier": "sns",
    "cloud_map": "servicediscovery",
    "route_records": "dynamodb",
}
GENERIC_RECEIVERS = {"client", "_client", "_ecr"}
# Not clients although their method names match an operation (pydantic SecretStr).
NOT_CLIENTS = {"token"}
IAM_PREFIX = {"elbv2": "elasticloadbalancing"}

# Operations no function performs, and why.
NOT_CALLED_BY_FUNCTIONS = {
    "dynamodb:CreateTable": "create_table() is for `imagedeploy admin` and tests; the stack owns the table",
    "dynamodb:UpdateTimeToLive": "create_table() only",
    "dynamodb:TransactWriteItems": "not an IAM action: authorized per item (PutItem/UpdateItem/...)",
}
# Operations only some functions perform (everything else: every function, since each one wires
# every adapter in aws_bootstrap).
ONLY = {
    # Cron schedules are effects (SyncSchedule): only the worker's outbox job executes effects.
    "scheduler:": {"WorkerFunction"},
    # Registry tokens are written by API routes only.
    "secretsmanager:CreateSecret": {"ApiFunction"},
    "secretsmanager:PutSecretValue": {"ApiFunction"},
    "secretsmanager:DeleteSecret": {"ApiFunction"},
    "secretsmanager:RestoreSecret": {"ApiFunction"},
}


@cache
def _operations(service: str) -> dict[str, str]:
    """snake_case method -> API operation name."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


def _receiver_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):  # self._ecr(region).get_authorization_token()
        return _receiver_name(node.func)
    return None


def adapter_operations(directory: Path = ADAPTERS) -> dict[str, set[str]]:
    """IAM action ("ecs:UntagResource") -> where it is called ("ecs_runtime.py:611")."""
    all_services = {*RECEIVERS.values(), *MODULE_CLIENT.values()}
    known = {method for service in all_services for method in _operations(service)}
    found: dict[str, set[str]] = {}
    unattributed: list[str] = []
    for path in sorted(directory.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            if method in ("get_paginator", "get_waiter"):
                if not (node.args and isinstance(node.args[0], ast.Constant)):
                    continue
                method = str(node.args[0].value) if method == "get_paginator" else ""
                if not method:  # waiters: DescribeX, covered by the calls around them
                    continue
            if method not in known:
                continue
            receiver = _receiver_name(node.func.value)
            if receiver in NOT_CLIENTS:
                continue
            service = RECEIVERS.get(receiver or "")
            if service is None and receiver in GENERIC_RECEIVERS:
                service = MODULE_CLIENT.get(path.stem)
            where = f"{path.name}:{node.lineno}"
            if service is None or method not in _operations(service):
                unattributed.append(f"{where} {receiver}.{method}")
                continue
            action = f"{IAM_PREFIX.get(service, service)}:{_operations(service)[method]}"
            found.setdefault(action, set()).add(where)
    assert not unattributed, (
        "calls on a client this test cannot attribute to a service (add the receiver to "
        f"RECEIVERS or the module to MODULE_CLIENT): {unattributed}"
    )
    return found


def _callers(action: str, functions: set[str]) -> set[str]:
    for key, only in ONLY.items():
        if action == key or (key.endswith(":") and action.startswith(key)):
            return only
    return functions


def test_the_scan_finds_the_adapters_calls() -> None:
    """The scan itself: it sees operations of every service the adapters use (a scan that finds
    nothing would pass the coverage test vacuously)."""
    found = adapter_operations()
    for action in (
        "ecs:RunTask",
        "ecs:ListTasks",
        "elasticloadbalancing:CreateRule",
        "servicediscovery:ListServices",
        "logs:CreateLogGroup",
        "dynamodb:Query",
        "sqs:SendMessage",
        "sns:Publish",
        "secretsmanager:GetSecretValue",
        "scheduler:CreateSchedule",
        "ecr:GetAuthorizationToken",
    ):
        assert action in found, action


def test_every_operation_the_adapters_call_is_granted_to_each_function_that_calls_it() -> None:
    granted = function_actions(load_template())
    missing = []
    for action, where in sorted(adapter_operations().items()):
        if action in NOT_CALLED_BY_FUNCTIONS:
            continue
        for function_id in sorted(_callers(action, set(granted))):
            if action not in granted[function_id]:
                missing.append(f"{function_id} lacks {action} (called at {sorted(where)})")
    assert not missing, "\n".join(missing)


def test_the_exceptions_name_only_what_the_adapters_call() -> None:
    """No stale exemption: each one names an operation the scan still finds."""
    found = adapter_operations()
    assert set(NOT_CALLED_BY_FUNCTIONS) <= set(found)
    for key in ONLY:
        assert any(a == key or (key.endswith(":") and a.startswith(key)) for a in found), key
