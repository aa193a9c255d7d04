"""The AWS stack's contract: template.yaml (+ infra/network.yaml) is lint-clean and says what the
code and docs/architecture.md §2.2 rely on. No AWS, no network, no subprocess: cfn-lint runs
in-process."""

from __future__ import annotations

import importlib
import importlib.resources
import importlib.util
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.infra.template import (
    ROOT,
    TEMPLATE_PATH,
    as_list,
    create_table_kwargs,
    function_properties,
    load_template,
    policy_statements,
    resources,
    template_files,
    time_to_live,
)

pytestmark = pytest.mark.unit

STORE_MODULE = "imagedeploy.adapters.aws.dynamodb_store"

HANDLERS = {
    "ApiFunction": "imagedeploy.handlers.api.lambda_handler",
    "WorkerFunction": "imagedeploy.handlers.worker.lambda_handler",
    "EcsEventsFunction": "imagedeploy.handlers.ecs_events.lambda_handler",
    "CronFunction": "imagedeploy.handlers.cron.lambda_handler",
    "ReconcileFunction": "imagedeploy.handlers.reconcile.lambda_handler",
}

# Actions that may appear in a statement whose Resource is "*", and why. Everything else must
# name this stack's ARNs. The same reasons are written next to each statement in the template.
ACTIONS_ALLOWED_ON_ANY_RESOURCE = {
    "ecr:GetAuthorizationToken": "no resource type: the token is per registry",
    "ecs:RegisterTaskDefinition": (
        "ECS has no working resource-level permission for task definitions "
        "(aws/containers-roadmap#929); bounded by RunTask/CreateService scope and PassRole"
    ),
    "ecs:DeregisterTaskDefinition": "no resource type",
    "ecs:DescribeTaskDefinition": "no resource type",
    "ecs:ListTaskDefinitions": "no resource type",
    "ecs:ListTasks": "only resource type is container-instance (none on Fargate); ecs:cluster condition",
    "ec2:DescribeSecurityGroups": "no resource type",
    "elasticloadbalancing:DescribeRules": "Describe* have no resource type",
    "elasticloadbalancing:DescribeTargetGroups": "Describe* have no resource type",
    "elasticloadbalancing:DescribeListeners": "Describe* have no resource type",
    "elasticloadbalancing:DescribeLoadBalancers": "Describe* have no resource type",
    "servicediscovery:ListServices": "no resource type",
    "servicediscovery:TagResource": "no resource type; CreateService with Tags authorizes it",
    "xray:PutTraceSegments": "no resource type",
    "xray:PutTelemetryRecords": "no resource type",
    "cloudwatch:GetMetricData": "metrics have no ARN (its only resource type is a dataset)",
}
# Of those, the ones AWS's authorization data lists a resource type for (kept on "*" on purpose,
# see the reasons above). Any other allow-listed action must have no resource type in that data.
ON_ANY_RESOURCE_DESPITE_RESOURCE_TYPES = {
    "ecs:RegisterTaskDefinition",
    "ecs:ListTasks",
    "cloudwatch:GetMetricData",
}

