"""Benchmark: Lambda cold start of each handler module against a minimal powertools HTTP handler.

Every sample is a FRESH interpreter (``python -c``, ``-X frozen_modules`` default, bytecode
caches warm — a Lambda zip ships no ``.pyc`` unless built with them, so real first-ever imports
are slower for everyone alike). Per handler module and round:

- ``import``: wall time of ``import <module>`` inside the child (``time.perf_counter``, after the
  interpreter is up; interpreter start-up is the same for every module and is not counted);
- ``import + 1st call``: the import, then the first invocation on a representative event, in one
  timed window. The bootstrap builds its boto3 clients lazily, so the window includes
  ``import boto3``, the default session and the clients the invocation creates. AWS is STUBBED,
  not mocked: a ``before-call.*`` hook on boto3's default session (registered inside the window)
  answers every operation with a canned, empty parsed response (the baseline does not import
  boto3 at all, so the stub is not installed for it) (item not found, empty query,
  write accepted) — so no network and no moto in the child, but botocore's client creation,
  parameter validation and serialization all run. Events are chosen to take the "not found"
  path the canned answers lead to (the first call still builds everything the handler builds,
  e.g. the API's resolver and all its routes);
- ``-X importtime``: a separate fresh interpreter with ``-X importtime -c "import <module>"``;
  the cumulative microseconds of the top-level line of ``<module>`` (and, with ``--offenders``,
  the heaviest imports under it).

Baseline, measured the same way in the same run, rounds interleaved with the handlers': a
minimal powertools HTTP handler module written to a temp dir (``APIGatewayHttpResolver``, one
``GET /ping`` route) and its first call on ``GET /ping``.

    .venv/bin/python -m bench.lambda_cold_start [--rounds 15] [--offenders 12] [--offender-runs 5]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = [
    "imagedeploy.handlers.api",
    "imagedeploy.handlers.worker",
    "imagedeploy.handlers.ecs_events",
    "imagedeploy.handlers.cron",
    "imagedeploy.handlers.reconcile",
]
BASELINE = "ping_handler"
BOTO_REF = "ping_dynamodb_handler"
BASELINE_SOURCE = """
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.get("/ping")
def ping():
    return {"ok": True}


def lambda_handler(event, context):
    return app.resolve(event, context)
