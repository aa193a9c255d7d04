"""ECS pull failures classified from real ``stoppedReason`` texts (as reported in public issue
threads; account ids, addresses and digests shortened). A subnet without egress must not tell the
user their registry token is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from imagedeploy.domain.ecs_rules import classify_stop, task_outcome
from imagedeploy.domain.errors import PullFailureReason
from imagedeploy.domain.outcomes import PullFailed as PullFailure
from imagedeploy.domain.pull_failures import EGRESS_HINT, pull_failure_reason

pytestmark = pytest.mark.unit

UNAVAILABLE = PullFailureReason.REGISTRY_UNAVAILABLE
UNAUTHORIZED = PullFailureReason.UNAUTHORIZED
NOT_FOUND = PullFailureReason.NOT_FOUND
RATE_LIMITED = PullFailureReason.RATE_LIMITED

REAL_STOPPED_REASONS = [
    # -- no egress: network and timeouts ----------------------------------------------------------
    (
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
        "retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 "
        'time(s): RequestError: send request failed caused by: Post "https://api.ecr.us-east-2.'
        'amazonaws.com/": dial tcp 52.46.0.1:443: i/o timeout. Please check your task network '
        "configuration.",
        UNAVAILABLE,
    ),
    (
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
        "retrieval failed: unable to retrieve secret from asm: service call has been retried 5 "
        "time(s): failed to fetch secret arn:aws:secretsmanager:us-west-2:111122223333:secret:"
        "DBPasswordSecret-abc from secrets manager: RequestCanceled: request context canceled "
        "caused by: context deadline exceeded. Please check your task network configuration.",
        UNAVAILABLE,
    ),
    (
        "ResourceInitializationError: unable to pull secrets or registry auth: The task cannot "
        "pull registry auth from Amazon ECR: There is a connection issue between the task and "
        "Amazon ECR. Check your task network configuration. RequestError: send request failed "
        'caused by: Post "https://api.ecr.us-east-1.amazonaws.com/": dial tcp 172.40.1.94:443: '
        "i/o timeout",
        UNAVAILABLE,
    ),
    (
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to "
        "resolve ref quay.io/deepfenceio/cloud-scanner:latest: failed to do request: Head "
        '"https://quay.io/v2/deepfenceio/cloud-scanner/manifests/latest": dial tcp '
        "3.210.148.47:443: i/o timeout",
        UNAVAILABLE,
    ),
    (
        "ResourceInitializationError: unable to pull secrets or registry auth: pull command "
        "failed: : signal: killed",
        UNAVAILABLE,
    ),
    # -- credentials and permissions --------------------------------------------------------------
    (
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
        "retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 "
        "time(s): AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/exec/x is "
        "not authorized to perform: ssm:GetParameters",
        UNAUTHORIZED,
    ),
    (
        "CannotPullContainerError: inspect image has been retried 1 time(s): failed to resolve "
        'ref "111122223333.dkr.ecr.us-east-1.amazonaws.com/app:1": unexpected status code '
        "[manifests 6981141]: 403 Forbidden",
        UNAUTHORIZED,
    ),
    (
        "CannotPullContainerError: failed to copy: httpReadSeeker: failed open: unexpected status "
        "code 401 Unauthorized",
        UNAUTHORIZED,
    ),
    (
        "CannotPullContainerError: Error response from daemon: pull access denied for acme/shop, "
        "repository does not exist or may require 'docker login': denied: requested access to "
        "the resource is denied",
        UNAUTHORIZED,
    ),
    # -- not found --------------------------------------------------------------------------------
    (
        "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to "
        "resolve ref 111122223333.dkr.ecr.eu-west-1.amazonaws.com/example-service:image-tag"
        "@sha256:0123: not found",
        NOT_FOUND,
    ),
    (
        "CannotPullContainerError: API error (404): repository serverless-batch not found: does "
        "not exist or no pull access",
        NOT_FOUND,
    ),
    # -- rate limited -----------------------------------------------------------------------------
    (
        "CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: "
        "httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/"
        "library/nginx/manifests/sha256:0123: 429 Too Many Requests - Server message: "
        "toomanyrequests: You have reached your pull rate limit.",
        RATE_LIMITED,
    ),
]


@pytest.mark.parametrize(("text", "expected"), REAL_STOPPED_REASONS)
def test_real_stopped_reasons_are_classified(text: str, expected: PullFailureReason) -> None:
    assert pull_failure_reason(text) is expected


def _stopped_task(reason: str) -> dict[str, Any]:
    return {
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "stopCode": "TaskFailedToStart",
        "stoppedReason": reason,
        "containers": [{"name": "app", "lastStatus": "STOPPED"}],
    }


def test_an_unreachable_registry_tells_the_user_how_to_give_tasks_egress() -> None:
    text, _ = REAL_STOPPED_REASONS[0]
    failure = classify_stop(task_outcome(_stopped_task(text)), long_running=True)
    assert isinstance(failure, PullFailure)
    assert failure.reason is UNAVAILABLE
    assert failure.message.startswith(text)
    assert EGRESS_HINT in failure.message
    for way_out in ("public IP", "NAT gateway", "VPC endpoints"):
        assert way_out in failure.message


def test_a_credential_failure_keeps_ecs_text_without_the_egress_hint() -> None:
    text, _ = REAL_STOPPED_REASONS[6]
    failure = classify_stop(task_outcome(_stopped_task(text)), long_running=True)
    assert isinstance(failure, PullFailure)
    assert failure.reason is UNAUTHORIZED
    assert failure.message == text