HEADER_ENV = re.compile(r"\b((?:IMAGEDEPLOY|POWERTOOLS)_[A-Z0-9_]+|LOG_LEVEL)\b")
SCHEDULER_ENV = {
    "IMAGEDEPLOY_SCHEDULER_GROUP",
    "IMAGEDEPLOY_SCHEDULER_ROLE_ARN",
    "IMAGEDEPLOY_CRON_TARGET_ARN",
    "IMAGEDEPLOY_SCHEDULER_DLQ_ARN",
}
# What the issue asks every function to get (IMAGEDEPLOY_SECURITY_GROUP_* stands for the three).
REQUIRED_ENV = {
    "POWERTOOLS_SERVICE_NAME",
    "LOG_LEVEL",
    "IMAGEDEPLOY_TABLE_NAME",
    "IMAGEDEPLOY_JOBS_QUEUE_URL",
    "IMAGEDEPLOY_CLUSTER",
    "IMAGEDEPLOY_SUBNETS",
    "IMAGEDEPLOY_SECURITY_GROUP_WEB",
    "IMAGEDEPLOY_SECURITY_GROUP_PRIVATE",
    "IMAGEDEPLOY_SECURITY_GROUP_WORKER",
    "IMAGEDEPLOY_TASK_EXECUTION_ROLE_ARN",
    "IMAGEDEPLOY_TASK_ROLE_ARN",
    "IMAGEDEPLOY_LISTENER_ARN",
    "IMAGEDEPLOY_CLOUDMAP_NAMESPACE_ID",
    "IMAGEDEPLOY_TOPIC_ARN",
    "IMAGEDEPLOY_SECRET_PREFIX",
    "IMAGEDEPLOY_BASE_DOMAIN",
    "IMAGEDEPLOY_LOG_GROUP_PREFIX",
    "IMAGEDEPLOY_REGISTRY_ALLOWED_NETWORKS",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return function_properties(template)


def _ref(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points at, else None."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def _sub_text(value: Any) -> str:
    """The template string of an ``Fn::Sub`` (either form)."""
    sub = value["Fn::Sub"]
    return str(sub[0] if isinstance(sub, list) else sub)


def _evaluate(value: Any, params: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """Just enough of CloudFormation's intrinsic functions to evaluate an environment value."""
    if isinstance(value, dict) and len(value) == 1:
        ((name, arg),) = value.items()
        if name == "Ref":
            return params[arg]
        if name == "Fn::If":
            chosen = arg[1] if conditions[arg[0]] else arg[2]
            return _evaluate(chosen, params, conditions)
        if name == "Fn::Join":
            items = _evaluate(arg[1], params, conditions)
            return str(arg[0]).join(str(_evaluate(i, params, conditions)) for i in items)
        if name == "Fn::Sub":
            text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
            scope = {
                **params,
                **{k: _evaluate(v, params, conditions) for k, v in variables.items()},
            }
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(scope[m.group(1)]), text)
    return value


# -- cfn-lint -------------------------------------------------------------------------------------


def test_cfn_lint_is_clean() -> None:
    """No errors and no warnings on template.yaml and the CloudFormation templates in infra/
    (rules ignored on purpose are ignored per resource, with the reason, in the template)."""
    from cfnlint.api import lint_file

    files = template_files()
    assert TEMPLATE_PATH in files
    assert ROOT / "infra" / "network.yaml" in files
    problems = [
        f"{m.rule.id} {m.message}\n  {Path(m.filename).relative_to(ROOT)}:{m.linenumber}"
        for path in files
        for m in lint_file(path)
    ]
    assert not problems, "cfn-lint:\n" + "\n".join(problems)


# -- parameters, conditions, outputs --------------------------------------------------------------


def test_parameters(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    for name in (
        "VpcId",
        "VpcCidr",
        "PublicSubnetIds",
        "TaskSubnetIds",
        "TaskAssignPublicIp",
        "BaseDomain",
        "CertificateArn",
        "NotificationEmail",
        "LogRetentionDays",
        "RegistryAllowedNetworks",
    ):
        assert name in params, name
        assert params[name].get("Description"), f"{name} has no Description"
    # Optional ones default to empty; an existing VPC needs its subnets (Rules).
    for name in ("VpcId", "CertificateArn", "NotificationEmail", "RegistryAllowedNetworks"):
        assert params[name]["Default"] == "", name
    assert params["RegistryAllowedNetworks"]["Type"] == "CommaDelimitedList"
    assert "BaseDomain" in params and "Default" not in params["BaseDomain"]
    assert "ExistingVpcNeedsSubnets" in template["Rules"]


def test_network_is_created_only_without_a_vpc(template: dict[str, Any]) -> None:
    assert template["Conditions"]["CreateNetwork"] == {"Fn::Equals": [{"Ref": "VpcId"}, ""]}
    network = resources(template)["Network"]
    assert network["Condition"] == "CreateNetwork"
    assert network["Type"] in ("AWS::CloudFormation::Stack", "AWS::Serverless::Application")
    location = network["Properties"].get("TemplateURL") or network["Properties"].get("Location")
    assert location == "infra/network.yaml"
    nested = load_template(ROOT / location)
    assert set(network["Properties"]["Parameters"]) <= set(nested["Parameters"])
    assert {"VpcId", "VpcCidr", "PublicSubnetIds"} <= set(nested["Outputs"])
    # No NAT gateway by default: tasks get public IPs instead (docs/aws.md explains the
    # trade-off); NatGateway=single adds one, with private subnets for the tasks.
    nats = resources(nested, "AWS::EC2::NatGateway")
    assert nats and all(n["Condition"] == "CreateNatGateway" for n in nats.values())
    assert nested["Conditions"]["CreateNatGateway"] == {
        "Fn::Equals": [{"Ref": "NatGateway"}, "single"]
    }
    assert nested["Parameters"]["NatGateway"]["Default"] == "none"
    assert template["Parameters"]["NatGateway"]["Default"] == "none"


def test_with_a_nat_gateway_tasks_run_in_private_subnets_without_public_addresses(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    env = functions["ApiFunction"]["Environment"]["Variables"]
    nested = load_template(ROOT / "infra/network.yaml")
    for nat, subnets in (
        ("single", ["PrivateSubnetA", "PrivateSubnetB"]),
        ("none", ["PublicSubnetA", "PublicSubnetB"]),
    ):
        conditions = {
            "CreateNatGateway": nat == "single",
            "CreateNetwork": True,
            "HasTaskSubnets": False,
        }
        public_ip = _evaluate(
            env["IMAGEDEPLOY_ASSIGN_PUBLIC_IP"], {"TaskAssignPublicIp": "ENABLED"}, conditions
        )
        assert public_ip == ("DISABLED" if nat == "single" else "ENABLED")
        output = nested["Outputs"]["TaskSubnetIds"]["Value"]["Fn::If"]
        chosen = output[1] if nat == "single" else output[2]
        assert [_ref(r) for r in chosen["Fn::Join"][1]] == subnets
    private = resources(nested)["PrivateDefaultRoute"]["Properties"]
    assert _ref(private["NatGatewayId"]) == "NatGatewayA"
    assert "ExistingVpcNeedsSubnets" in template["Rules"]


def test_alb_access_logs_are_optional_and_the_bucket_admits_elb_log_delivery(
    template: dict[str, Any],
) -> None:
    assert template["Parameters"]["AccessLogBucket"]["Default"] == ""
    attributes = resources(template)["LoadBalancer"]["Properties"]["LoadBalancerAttributes"]
    logs = [a["Fn::If"] for a in attributes if "Fn::If" in a]
    assert {branch[1]["Key"] for branch in logs} == {
        "access_logs.s3.enabled",
        "access_logs.s3.bucket",
        "access_logs.s3.prefix",
    }
    assert all(b[0] == "HasAccessLogBucket" and b[2] == {"Ref": "AWS::NoValue"} for b in logs)
    policy = resources(template)["AccessLogBucketPolicy"]
    assert policy["Condition"] == "HasAccessLogBucket"
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "s3:PutObject"
    principal = statement["Principal"]["Fn::If"]
    assert principal[0] == "HasElbLogAccount"
    assert principal[2] == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    assert _sub_text(statement["Resource"]).endswith(
        "/${AWS::StackName}/AWSLogs/${AWS::AccountId}/*"
    )
    # every region with an ELB log account in the mapping is in the condition, and back
    regions = set(template["Mappings"]["ElbLogAccounts"])
    listed = {
        e["Fn::Equals"][1]
        for group in template["Conditions"]["HasElbLogAccount"]["Fn::Or"]
        for e in group["Fn::Or"]
    }
    assert listed == regions


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {"ApiUrl", "AlbDnsName", "TopicArn", "TableName"} <= set(outputs)
    assert _ref(outputs["TableName"]["Value"]) == "Table"
    assert _ref(outputs["TopicArn"]["Value"]) == "Topic"
    assert _ref(outputs["AlbDnsName"]["Value"]) == "LoadBalancer"
    assert "${HttpApi}.execute-api." in _sub_text(outputs["ApiUrl"]["Value"])


# -- functions ------------------------------------------------------------------------------------


def test_functions_share_one_package_and_a_current_runtime(
    functions: dict[str, dict[str, Any]],
) -> None:
    assert {name: props["Handler"] for name, props in functions.items()} == HANDLERS
    for name, props in functions.items():
        assert props["CodeUri"] == "functions/", name
        runtime = re.fullmatch(r"python3\.(\d+)", props["Runtime"])
        assert runtime and int(runtime.group(1)) >= 12, (name, props["Runtime"])
        assert props.get("Architectures", ["x86_64"]) in (["x86_64"], ["arm64"]), name
        assert props.get("PackageType", "Zip") == "Zip", name


def test_http_api_routes(template: dict[str, Any], functions: dict[str, dict[str, Any]]) -> None:
    routes: dict[tuple[str, str], str] = {}
    for name, props in functions.items():
        for event in props.get("Events", {}).values():
            if event["Type"] == "HttpApi":
                api = _ref(event["Properties"]["ApiId"])
                assert resources(template)[api]["Type"] == "AWS::Serverless::HttpApi"
                key = (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
                routes[key] = name
    assert routes == {
        ("ANY", "/v1/{proxy+}"): "ApiFunction",
        ("GET", "/deploy/{serviceId}"): "ApiFunction",
        ("POST", "/deploy/{serviceId}"): "ApiFunction",
        ("GET", "/"): "ApiFunction",
        ("ANY", "/dashboard/{proxy+}"): "ApiFunction",
    }


def _invoked_by_http_api_only(props: dict[str, Any]) -> bool:
    events = props.get("Events", {}).values()
    return bool(events) and all(e["Type"] in ("HttpApi", "Api") for e in events)


def test_every_async_function_has_a_dead_letter_destination(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    """Anything not invoked by the HTTP API retries and then dead-letters its failures: SQS
    sources through the queue's redrive policy, async invocations (EventBridge, Scheduler)
    through an on-failure destination or a function DLQ."""
    all_resources = resources(template)
    checked = set()
    for name, props in functions.items():
        if _invoked_by_http_api_only(props):
            continue
        checked.add(name)
        sqs = [e for e in props.get("Events", {}).values() if e["Type"] == "SQS"]
        for event in sqs:
            queue = all_resources[_ref(event["Properties"]["Queue"])]
            redrive = queue["Properties"].get("RedrivePolicy", {})
            assert redrive.get("deadLetterTargetArn") and redrive.get("maxReceiveCount"), name
        if sqs:
            continue
        invoke = props.get("EventInvokeConfig", {})
        on_failure = invoke.get("DestinationConfig", {}).get("OnFailure", {})
        dlq = props.get("DeadLetterQueue", {})
        assert isinstance(invoke.get("MaximumRetryAttempts"), int), f"{name}: no retry policy"
        assert on_failure.get("Destination") or dlq.get("TargetArn"), f"{name}: no DLQ"
        target = _ref(on_failure.get("Destination") or dlq.get("TargetArn"))
        assert all_resources[target]["Type"] == "AWS::SQS::Queue", name
    assert checked == set(HANDLERS) - {"ApiFunction"}


def test_event_rules_retry_and_dead_letter(template: dict[str, Any]) -> None:
    rules = resources(template, "AWS::Events::Rule")
    assert rules
    for name, rule in rules.items():
        for target in rule["Properties"]["Targets"]:
            assert target.get("DeadLetterConfig", {}).get("Arn"), name
            assert "MaximumRetryAttempts" in target.get("RetryPolicy", {}), name
            permissions = [
                p["Properties"]
                for p in resources(template, "AWS::Lambda::Permission").values()
                if _ref(p["Properties"]["SourceArn"]) == name
            ]
            assert [_ref(p["FunctionName"]) for p in permissions] == [_ref(target["Arn"])], name


def test_ecs_events_rule_covers_this_cluster(template: dict[str, Any]) -> None:
    rule = resources(template)["EcsEventsRule"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.ecs"]
    prefixes = sorted(_sub_text(p["prefix"]) for p in pattern["resources"])
    assert [p.rsplit(":", 1)[1] for p in prefixes] == ["service/${Cluster}/", "task/${Cluster}/"]
    assert [_ref(t["Arn"]) for t in rule["Targets"]] == ["EcsEventsFunction"]


def _concrete_pattern(template: dict[str, Any]) -> Any:
    """EcsEventsRule's pattern with its ``!Sub`` prefixes resolved, as moto's matcher."""
    from moto.events.models import EventPattern

    values = {
        "${AWS::Partition}": "aws",
        "${AWS::Region}": "us-east-1",
        "${AWS::AccountId}": "123456789012",
        "${Cluster}": "stack-Cluster",
    }

    def resolve(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Fn::Sub"}:
            text = _sub_text(node)
            for name, value in values.items():
                text = text.replace(name, value)
            return text
        if isinstance(node, dict):
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    pattern = resolve(resources(template)["EcsEventsRule"]["Properties"]["EventPattern"])
    return EventPattern.load(json.dumps(pattern))


_TASK = "arn:aws:ecs:us-east-1:123456789012:task/stack-Cluster/0123abcd"
_SERVICE = "arn:aws:ecs:us-east-1:123456789012:service/stack-Cluster/stack-srv-x"


def _ecs_event(kind: str, resource: str, **detail: str) -> dict[str, Any]:
    return {"source": "aws.ecs", "detail-type": kind, "resources": [resource], "detail": detail}


@pytest.mark.parametrize(
    ("event", "forwarded"),
    [
        (_ecs_event("ECS Task State Change", _TASK, lastStatus="STOPPED"), True),
        (_ecs_event("ECS Task State Change", _TASK, lastStatus="DEPROVISIONING"), False),
        (_ecs_event("ECS Task State Change", _TASK, lastStatus="RUNNING"), False),
        (_ecs_event("ECS Task State Change", _TASK, lastStatus="PROVISIONING"), False),
        (
            _ecs_event(
                "ECS Task State Change",
                _TASK.replace("stack-Cluster", "other"),
                lastStatus="STOPPED",
            ),
            False,
        ),
        (
            _ecs_event(
                "ECS Deployment State Change", _SERVICE, eventName="SERVICE_DEPLOYMENT_COMPLETED"
            ),
            True,
        ),
        (
            _ecs_event(
                "ECS Deployment State Change", _SERVICE, eventName="SERVICE_DEPLOYMENT_FAILED"
            ),
            True,
        ),
        (
            _ecs_event(
                "ECS Deployment State Change", _SERVICE, eventName="SERVICE_DEPLOYMENT_IN_PROGRESS"
            ),
            False,
        ),
        (_ecs_event("ECS Service Action", _SERVICE, eventName="SERVICE_STEADY_STATE"), False),
        # A deployment event never has lastStatus, a task event never eventName: no crossing.
        (
            _ecs_event("ECS Task State Change", _TASK, eventName="SERVICE_DEPLOYMENT_COMPLETED"),
            False,
        ),
        (_ecs_event("ECS Deployment State Change", _SERVICE, lastStatus="STOPPED"), False),
    ],
)
def test_ecs_events_rule_forwards_only_what_the_handler_acts_on(
    template: dict[str, Any], event: dict[str, Any], forwarded: bool
) -> None:
    assert _concrete_pattern(template).matches_event(event) is forwarded


def test_ecs_events_rule_names_the_handlers_deployment_events(template: dict[str, Any]) -> None:
    from imagedeploy.handlers import ecs_events

    branches = resources(template)["EcsEventsRule"]["Properties"]["EventPattern"]["$or"]
    by_type = {b["detail-type"][0]: b["detail"] for b in branches}
    assert by_type[ecs_events.TASK_STATE_CHANGE] == {"lastStatus": ["STOPPED"]}
    assert by_type[ecs_events.DEPLOYMENT_STATE_CHANGE] == {
        "eventName": list(ecs_events.DEPLOYMENT_EVENTS)
    }


def test_reconcile_runs_every_minute(template: dict[str, Any]) -> None:
    rule = resources(template)["ReconcileScheduleRule"]["Properties"]
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert [_ref(t["Arn"]) for t in rule["Targets"]] == ["ReconcileFunction"]


def test_jobs_queue_feeds_the_worker(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    worker = functions["WorkerFunction"]
    (event,) = worker["Events"].values()
    assert event["Type"] == "SQS"
    assert _ref(event["Properties"]["Queue"]) == "JobsQueue"
    queue = resources(template)["JobsQueue"]["Properties"]
    assert _ref(queue["RedrivePolicy"]["deadLetterTargetArn"]) == "JobsDeadLetterQueue"
    assert 1 <= int(queue["RedrivePolicy"]["maxReceiveCount"]) <= 10
    assert int(queue["VisibilityTimeout"]) >= 6 * int(worker["Timeout"])


def test_cron_is_invoked_by_the_scheduler_role(template: dict[str, Any]) -> None:
    role = resources(template)["SchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    statements = {s["Sid"]: s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]}
    invoke = statements["InvokeCron"]
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert {_ref(r) for r in as_list(invoke["Resource"]) if _ref(r)} == {"CronFunction"}
    assert resources(template, "AWS::Scheduler::ScheduleGroup")
    ticks = statements["SendCronTicks"]
    assert ticks["Action"] == "sqs:SendMessage"
    assert _ref(ticks["Resource"]) == "CronTicksQueue"


def test_a_storm_of_cron_ticks_queues_up_instead_of_starving_the_api(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    """Issue 10, item 4: schedules send ticks to an SQS queue that the cron function drains at
    a bounded concurrency (10,000 ticks in one minute are a backlog, not 10,000 invocations);
    the API function can have executions reserved for it."""
    worker_env = functions["WorkerFunction"]["Environment"]["Variables"]
    assert _ref(worker_env["IMAGEDEPLOY_CRON_TARGET_ARN"]) == "CronTicksQueue"
    (event,) = functions["CronFunction"]["Events"].values()
    assert event["Type"] == "SQS"
    assert _ref(event["Properties"]["Queue"]) == "CronTicksQueue"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    concurrency = event["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert concurrency == {"Ref": "CronTickConcurrency"}
    assert 2 <= template["Parameters"]["CronTickConcurrency"]["Default"] <= 10
    worker_scaling = functions["WorkerFunction"]["Events"]["Jobs"]["Properties"]["ScalingConfig"]
    assert worker_scaling["MaximumConcurrency"] <= 20
    queue = resources(template)["CronTicksQueue"]["Properties"]
    assert int(queue["VisibilityTimeout"]) >= 6 * int(functions["CronFunction"]["Timeout"])
    reserved = functions["ApiFunction"]["ReservedConcurrentExecutions"]
    assert reserved == {
        "Fn::If": [
            "ReservesApiConcurrency",
            {"Ref": "ApiReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert template["Parameters"]["ApiReservedConcurrency"]["Default"] == 0


# -- environment ----------------------------------------------------------------------------------


def _header(path: Path = TEMPLATE_PATH) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines[: lines.index("Metadata:")] if line.startswith("#"))


def test_environment_is_complete_and_documented(functions: dict[str, dict[str, Any]]) -> None:
    env = {name: set(props["Environment"]["Variables"]) for name, props in functions.items()}
    for name, variables in env.items():
        assert variables >= REQUIRED_ENV, (name, REQUIRED_ENV - variables)
    schedulers = {name for name, variables in env.items() if variables >= SCHEDULER_ENV}
    # Only the worker executes effects (usecases/outbox.py), SyncSchedule among them.
    assert schedulers == {"WorkerFunction"}
    # The header comment lists exactly the variables the functions get.
    documented = set(HEADER_ENV.findall(_header()))
    assert documented == set().union(*env.values())


def test_registry_allowed_networks_becomes_a_json_list(
    functions: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagedeploy.settings import Settings

    value = functions["WorkerFunction"]["Environment"]["Variables"][
        "IMAGEDEPLOY_REGISTRY_ALLOWED_NETWORKS"
    ]
    for given in ([""], ["10.0.0.0/8"], ["10.0.0.0/8", "192.168.0.0/16"]):
        has = any(given)
        text = _evaluate(
            value, {"RegistryAllowedNetworks": given}, {"HasRegistryAllowedNetworks": has}
        )
        expected = [g for g in given if g]
        assert json.loads(text) == expected
        monkeypatch.setenv("IMAGEDEPLOY_REGISTRY_ALLOWED_NETWORKS", text)
        assert [str(n) for n in Settings().registry_allowed_networks] == expected


def test_naming_contracts_match_the_iam_scopes(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    """The prefixes the app is told to use are the ones IAM allows."""
    env = functions["ApiFunction"]["Environment"]["Variables"]
    secret_prefix = _sub_text(env["IMAGEDEPLOY_SECRET_PREFIX"])
    log_prefix = _sub_text(env["IMAGEDEPLOY_LOG_GROUP_PREFIX"])
    assert env["IMAGEDEPLOY_NAME_PREFIX"] == {"Ref": "AWS::StackName"}
    target_groups = env["IMAGEDEPLOY_TARGET_GROUP_PREFIX"]["Fn::Sub"]

    resources_by_action: dict[str, list[Any]] = {}
    for _, statement in policy_statements(template):
        for action in as_list(statement["Action"]):
            resources_by_action.setdefault(action, []).extend(as_list(statement["Resource"]))

    def patterns(action: str) -> set[str]:
        return {
            _sub_text(r)
            for r in resources_by_action[action]
            if isinstance(r, dict) and "Ref" not in r
        }

    # The one secret granted by reference: the dashboard's session key, read by the API alone.
    referenced = [
        r
        for action, rs in resources_by_action.items()
        if action.startswith("secretsmanager:")
        for r in rs
        if isinstance(r, dict) and "Ref" in r
    ]
    assert referenced == [{"Ref": "DashboardSessionSecret"}]
    assert resources_by_action["secretsmanager:GetSecretValue"].count(referenced[0]) == 1
    api_reads = [
        statement
        for where, statement in policy_statements(template)
        if where.startswith("ApiFunctionRole/") and statement.get("Resource") == referenced[0]
    ]
    assert [as_list(s["Action"]) for s in api_reads] == [["secretsmanager:GetSecretValue"]]

    secrets = (
        f":secret:{secret_prefix}/registry-credentials/*",
        f":secret:{secret_prefix}/service-env/*",
    )
    for action in ("secretsmanager:GetSecretValue", "secretsmanager:CreateSecret"):
        assert patterns(action), action
        assert all(p.endswith(secrets) for p in patterns(action)), action
    for action in ("logs:CreateLogGroup", "logs:PutRetentionPolicy"):
        assert patterns(action) == {
            f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{log_prefix}/*"
        }
    assert all(
        p.endswith(":task-definition/${AWS::StackName}-*:*") for p in patterns("ecs:RunTask")
    )
    (tg_statement,) = resources_by_action["elasticloadbalancing:CreateTargetGroup"]
    assert tg_statement["Fn::Sub"][1] == target_groups[1]  # same stack-id fragment
    assert tg_statement["Fn::Sub"][0].endswith(f":targetgroup/{target_groups[0]}-*/*")
    # "<prefix>-<20 chars>" must fit ELB's 32 characters: "imd" + 8 hex digits.
    assert re.fullmatch(r"imd\$\{\w+\}", target_groups[0])
    assert len("imd01234567") + len("-") + 20 <= 32


def _target_group_prefix(template: dict[str, Any], stack_id: str) -> str:
    """IMAGEDEPLOY_TARGET_GROUP_PREFIX for a stack id (its !Select/!Split evaluated)."""
    expression = function_properties(template)["ApiFunction"]["Environment"]["Variables"][
        "IMAGEDEPLOY_TARGET_GROUP_PREFIX"
    ]["Fn::Sub"]

    def evaluate(node: Any) -> Any:
        if node == {"Ref": "AWS::StackId"}:
            return stack_id
        if isinstance(node, dict) and "Fn::Split" in node:
            separator, value = node["Fn::Split"]
            return str(evaluate(value)).split(separator)
        if isinstance(node, dict) and "Fn::Select" in node:
            index, values = node["Fn::Select"]
            return evaluate(values)[int(index)]
        return node

    text, variables = expression
    for name, value in variables.items():
        text = text.replace(f"${{{name}}}", str(evaluate(value)))
    return str(text)


def test_stacks_created_minutes_apart_get_different_target_group_prefixes(
    template: dict[str, Any],
) -> None:
    # Stack ids end in a time-based UUID: created 0, 1, 3 and 5 minutes apart on one host, they
    # differ only in the first group (100 ns ticks); the second changes every ~7 minutes.
    arn = "arn:aws:cloudformation:us-east-1:111122223333:stack/imagedeploy/{}-b969-11f0-a185-5081d0136786"
    ids = ["1a2b3c40", "3dee8240", "85750e40", "ccfb9a40"]
    prefixes = {_target_group_prefix(template, arn.format(uuid)) for uuid in ids}
    assert len(prefixes) == len(ids)
    assert all(re.fullmatch(r"imd[0-9a-f]{8}", p) for p in prefixes)


# -- IAM ------------------------------------------------------------------------------------------


def _all_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = list(policy_statements(template))
    for name, res in resources(template).items():
        props = res.get("Properties", {})
        if "AssumeRolePolicyDocument" in props:
            found += [(f"{name}/trust", s) for s in props["AssumeRolePolicyDocument"]["Statement"]]
        if res["Type"] in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            found += [(name, s) for s in props["PolicyDocument"]["Statement"]]
    return found


def test_no_wildcard_actions(template: dict[str, Any]) -> None:
    statements = _all_statements(template)
    assert len(statements) > 20
    for where, statement in statements:
        assert "NotAction" not in statement, where
        assert "NotResource" not in statement, where
        assert statement["Effect"] == "Allow", where
        for action in as_list(statement["Action"]):
            assert isinstance(action, str), where
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), f"{where}: {action!r}"
    for name, res in resources(template, "AWS::Lambda::Permission").items():
        assert res["Properties"]["Action"] == "lambda:InvokeFunction", name
        assert res["Properties"].get("SourceArn"), name


def test_star_resources_only_where_aws_requires_them(template: dict[str, Any]) -> None:
    seen: set[str] = set()
    for where, statement in policy_statements(template):
        if "*" not in as_list(statement["Resource"]):
            continue
        assert as_list(statement["Resource"]) == ["*"], f"{where}: '*' beside other resources"
        for action in as_list(statement["Action"]):
            assert action in ACTIONS_ALLOWED_ON_ANY_RESOURCE, f'{where}: {action} on "*"'
            seen.add(action)
    assert seen == set(ACTIONS_ALLOWED_ON_ANY_RESOURCE), "allow-list entries no statement uses"


def test_star_allow_list_agrees_with_aws_authorization_data() -> None:
    """Cross-check against the service authorization data cfn-lint ships: an action kept on "*"
    either has no resource type there, or is a documented exception."""
    try:
        data = json.loads(
            importlib.resources.files("cfnlint.data.AdditionalSpecs")
            .joinpath("Policies.json")
            .read_text(encoding="utf-8")
        )
    except (ModuleNotFoundError, FileNotFoundError):
        pytest.skip("cfn-lint no longer ships AdditionalSpecs/Policies.json")
    for action in ACTIONS_ALLOWED_ON_ANY_RESOURCE:
        service, name = action.split(":")
        spec = data[service]["Actions"][name.lower()]
        has_types = bool(spec.get("Resources"))
        assert has_types == (action in ON_ANY_RESOURCE_DESPITE_RESOURCE_TYPES), action


def test_cluster_scoped_star_statements_carry_the_cluster_condition(
    template: dict[str, Any],
) -> None:
    for where, statement in policy_statements(template):
        actions = set(as_list(statement["Action"]))
        if actions & {"ecs:ListTasks", "ecs:RunTask"}:
            condition = statement["Condition"]["ArnEquals"]["ecs:cluster"]
            assert condition == {"Fn::GetAtt": ["Cluster", "Arn"]}, where


def test_pass_role_only_for_our_roles_and_services(template: dict[str, Any]) -> None:
    allowed = {
        "TaskExecutionRole": "ecs-tasks.amazonaws.com",
        "TaskRole": "ecs-tasks.amazonaws.com",
        "SchedulerRole": "scheduler.amazonaws.com",
    }
    passed: set[str] = set()
    for where, statement in policy_statements(template):
        if "iam:PassRole" not in as_list(statement["Action"]):
            continue
        assert as_list(statement["Action"]) == ["iam:PassRole"], where
        roles = [_ref(r) for r in as_list(statement["Resource"])]
        service = statement["Condition"]["StringEquals"]["iam:PassedToService"]
        for role in roles:
            assert role in allowed and allowed[role] == service, (where, role, service)
            passed.add(str(role))
    assert passed == set(allowed)


def _secret_writers(template: dict[str, Any], kind: str) -> set[str]:
    return {
        where.split("/")[0]
        for where, statement in policy_statements(template)
        if "secretsmanager:CreateSecret" in as_list(statement["Action"])
        and all(_sub_text(r).endswith(f"/{kind}/*") for r in as_list(statement["Resource"]))
    }


def test_only_the_api_writes_registry_credentials(template: dict[str, Any]) -> None:
    assert _secret_writers(template, "registry-credentials") == {"ApiFunctionRole"}
    # Services' environment secrets: written by whichever function executes the effect.
    assert _secret_writers(template, "service-env") == {"FunctionsRuntimePolicy"}


def test_tasks_and_preflights_read_only_this_workspaces_secrets_and_repositories(
    template: dict[str, Any],
) -> None:
    """Workspace-scoped IAM (issue 10, item 6): the task execution role and the preflight
    policy name the ECR repository prefix and the secret prefix parameters, never a wildcard."""
    scoped = {
        "secretsmanager:GetSecretValue": (
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
            "${CredentialSecretPrefix}${AWS::StackName}/"
        ),
        "ecr:BatchGetImage": (
            "arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/${EcrRepositoryPrefix}*"
        ),
        "ecr:GetDownloadUrlForLayer": (
            "arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/${EcrRepositoryPrefix}*"
        ),
    }
    checked = set()
    for where, statement in policy_statements(template):
        if not where.startswith(("TaskExecutionRole", "FunctionsStatePolicy")):
            continue
        for action in set(as_list(statement["Action"])) & set(scoped):
            for resource in as_list(statement["Resource"]):
                assert _sub_text(resource).startswith(scoped[action]), (where, action, resource)
            checked.add((where.split("/")[0], action))
    assert checked == {
        (r, a) for r in ("TaskExecutionRole", "FunctionsStatePolicy") for a in scoped
    }
    params = template["Parameters"]
    assert params["EcrRepositoryPrefix"]["Default"] == ""
    assert params["CredentialSecretPrefix"]["Default"] == "imagedeploy/"


def test_task_role_has_no_permissions(template: dict[str, Any]) -> None:
    role = resources(template)["TaskRole"]["Properties"]
    assert not role.get("Policies") and not role.get("ManagedPolicyArns")


def test_functions_use_their_own_roles(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    """Explicit roles: SAM would attach AWSLambdaBasicExecutionRole (logs on "*") otherwise."""
    roles = {name: _ref(props["Role"]) for name, props in functions.items()}
    assert len(set(roles.values())) == len(roles)
    for name, role in roles.items():
        statements = [s for where, s in policy_statements(template) if where.startswith(f"{role}/")]
        own_logs = [s for s in statements if "logs:PutLogEvents" in as_list(s["Action"])]
        log_group = _ref(functions[name]["LoggingConfig"]["LogGroup"])
        assert [_ref(s["Resource"]) for s in own_logs] == [log_group], name


# -- logs -----------------------------------------------------------------------------------------


def test_every_log_group_has_a_retention(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    groups = resources(template, "AWS::Logs::LogGroup")
    for name, group in groups.items():
        assert group["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionDays"}, name
    # Nothing logs to a group the template does not own (Lambda's default never expires).
    for name, props in functions.items():
        assert _ref(props["LoggingConfig"]["LogGroup"]) in groups, name
    for name, api in resources(template, "AWS::Serverless::HttpApi").items():
        assert _ref(api["Properties"]["AccessLogSettings"]["DestinationArn"]) in groups, name
        assert "querystring" not in api["Properties"]["AccessLogSettings"]["Format"].lower()


# -- network and load balancer --------------------------------------------------------------------


def _ingress(template: dict[str, Any], name: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = resources(template)[name]["Properties"].get(
        "SecurityGroupIngress", []
    )
    return result


def test_security_groups(template: dict[str, Any]) -> None:
    assert resources(template, "AWS::EC2::SecurityGroupIngress") == {}
    alb = _ingress(template, "AlbSecurityGroup")
    assert sorted((r["FromPort"], r["ToPort"], r["CidrIp"]) for r in alb) == [
        (80, 80, "0.0.0.0/0"),
        (443, 443, "0.0.0.0/0"),
    ]
    (web,) = _ingress(template, "WebServiceSecurityGroup")
    assert _ref(web["SourceSecurityGroupId"]) == "AlbSecurityGroup" and "CidrIp" not in web
    (private,) = _ingress(template, "PrivateServiceSecurityGroup")
    assert private["CidrIp"] == {"Ref": "VpcCidr"}
    assert _ingress(template, "WorkerSecurityGroup") == []


def test_listeners_redirect_to_https_when_a_certificate_is_given(template: dict[str, Any]) -> None:
    listeners = resources(template, "AWS::ElasticLoadBalancingV2::Listener")
    https = listeners["HttpsListener"]
    assert https["Condition"] == "HasCertificate"
    assert https["Properties"]["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"] == "404"
    condition, with_cert, without_cert = listeners["HttpListener"]["Properties"]["DefaultActions"][
        "Fn::If"
    ]
    assert condition == "HasCertificate"
    assert with_cert[0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert without_cert[0]["FixedResponseConfig"]["StatusCode"] == "404"


def test_notification_email_is_optional(template: dict[str, Any]) -> None:
    (subscription,) = resources(template, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasNotificationEmail"
    assert subscription["Properties"]["Protocol"] == "email"


def test_task_definitions_if_any_are_fargate_linux_x86() -> None:
    for path in template_files():
        for name, res in resources(load_template(path), "AWS::ECS::TaskDefinition").items():
            props = res["Properties"]
            assert props["RequiresCompatibilities"] == ["FARGATE"], name
            assert props["RuntimePlatform"] == {
                "OperatingSystemFamily": "LINUX",
                "CpuArchitecture": "X86_64",
            }, name


def test_cluster_creates_on_an_account_that_never_used_ecs(template: dict[str, Any]) -> None:
    """Capacity providers (and Service Connect defaults) make CreateCluster need the ECS
    service-linked role, which a fresh account lacks: the first deploy would roll back. The
    app runs tasks with launchType FARGATE, so the cluster declares neither."""
    cluster = resources(template)["Cluster"]["Properties"]
    assert not {
        "CapacityProviders",
        "DefaultCapacityProviderStrategy",
        "ServiceConnectDefaults",
    } & set(cluster)
    assert resources(template, "AWS::ServiceDiscovery::PrivateDnsNamespace")


def test_a_new_vpc_cidr_must_be_what_the_network_stack_accepts(template: dict[str, Any]) -> None:
    """The parent accepts any prefix (an existing VPC may be any size); for a VPC it creates, a
    rule refuses what infra/network.yaml would refuse mid-deploy."""
    rule = template["Rules"]["NewVpcCidrIsSlash16"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "VpcId"}, ""]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Equals": [{"Fn::Select": [1, {"Fn::Split": ["/", {"Ref": "VpcCidr"}]}]}, "16"]
    }
    network = load_template(ROOT / "infra" / "network.yaml")
    assert network["Parameters"]["VpcCidr"]["AllowedPattern"].endswith("/16$")


def test_the_table_cannot_be_deleted_by_accident(template: dict[str, Any]) -> None:
    table = resources(template)["Table"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True


# -- the table ------------------------------------------------------------------------------------


def test_table_settings(template: dict[str, Any]) -> None:
    table = resources(template)["Table"]
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert time_to_live(template) == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert [i["IndexName"] for i in props["GlobalSecondaryIndexes"]] == ["GSI1", "GSI2"]
    # The one resource sam delete leaves behind on purpose (docs/aws.md, "Tearing it down").
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    retained = {n for n, r in resources(template).items() if r.get("DeletionPolicy") == "Retain"}
    assert retained == {"Table"}


def _normalized(definition: dict[str, Any]) -> dict[str, Any]:
    """Keys, types, indexes and TTL of a table in CloudFormation/boto3 property names."""
    types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}

    def keys(schema: list[dict[str, str]]) -> dict[str, tuple[str, str]]:
        return {k["KeyType"]: (k["AttributeName"], types[k["AttributeName"]]) for k in schema}

    ttl = definition.get("TimeToLiveSpecification") or {}
    return {
        "keys": keys(definition["KeySchema"]),
        "indexes": {
            i["IndexName"]: (keys(i["KeySchema"]), i["Projection"]["ProjectionType"])
            for i in definition.get("GlobalSecondaryIndexes", [])
        },
        "attributes": types,
        "billing": definition.get("BillingMode"),
        "ttl": ttl.get("AttributeName") if ttl.get("Enabled", True) else None,
    }


def test_table_matches_the_store_definition(template: dict[str, Any]) -> None:
    if importlib.util.find_spec(STORE_MODULE) is None:
        pytest.skip(f"{STORE_MODULE} does not exist yet (the DynamoDB store is being written)")
    store = importlib.import_module(STORE_MODULE)
    definition = store.TABLE_DEFINITION
    assert "KeySchema" in definition, "TABLE_DEFINITION: expected AWS::DynamoDB::Table properties"
    from_template = {
        **create_table_kwargs(template),
        "TimeToLiveSpecification": time_to_live(template),
    }
    expected = _normalized(from_template)
    actual = _normalized(definition)
    if actual["ttl"] is None and getattr(store, "TTL_ATTRIBUTE", None):
        actual["ttl"] = store.TTL_ATTRIBUTE
    assert actual == expected


# -- build ----------------------------------------------------------------------------------------


def test_sam_build_installs_the_runtime_dependencies() -> None:
    """`sam build` installs functions/requirements.txt into every function (CodeUri); it is
    functions/requirements.in pinned with hashes by `./dev lock` (tests/unit/test_lock.py
    checks that it is fresh), so the declared list is the one to compare."""
    requirements = ROOT / "functions" / "requirements.in"
    listed = {
        re.split(r"[<>=!~\[;\s]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        for line in requirements.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "-"))
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    needed = {
        re.split(r"[<>=!~\[;\s]", dep, maxsplit=1)[0].lower().replace("_", "-")
        for dep in project["dependencies"]
    }
    # serve's HTTP server and secret file; the CLI client's display and YAML output
    local_only = {"waitress", "cryptography", "rich", "pyyaml"}
    assert needed - local_only <= listed, needed - listed


def test_sam_transform_expands_to_a_lint_clean_template(monkeypatch: pytest.MonkeyPatch) -> None:
    """What CloudFormation will run: the SAM transform of the template (packaged the way `sam
    deploy` packages it) is lint-clean, keeps the Rules, and adds no role of its own (SAM's
    generated roles carry AWSLambdaBasicExecutionRole, logs on "*")."""
    pytest.importorskip("samtranslator", reason="aws-sam-translator is not installed")
    from cfnlint.api import lint
    from samtranslator.translator.transform import transform

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    packaged = load_template()
    packaged["Globals"]["Function"]["CodeUri"] = "s3://artifacts/functions.zip"
    packaged["Resources"]["Network"]["Properties"]["TemplateURL"] = (
        "https://artifacts.s3.amazonaws.com/network.yaml"
    )

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    expanded = transform(packaged, {}, NoManagedPolicies(), feature_toggle=None)
    expanded.pop("Globals", None)
    assert set(expanded["Rules"]) == set(load_template()["Rules"])
    roles = set(resources(expanded, "AWS::IAM::Role"))
    assert roles == set(resources(load_template(), "AWS::IAM::Role"))
    problems = [f"{m.rule.id} {m.message} ({m.path})" for m in lint(json.dumps(expanded))]
    assert not problems, "cfn-lint on the transformed template:\n" + "\n".join(problems)


# -- operability: dashboard and alarms ------------------------------------------------------------


def test_the_dashboard_is_valid_json_naming_only_this_stacks_resources(
    template: dict[str, Any],
) -> None:
    body = resources(template)["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}]+)\}", body))
    known = set(resources(template)) | {"AWS::Region"}
    assert {n.split(".")[0] for n in names} <= known, names - known
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    text = json.dumps(widgets)
    for metric in ("5xx", "4xx", "Latency", "Errors", "Throttles", "JobsFailed"):
        assert f'"{metric}"' in text, metric
    for function_id in HANDLERS:
        assert f"${{{function_id}}}" in body, function_id


def _alarm_metric_names(template: dict[str, Any]) -> dict[str, set[str]]:
    """Namespace -> metric names some alarm watches (plain or in metric math)."""
    watched: dict[str, set[str]] = {}
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if "MetricName" in props:
            watched.setdefault(props["Namespace"], set()).add(props["MetricName"])
        for query in props.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric")
            if metric:
                watched.setdefault(metric["Namespace"], set()).add(metric["MetricName"])
    return watched


def test_alarms_cover_function_errors_throttles_api_5xx_and_the_apps_own_metrics(
    template: dict[str, Any],
) -> None:
    watched = _alarm_metric_names(template)
    assert {"Errors", "Throttles"} <= watched["AWS/Lambda"]
    assert "5xx" in watched["AWS/ApiGateway"]
    # The metrics the handlers emit (handlers/worker.py, handlers/reconcile.py).
    emitted = set()
    for handler in ("worker", "reconcile"):
        source = (ROOT / "functions" / "imagedeploy" / "handlers" / f"{handler}.py").read_text()
        emitted |= set(re.findall(r'add_metric\("(\w+)"', source))
    assert {"JobsFailed", "ReconcileFailedRepairs"} <= emitted
    assert {"JobsFailed", "ReconcileFailedRepairs"} <= watched["imagedeploy"]
    assert watched["imagedeploy"] <= emitted
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "Topic"}]


def test_function_alarms_sum_every_function(template: dict[str, Any]) -> None:
    for logical_id in ("FunctionErrorsAlarm", "FunctionThrottlesAlarm"):
        queries = resources(template)[logical_id]["Properties"]["Metrics"]
        functions = {
            q["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
            for q in queries
            if "MetricStat" in q
        }
        assert functions == set(HANDLERS), logical_id
        (total,) = [q for q in queries if q.get("ReturnData")]
        assert set(re.findall(r"m\d+", total["Expression"])) == {
            q["Id"] for q in queries if "MetricStat" in q
        }