"""
BOTO_REF_SOURCE = BASELINE_SOURCE.replace(
    'return {"ok": True}',
    'import boto3\n    boto3.client("dynamodb").get_item(TableName="t", Key={"pk": {"S": "x"}})\n'
    '    return {"ok": True}',
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_LAMBDA_FUNCTION_NAME": "imagedeploy-bench",
    "POWERTOOLS_SERVICE_NAME": "imagedeploy",
    "IMAGEDEPLOY_AWS_REGION": REGION,
    "IMAGEDEPLOY_TABLE_NAME": "imagedeploy-bench",
    "IMAGEDEPLOY_JOBS_QUEUE_URL": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/jobs",
    "IMAGEDEPLOY_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:imagedeploy",
    "IMAGEDEPLOY_SECRET_PREFIX": "imagedeploy/bench",
    "IMAGEDEPLOY_BASE_DOMAIN": "apps.example.com",
    "IMAGEDEPLOY_CLUSTER": "imagedeploy",
}


def http_event(
    method: str, path: str, query: str = "", headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"user-agent": "bench", **(headers or {})},
        "queryStringParameters": dict(p.split("=", 1) for p in query.split("&")) if query else None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "bench",
            },
            "requestId": "req",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795780800000,
        },
        "body": None,
        "isBase64Encoded": False,
    }


def ecs_deployment_event() -> dict[str, Any]:
    sample = ROOT / "devkit/ecs_events/deployment_completed.json"
    event: dict[str, Any] = json.loads(sample.read_text())
    event["resources"] = [
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/imagedeploy/imagedeploy-srv-0000000000000000000b"
    ]
    return event


# module -> (what the first call is, the event)
EVENTS = {
    "imagedeploy.handlers.api": (
        "deploy hook GET /deploy/{id}?key=… (service not found → 404)",
        http_event("GET", "/deploy/srv-0000000000000000000b", "key=abcdefghijkl"),
    ),
    "imagedeploy.handlers.worker": (
        'SQS record {"kind":"preflight","subject":<unknown deploy>}',
        {
            "Records": [
                {
                    "messageId": "m-1",
                    "receiptHandle": "r",
                    "body": json.dumps(
                        {"kind": "preflight", "subject": "dep-0000000000000000000b"}
                    ),
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "awsRegion": REGION,
                }
            ]
        },
    ),
    "imagedeploy.handlers.ecs_events": (
        "ECS Deployment State Change COMPLETED (service not found → ignored)",
        ecs_deployment_event(),
    ),
    "imagedeploy.handlers.cron": (
        "SQS record of a scheduler tick {serviceId, scheduledTime} (claim, service not found)",
        {
            "Records": [
                {
                    "messageId": "m-1",
                    "receiptHandle": "r",
                    "body": json.dumps(
                        {
                            "serviceId": "srv-0000000000000000000b",
                            "scheduledTime": "2026-11-27T12:00:00Z",
                        }
                    ),
                    "eventSource": "aws:sqs",
                    "awsRegion": REGION,
                }
            ]
        },
    ),
    "imagedeploy.handlers.reconcile": ("one reconcile pass over an empty table", {}),
    BASELINE: ("GET /ping", http_event("GET", "/ping")),
    BOTO_REF: (
        "GET /ping (creates a boto3 DynamoDB client, one GetItem)",
        http_event("GET", "/ping"),
    ),
}

# Packages of the dev venv that the Lambda bundle does not ship (functions/requirements.txt):
# the child cannot import them, as on Lambda (``shipped_check`` keeps the list honest).
NOT_SHIPPED = {"aws_xray_sdk": "aws-xray-sdk", "rich": "rich", "click": "click"}

# Runs in the child. argv: module, event JSON, mode ("import" | "call").
CHILD = r"""
import json, sys, time
class NotShipped:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in NOT_SHIPPED_NAMES:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the Lambda bundle)")
        return None
sys.meta_path.insert(0, NotShipped())
module, event, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
CANNED = {
    "Query": {"Items": [], "Count": 0, "ScannedCount": 0},
    "Scan": {"Items": [], "Count": 0, "ScannedCount": 0},
    "BatchGetItem": {"Responses": {}, "UnprocessedKeys": {}},
    "DescribeServices": {"services": [], "failures": []},
    "ListTasks": {"taskArns": []},
    "DescribeTasks": {"tasks": [], "failures": []},
    "ReceiveMessage": {"Messages": []},
}
calls = []
def answer(model, **kwargs):
    calls.append(f"{model.service_model.service_name}.{model.name}")
    return (type("Http", (), {"status_code": 200, "headers": {}})(), dict(CANNED.get(model.name, {})))
class Context:
    function_name = "imagedeploy-bench"; memory_limit_in_mb = 512; aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:imagedeploy-bench"
t0 = time.perf_counter()
mod = __import__(module, fromlist=["lambda_handler"])
t1 = time.perf_counter()
outcome = None
if mode == "call":
    if module != "ping_handler":  # the baseline never imports botocore; do not make it
        # every client any session makes (boto3's or botocore's own) answers from CANNED
        import botocore.session
        create_client = botocore.session.Session.create_client
        def stubbed(self, *args, **kwargs):
            client = create_client(self, *args, **kwargs)
            client.meta.events.register("before-call.*.*", answer)
            return client
        botocore.session.Session.create_client = stubbed
    try:
        result = mod.lambda_handler(event, Context())
        outcome = str(result.get("statusCode") or result.get("outcome") or
                      result.get("batchItemFailures", result) if isinstance(result, dict) else result)[:80]
    except Exception as e:
        outcome = f"raised {type(e).__name__}: {e}"[:80]
t2 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "call_ms": (t2 - t0) * 1e3,
                  "outcome": outcome, "aws_calls": calls, "modules": len(sys.modules)}))
