"""Benchmark: SQS messages (queue hops) per deploy on the Lambda stack, under moto.

A web service is created and taken live (``devkit.lambda_stack.live_web_service``), then its
deploy hook is called with a new tag, and the jobs queue is worked one message at a time through
the real worker handler, as Lambda's SQS event source would (batch size 1). Counted:

- **before the registry**: SQS messages sent from the hook up to the job that makes the first
  registry call (the preflight, ``FakeRegistry.calls``): each is one more Lambda invocation and
  one more queue wait before the image is even looked at;
- **to rollout**: messages sent from the hook until the deploy is ``update_in_progress`` (the
  ECS service updated);
- the kinds of the jobs, in order.

Works on any commit whose ``devkit.lambda_stack`` has ``live_web_service`` and ``Stack.hook``
(run it with that commit's ``PYTHONPATH`` for a baseline). ``--reps`` deploys in a row.

    .venv/bin/python -m bench.queue_hops [--reps 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the handlers' INFO lines: not data


def _one_deploy(stack: Any, hook_url: str, tag: str) -> dict[str, Any]:
    from devkit.lambda_stack import ACCOUNT, REGION, LambdaContext
    from imagedeploy.handlers import worker

    sqs = stack.aws.client("sqs")
    stack.drain()  # what came before (the last deploy's notifications): not this deploy's
    registry_calls = len(stack.registry.calls)
    reply = stack.hook(hook_url, imgURL=tag)
    assert reply.status == 200, reply
    deploy_id = reply.json["deploy"]["id"]
    before_registry: int | None = None
    to_rollout: int | None = None
    kinds: list[str] = []
    for _ in range(50):
        got = sqs.receive_message(
            QueueUrl=stack.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0
        ).get("Messages", [])
        if not got:
            break
        message = got[0]
        kinds.append(json.loads(message["Body"])["kind"])
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs",
            "awsRegion": REGION,
        }
        delivered_before = len(kinds)
        worker.lambda_handler({"Records": [record]}, LambdaContext())
        sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
        if before_registry is None and len(stack.registry.calls) > registry_calls:
            before_registry = delivered_before
        deploy = stack.app.ports.store.get_deploy(deploy_id)
        if to_rollout is None and deploy.status.value == "update_in_progress":
            to_rollout = delivered_before
    stack.ecs_event(stack.deployment_event(stack.app.ports.store.get_deploy(deploy_id).service_id))
    stack.drain()
    return {
        "before_registry": before_registry,
        "to_rollout": to_rollout,
        "kinds": kinds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    from devkit.lambda_stack import IMAGE, lambda_stack, live_web_service
    from devkit.moto_aws import create_network, mocked_aws

    # The worker's metrics lines go to stdout: keep them out of the table.
    with (
        contextlib.redirect_stdout(io.StringIO()),
        mocked_aws() as aws,
        lambda_stack(aws, create_network(aws)) as stack,
    ):
        created, _, _ = live_web_service(stack)
        rows = []
        for rep in range(args.reps):
            tag = f"{IMAGE}:{'2.0' if rep % 2 == 0 else '1.0'}"
            stack.clock.advance(120)  # past the hook's rate limit
            rows.append(_one_deploy(stack, created["deployHookUrl"], tag))
    print(
        "| deploy | SQS messages before the registry | SQS messages to rollout | jobs, in order |"
    )
    print("|---:|---:|---:|---|")
    for n, row in enumerate(rows, 1):
        kinds = ", ".join(row["kinds"])
        print(f"| {n} | {row['before_registry']} | {row['to_rollout']} | {kinds} |")


if __name__ == "__main__":
    main()
