"""``SnsNotifier`` under moto (a topic with an SQS queue subscribed, read back), and
``CompositeNotifier``. The settings live in a real SQLite store.

moto cannot make SNS fail on demand: the "never raises" cases use a botocore ``Stubber`` on a
client of their own (an SNS error answer) and a store that raises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from devkit.fakes import FakeNotifier
from devkit.moto_aws import OWNER, Aws, Topic, make_service, published
from imagedeploy.adapters.aws.sns_notifier import (
    MAX_SUBJECT,
    CompositeNotifier,
    SnsNotifier,
    subject_for,
)
from imagedeploy.adapters.local.sqlite_store import SqliteStore
from imagedeploy.domain.accounts import (
    NotificationOverride,
    NotificationSettings,
    NotificationsToSend,
    Owner,
)
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.services import Service

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
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "state.db")
    store.write(put=[Owner(OWNER, "Team", "team@example.com")])
    yield store
    store.close()


@pytest.fixture
def notifier(aws: Aws, topic: Topic, store: SqliteStore) -> SnsNotifier:
    return SnsNotifier(
        topic.arn, store, client=aws.client("sns"), api_base_url="https://api.example.com/"
    )


def set_workspace(store: SqliteStore, value: NotificationsToSend) -> None:
    store.write(put=[NotificationSettings(OWNER, value)])


def set_override(store: SqliteStore, value: NotificationsToSend) -> None:
    store.write(put=[NotificationOverride(SERVICE.id, value)])


def test_by_default_only_failures_are_published(
    aws: Aws, topic: Topic, notifier: SnsNotifier
) -> None:
    notifier.notify(SERVICE, STARTED)
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


def test_workspace_all_publishes_everything(
    aws: Aws, topic: Topic, notifier: SnsNotifier, store: SqliteStore
) -> None:
    set_workspace(store, NotificationsToSend.ALL)

    notifier.notify(SERVICE, STARTED)
    notifier.notify(SERVICE, FAILED)

    messages = published(aws, topic)
    assert sorted(m["MessageAttributes"]["failure"]["Value"] for m in messages) == [
        "false",
        "true",
    ]
    assert {m["Subject"] for m in messages} == {
        "[imagedeploy] shop web: deploy started",
        "[imagedeploy] shop web: deploy failed",
    }


def test_service_override_wins_over_the_workspace(
    aws: Aws, topic: Topic, notifier: SnsNotifier, store: SqliteStore
) -> None:
    set_workspace(store, NotificationsToSend.ALL)
    set_override(store, NotificationsToSend.NONE)

    notifier.notify(SERVICE, FAILED)
    assert published(aws, topic) == []

    store.write(put=[NotificationOverride(SERVICE.id, NotificationsToSend.FAILURE, version=1)])
    notifier.notify(SERVICE, STARTED)
    notifier.notify(SERVICE, event(EventType.CRON_JOB_RUN_ENDED, status="unsuccessful"))
    (message,) = published(aws, topic)
    assert message["Subject"] == "[imagedeploy] shop web: cron job run unsuccessful"


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
    aws: Aws, topic: Topic, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    client = aws.new_client("sns")
    stubber = Stubber(client)  # moto cannot fail on demand: a stubbed SNS error answer
    stubber.add_client_error("publish", "InternalError", "SNS is having a bad day", 500)
    stubber.activate()
    notifier = SnsNotifier(topic.arn, store, client=client)

    with caplog.at_level(logging.ERROR):
        notifier.notify(SERVICE, FAILED)

    stubber.assert_no_pending_responses()
    assert "SNS notification failed" in caplog.text


def test_a_failing_store_never_raises(
    aws: Aws, topic: Topic, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenStore:
        def get_notification_settings(self, owner_id: str) -> None:
            raise RuntimeError("table unavailable")

    notifier = SnsNotifier(topic.arn, BrokenStore(), client=aws.client("sns"))  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        notifier.notify(SERVICE, FAILED)
    assert "SNS notification failed" in caplog.text
    assert published(aws, topic) == []


def test_composite_hands_every_event_to_every_notifier(
    aws: Aws, topic: Topic, notifier: SnsNotifier
) -> None:
    class Exploding:
        def notify(self, service: Service, event: Event) -> None:
            raise RuntimeError("boom")

    webhooks = FakeNotifier()
    composite = CompositeNotifier(Exploding(), notifier, webhooks)

    composite.notify(SERVICE, FAILED)

    assert len(published(aws, topic)) == 1
    assert [e.id for _, e in webhooks.sent] == [FAILED.id]


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