"""

CHILD = CHILD.replace("NOT_SHIPPED_NAMES", repr(set(NOT_SHIPPED)), 1)


def shipped_check() -> None:
    """Fail when a package the child hides is in the Lambda bundle after all."""
    text = (ROOT / "functions" / "requirements.txt").read_text().lower()
    shipped = {d for d in NOT_SHIPPED.values() if re.search(rf"^{re.escape(d)}==", text, re.M)}
    if shipped:
        raise SystemExit(f"NOT_SHIPPED lists packages the bundle ships: {sorted(shipped)}")


LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def run_child(module: str, mode: str, env: dict[str, str]) -> dict[str, Any]:
    event = json.dumps(EVENTS[module][1])
    out = subprocess.run(
        [sys.executable, "-c", CHILD, module, event, mode],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    answer: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return answer


def importtime(
    module: str, env: dict[str, str], call: bool = False
) -> list[tuple[int, int, int, str]]:
    """(self µs, cumulative µs, depth, name) for every line of ``-X importtime``; with ``call``,
    of the import AND the first call (the child script, stubbed AWS)."""
    if call:
        cmd = [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            CHILD,
            module,
            json.dumps(EVENTS[module][1]),
            "call",
        ]
    else:
        cmd = [sys.executable, "-X", "importtime", "-c", f"import {module}"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    rows = []
    for line in out.stderr.splitlines():
        m = LINE.match(line)
        if m:
            rows.append((int(m[1]), int(m[2]), len(m[3]) // 2, m[4]))
    return rows


def top_cumulative(rows: list[tuple[int, int, int, str]], module: str) -> int:
    return next((cum for _, cum, depth, name in rows if name == module and depth == 0), 0)


def offenders(rows: list[tuple[int, int, int, str]], n: int) -> list[tuple[str, int, str]]:
    """The heaviest imports by cumulative µs, excluding ancestors of a listed one, each with the
    module that imported it (``-X importtime`` prints children before their parent)."""
    parent_of: dict[int, str] = {}
    result: list[tuple[str, int, int, str]] = []
    # walk backwards: a line's parent is the nearest later line with depth - 1
    last_at_depth: dict[int, str] = {}
    for i in range(len(rows) - 1, -1, -1):
        _, cum, depth, name = rows[i]
        parent_of[i] = last_at_depth.get(depth - 1, "<top>") if depth else "<top>"
        last_at_depth[depth] = name
        result.append((name, cum, depth, parent_of[i]))
    result.sort(key=lambda r: -r[1])
    return [(name, cum, parent) for name, cum, depth, parent in result if depth <= 2][:n]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--offenders", type=int, default=12)
    parser.add_argument("--offender-runs", type=int, default=5)
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="ignore every cached .pyc (PYTHONPYCACHEPREFIX = an empty dir): everything, the "
        "standard library too, is compiled from source — an upper bound for a Lambda zip, which "
        "ships no .pyc for the bundle (the runtime's standard library does have them)",
    )
    args = parser.parse_args()
    shipped_check()

    tmp = Path(tempfile.mkdtemp(prefix="coldstart-"))
    atexit.register(shutil.rmtree, tmp, True)
    (tmp / f"{BASELINE}.py").write_text(BASELINE_SOURCE)
    (tmp / f"{BOTO_REF}.py").write_text(BOTO_REF_SOURCE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IMAGEDEPLOY_"))}
    env |= ENV
    env["PYTHONPATH"] = os.pathsep.join([str(tmp), str(ROOT / "functions")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # do not litter; caches already present are used
    if args.no_bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "no-pycache")  # empty, never written
    modules = [BASELINE, BOTO_REF, *HANDLERS]

    # warm the bytecode/page cache once (not measured)
    for module in modules:
        run_child(module, "call", env)

    samples: dict[str, dict[str, list[float]]] = {
        m: {"import": [], "call": [], "xi": []} for m in modules
    }
    info: dict[str, dict[str, Any]] = {}
    for _ in range(args.rounds):
        for module in modules:  # interleaved: noise hits every module alike
            a = run_child(module, "import", env)
            b = run_child(module, "call", env)
            rows = importtime(module, env)
            samples[module]["import"].append(a["import_ms"])
            samples[module]["call"].append(b["call_ms"])
            samples[module]["xi"].append(top_cumulative(rows, module) / 1e3)
            info[module] = {
                "outcome": b["outcome"],
                "aws": b["aws_calls"],
                "mod_import": a["modules"],
                "mod_call": b["modules"],
                "rows": rows,
            }

    base = {k: statistics.median(v) for k, v in samples[BASELINE].items()}
    print(
        f"fresh interpreter per sample, {args.rounds} rounds interleaved; "
        f"{'NO cached bytecode (all compiled from source); ' if args.no_bytecode else ''}Python "
        f"{sys.version.split()[0]}; AWS stubbed (before-call hook, canned empty answers); "
        f"ratios are median / baseline median"
    )
    print()
    print(
        "| module | import ms median | p90 | x base | -X importtime ms median | x base "
        "| import + 1st call ms median | p90 | x base | modules loaded (import / after call) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for module in modules:
        s = samples[module]
        med = {k: statistics.median(v) for k, v in s.items()}
        name = {
            BASELINE: "**baseline**: powertools `GET /ping`",
            BOTO_REF: "reference: `GET /ping` + boto3 GetItem",
        }.get(module, f"`{module}`")
        print(
            f"| {name} | {med['import']:.0f} | {pct(s['import'], 0.9):.0f} | "
            f"{med['import'] / base['import']:.2f} | {med['xi']:.0f} | {med['xi'] / base['xi']:.2f} | "
            f"{med['call']:.0f} | {pct(s['call'], 0.9):.0f} | {med['call'] / base['call']:.2f} | "
            f"{info[module]['mod_import']} / {info[module]['mod_call']} |"
        )
    print()
    print("first calls (event → outcome; AWS operations the stub answered)")
    print()
    print("| module | event | outcome | AWS operations |")
    print("|---|---|---|---|")
    for module in modules:
        ops = ", ".join(info[module]["aws"]) or "none"
        print(f"| `{module}` | {EVENTS[module][0]} | {info[module]['outcome']} | {ops} |")
    if args.offenders:
        for module in modules:
            # the first call's imports, median cumulative over --offender-runs interpreters
            runs: list[dict[tuple[str, str], int]] = []
            totals: list[int] = []
            for _ in range(args.offender_runs):
                rows = importtime(module, env, call=True)
                start = next(i for i, r in enumerate(rows) if r[3] == module and r[2] == 0) + 1
                lazy = rows[start:]
                totals.append(sum(cum for _, cum, depth, _ in lazy if depth == 0))
                runs.append({(name, parent): cum for name, cum, parent in offenders(lazy, 10_000)})
            keys: set[tuple[str, str]] = set().union(*runs)
            med_cum = {k: statistics.median([r.get(k, 0) for r in runs]) for k in keys}
            print()
            print(
                f"`-X importtime` of the FIRST CALL of `{module}`: imports after the module's "
                f"own, {statistics.median(totals) / 1e3:.0f} ms cumulative (median of "
                f"{args.offender_runs}); heaviest at depth ≤ 2"
            )
            print()
            print("| import | cumulative ms (median) | imported by |")
            print("|---|---:|---|")
            ranked = sorted(med_cum.items(), key=lambda kv: -kv[1])[: args.offenders]
            for (imported, parent), cum in ranked:
                print(f"| `{imported}` | {cum / 1e3:.1f} | `{parent}` |")
        for module in modules:
            rows = importtime(module, env)
            print()
            print(
                f"`-X importtime` heaviest imports under `{module}` (one run; cumulative, depth ≤ 2)"
            )
            print()
            print("| import | cumulative ms | imported by |")
            print("|---|---:|---|")
            for name, cum, parent in offenders(rows, args.offenders):
                print(f"| `{name}` | {cum / 1e3:.1f} | `{parent}` |")


if __name__ == "__main__":
    main()
