"""``SnsNotifier`` under moto (a topic with an SQS queue subscribed, read back). Whether the
settings let an event out is the use case's decision (``tests/usecases/test_notifications.py``);
the notifier publishes what it is given.

moto cannot make SNS fail on demand: the "never raises" case uses a botocore ``Stubber`` on a
client of its own (an SNS error answer).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from devkit.moto_aws import Aws, Topic, make_service, published
from imagedeploy.adapters.aws.sns_notifier import (
    MAX_SUBJECT,
    SnsNotifier,
    subject_for,
)
from imagedeploy.domain.events import Event, EventType

pytestmark = pytest.mark.integration

SERVICE = make_service(name="shop web")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def event(type_: EventType, **details: Any) -> Event:
    return Event(f"evt-{type_.value[:6]:0>20}"[:24], SERVICE.id, type_, NOW, details)


FAILED = event(
    EventType.DEPLOY_ENDED,
    deployId="dep-00000000000000000001",
    deployStatus="failed",
    reason={"failure": {"nonZeroExit": 1}},
)
STARTED = event(EventType.DEPLOY_STARTED, deployId="dep-00000000000000000001", trigger="api")


@pytest.fixture
def notifier(aws: Aws, topic: Topic) -> SnsNotifier:
    return SnsNotifier(topic.arn, client=aws.client("sns"), api_base_url="https://api.example.com/")


def test_a_failure_is_published_with_its_subject_body_and_attributes(
    aws: Aws, topic: Topic, notifier: SnsNotifier
) -> None:
    notifier.notify(SERVICE, FAILED)

    (message,) = published(aws, topic)
    assert message["Subject"] == "[imagedeploy] shop web: deploy failed"
    body = json.loads(message["Message"])
    assert body["type"] == "deploy_ended"
    assert body["failure"] is True
    assert body["service"] == {"id": SERVICE.id, "name": "shop web", "type": "web_service"}
    assert body["event"]["details"]["reason"] == {"failure": {"nonZeroExit": 1}}
    assert body["links"]["event"] == f"https://api.example.com/v1/events/{FAILED.id}"
    assert body["links"]["service"] == f"https://api.example.com/v1/services/{SERVICE.id}"
    assert body["timestamp"] == "2026-11-27T12:00:00Z"
    attributes = {k: v["Value"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {
        "eventType": "deploy_ended",
        "serviceId": SERVICE.id,
        "serviceType": "web_service",
        "failure": "true",
    }


def test_a_start_is_published_as_no_failure(aws: Aws, topic: Topic, notifier: SnsNotifier) -> None:
    notifier.notify(SERVICE, STARTED)

    (message,) = published(aws, topic)
    assert message["Subject"] == "[imagedeploy] shop web: deploy started"
    assert message["MessageAttributes"]["failure"]["Value"] == "false"


def test_subjects_are_ascii_and_at_most_100_characters() -> None:
    long_name = make_service(name="Zürich Bäckerei " + "very long name " * 5 + "the end")
    subject = subject_for(long_name, FAILED)
    assert len(subject) <= MAX_SUBJECT
    assert subject.isascii() and subject.isprintable()
    assert subject.startswith("[imagedeploy] Zurich Backerei very long")
    assert subject.endswith("...: deploy failed")
    pull = event(EventType.IMAGE_PULL_FAILED, imageURL="ghcr.io/a/b@sha256:1", message="nope")
    assert subject_for(SERVICE, pull) == "[imagedeploy] shop web: image pull failed"


def test_a_failing_publish_never_raises(
    aws: Aws, topic: Topic, caplog: pytest.LogCaptureFixture
) -> None:
    client = aws.new_client("sns")
    stubber = Stubber(client)  # moto cannot fail on demand: a stubbed SNS error answer
    stubber.add_client_error("publish", "InternalError", "SNS is having a bad day", 500)
    stubber.activate()
    notifier = SnsNotifier(topic.arn, client=client)

    with caplog.at_level(logging.ERROR):
        notifier.notify(SERVICE, FAILED)

    stubber.assert_no_pending_responses()
    assert "SNS notification failed" in caplog.text


def test_the_functions_sns_client_has_the_notifiers_short_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Lambda the notifier gets the app's shared SNS client: that client must carry the short
    timeouts too, or a slow SNS holds up a deploy for botocore's default 60 s x retries."""
    from imagedeploy import aws_bootstrap
    from imagedeploy.settings import Settings

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = Settings(
        table_name="imagedeploy",
        jobs_queue_url="https://sqs.us-east-1.amazonaws.com/111122223333/jobs",
        topic_arn="arn:aws:sns:us-east-1:111122223333:imagedeploy",
        aws_region="us-east-1",
    )
    app = aws_bootstrap.build(settings)
    sns = app.clients("sns").meta.config
    assert (sns.connect_timeout, sns.read_timeout) == (2, 5)
    assert sns.retries["total_max_attempts"] == 3  # botocore: max_attempts 2 retries + 1
    other = app.clients("dynamodb").meta.config
    assert other.read_timeout == 60 and other.retries["total_max_attempts"] == 6
