"""Notification rules: failures, the all/failure/none matrix with per-service overrides, which
webhooks want an event, Render's payload, and webhook input validation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from imagedeploy.domain.accounts import NotificationsToSend, Webhook
from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.notifications import (
    EMITTED_EVENT_TYPES,
    effective_setting,
    is_failure,
    new_webhook_secret,
    parse_override_setting,
    parse_workspace_setting,
    should_notify,
    validate_event_filter,
    validate_webhook,
    validate_webhook_name,
    validate_webhook_url,
    webhook_body,
    webhook_payload,
    webhook_wants,
    webhooks_to_notify,
)

pytestmark = pytest.mark.unit

ALL, FAILURE, NONE, DEFAULT = (
    NotificationsToSend.ALL,
    NotificationsToSend.FAILURE,
    NotificationsToSend.NONE,
    NotificationsToSend.DEFAULT,
)
WHEN = datetime(2026, 11, 27, 12, 30, 5, 123456, tzinfo=UTC)


def event(type_: EventType, **details: Any) -> Event:
    return Event("evt-0000000000000000000e", "srv-0000000000000000000s", type_, WHEN, details)


def webhook(enabled: bool = True, event_filter: tuple[str, ...] = ()) -> Webhook:
    return Webhook(
        "whk-0000000000000000000w",
        "tea-0000000000000000000a",
        "ops",
        "https://hooks.example.com/render",
        "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
        enabled,
        event_filter,
    )


DEPLOY_FAILED = event(EventType.DEPLOY_ENDED, deployId="dep-x", deployStatus="failed", reason={})
DEPLOY_SUCCEEDED = event(EventType.DEPLOY_ENDED, deployId="dep-x", deployStatus="succeeded")
DEPLOY_CANCELED = event(EventType.DEPLOY_ENDED, deployId="dep-x", deployStatus="canceled")
PULL_FAILED = event(EventType.IMAGE_PULL_FAILED, imageURL="nginx:1", message="not found")
SERVER_FAILED = event(EventType.SERVER_FAILED, reason={"nonZeroExit": 1})
RUN_UNSUCCESSFUL = event(EventType.CRON_JOB_RUN_ENDED, cronJobRunId="run-x", status="unsuccessful")
RUN_SUCCESSFUL = event(EventType.CRON_JOB_RUN_ENDED, cronJobRunId="run-x", status="successful")
RUN_CANCELED = event(EventType.CRON_JOB_RUN_ENDED, cronJobRunId="run-x", status="canceled")
PRE_DEPLOY_FAILED = event(EventType.PRE_DEPLOY_ENDED, preDeployStatus="failed")
DEPLOY_STARTED = event(EventType.DEPLOY_STARTED, deployId="dep-x")

FAILURES = [DEPLOY_FAILED, PULL_FAILED, SERVER_FAILED, RUN_UNSUCCESSFUL]
NOT_FAILURES = [
    DEPLOY_SUCCEEDED,
    DEPLOY_CANCELED,
    RUN_SUCCESSFUL,
    RUN_CANCELED,
    PRE_DEPLOY_FAILED,  # its deploy_ended(failed) is the one failure notification
    DEPLOY_STARTED,
    *(
        event(t)
        for t in EventType
        if t
        not in (
            EventType.DEPLOY_ENDED,
            EventType.CRON_JOB_RUN_ENDED,
            EventType.IMAGE_PULL_FAILED,
            EventType.SERVER_FAILED,
        )
    ),
]


class TestFailures:
    @pytest.mark.parametrize("failure", FAILURES, ids=lambda e: f"{e.type}-{e.details}")
    def test_failures(self, failure: Event) -> None:
        assert is_failure(failure)

    @pytest.mark.parametrize("other", NOT_FAILURES, ids=lambda e: f"{e.type}-{e.details}")
    def test_not_failures(self, other: Event) -> None:
        assert not is_failure(other)

    def test_render_numeric_status_of_a_failed_deploy(self) -> None:
        assert is_failure(event(EventType.DEPLOY_ENDED, status=4))
        assert not is_failure(event(EventType.DEPLOY_ENDED, status=2))


class TestMatrix:
    # (workspace, override) -> effective setting
    @pytest.mark.parametrize(
        ("workspace", "override", "expected"),
        [
            (ALL, DEFAULT, ALL),
            (FAILURE, DEFAULT, FAILURE),
            (NONE, DEFAULT, NONE),
            (ALL, NONE, NONE),
            (NONE, ALL, ALL),
            (NONE, FAILURE, FAILURE),
            (FAILURE, ALL, ALL),
            (ALL, FAILURE, FAILURE),
            (FAILURE, NONE, NONE),
            (DEFAULT, DEFAULT, FAILURE),  # a workspace never says default; read it as failure
        ],
    )
    def test_effective_setting(
        self,
        workspace: NotificationsToSend,
        override: NotificationsToSend,
        expected: NotificationsToSend,
    ) -> None:
        assert effective_setting(workspace, override) is expected

    @pytest.mark.parametrize("workspace", [ALL, FAILURE, NONE])
    @pytest.mark.parametrize("override", [DEFAULT, ALL, FAILURE, NONE])
    def test_every_combination(
        self, workspace: NotificationsToSend, override: NotificationsToSend
    ) -> None:
        applies = workspace if override is DEFAULT else override
        for failure in FAILURES:
            assert should_notify(failure, workspace, override) is (applies is not NONE)
        for other in NOT_FAILURES:
            assert should_notify(other, workspace, override) is (applies is ALL)

    def test_override_defaults_to_following_the_workspace(self) -> None:
        assert should_notify(DEPLOY_FAILED, FAILURE)
        assert not should_notify(DEPLOY_STARTED, FAILURE)
        assert should_notify(DEPLOY_STARTED, ALL)

    def test_parsing_settings(self) -> None:
        assert parse_workspace_setting("all") is ALL
        assert parse_override_setting("default") is DEFAULT
        with pytest.raises(InvalidInput, match=r"use one of: all, failure, none$"):
            parse_workspace_setting("default")
        with pytest.raises(InvalidInput, match="default, all, failure, none"):
            parse_override_setting("failures")


class TestWebhookWants:
    def test_empty_filter_wants_every_type(self) -> None:
        assert all(webhook_wants(webhook(), event(t)) for t in EventType)

    def test_filter_names_the_types(self) -> None:
        hook = webhook(event_filter=("deploy_ended", "server_failed"))
        assert webhook_wants(hook, DEPLOY_FAILED)
        assert webhook_wants(hook, SERVER_FAILED)
        assert not webhook_wants(hook, PULL_FAILED)
        assert not webhook_wants(hook, DEPLOY_STARTED)

    def test_disabled_wants_nothing(self) -> None:
        assert not webhook_wants(webhook(enabled=False), DEPLOY_FAILED)
        assert not webhook_wants(webhook(False, ("deploy_ended",)), DEPLOY_FAILED)

    def test_settings_and_filters_combine(self) -> None:
        hooks = [
            webhook(),
            webhook(event_filter=("deploy_started",)),
            webhook(enabled=False),
            webhook(event_filter=("deploy_ended",)),
        ]
        assert webhooks_to_notify(DEPLOY_FAILED, FAILURE, DEFAULT, hooks) == [hooks[0], hooks[3]]
        assert webhooks_to_notify(DEPLOY_STARTED, FAILURE, DEFAULT, hooks) == []
        assert webhooks_to_notify(DEPLOY_STARTED, FAILURE, ALL, hooks) == hooks[:2]
        assert webhooks_to_notify(DEPLOY_FAILED, ALL, NONE, hooks) == []


class TestPayload:
    def test_renders_shape(self) -> None:
        assert webhook_payload(DEPLOY_FAILED) == {
            "type": "deploy_ended",
            "timestamp": "2026-11-27T12:30:05.123456Z",
            "data": {"id": "evt-0000000000000000000e", "serviceId": "srv-0000000000000000000s"},
        }

    def test_details_stay_out_of_the_payload(self) -> None:
        # Receivers fetch GET /v1/events/{data.id} for the details, as on Render.
        assert "reason" not in webhook_body(DEPLOY_FAILED)

    def test_timestamp_is_utc_z_whatever_the_zone(self) -> None:
        eastern = WHEN.astimezone(timezone(timedelta(hours=-5)))
        shifted = Event("evt-1", "srv-1", EventType.SERVER_FAILED, eastern, {})
        assert webhook_payload(shifted)["timestamp"] == "2026-11-27T12:30:05.123456Z"

    def test_body_is_compact_ascii_json_of_the_payload(self) -> None:
        body = webhook_body(DEPLOY_FAILED)
        assert body.isascii()
        assert " " not in body
        assert json.loads(body) == webhook_payload(DEPLOY_FAILED)

    def test_secret_is_standard_webhooks_format(self) -> None:
        secret = new_webhook_secret()
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24
        assert new_webhook_secret() != secret


class TestValidation:
    def test_valid_webhook(self) -> None:
        spec = validate_webhook(
            "  ops  ", " https://hooks.example.com/x?y=1 ", True, ["deploy_ended", "deploy_ended"]
        )
        assert spec.name == "ops"
        assert spec.url == "https://hooks.example.com/x?y=1"
        assert spec.event_filter == ("deploy_ended",)

    @pytest.mark.parametrize(
        "url",
        [
            "https://hooks.example.com",
            "http://127.0.0.1:8080/hook",
            "https://[2001:db8::1]/hook",
            "HTTPS://Hooks.Example.com/Path",
            "https://xn--fiqs8s.example/hook",
            "https://my_host.internal.example:8443/a/b",
        ],
    )
    def test_good_urls(self, url: str) -> None:
        assert validate_webhook_url(url) == url

    @pytest.mark.parametrize(
        ("url", "why"),
        [
            ("", "must not be empty"),
            ("   ", "must not be empty"),
            ("ftp://hooks.example.com/", "https://"),
            ("hooks.example.com/x", "https://"),
            ("https://", "no valid host"),
            ("https:///path", "no valid host"),
            ("https://user:pw@hooks.example.com/", "user name or password"),
            ("https://hooks.example.com:99999/", "not a valid URL"),
            ("https://hooks.example.com:0/", "port 0"),
            ("https://hooks example.com/", "spaces"),
            ("https://bücher.example/", "non-ASCII"),
            ("https://-bad-.example.com/", "no valid host"),
            ("https://hooks.example.com/" + "a" * 2100, "longer than 2048"),
        ],
    )
    def test_bad_urls(self, url: str, why: str) -> None:
        with pytest.raises(InvalidInput, match=why):
            validate_webhook_url(url)

    @pytest.mark.parametrize("name", ["", "   ", "a" * 256, "tab\there"])
    def test_bad_names(self, name: str) -> None:
        with pytest.raises(InvalidInput, match="webhook name"):
            validate_webhook_name(name)

    def test_unknown_event_types_are_refused_with_the_list(self) -> None:
        with pytest.raises(InvalidInput) as caught:
            validate_event_filter(["deploy_ended", "deploy_finished", "nope"])
        message = caught.value.message
        assert "'deploy_finished', 'nope'" in message
        assert all(name in message for name in EMITTED_EVENT_TYPES)

    def test_renders_other_event_types_are_accepted(self) -> None:
        # A filter written for Render (builds, Postgres...) keeps working; it never matches.
        assert validate_event_filter(["build_ended", "deploy_ended"]) == (
            "build_ended",
            "deploy_ended",
        )

    @pytest.mark.parametrize("bad", ["deploy_ended", [1], [["deploy_ended"]], None])
    def test_filter_must_be_a_list_of_names(self, bad: Any) -> None:
        with pytest.raises(InvalidInput, match="eventFilter"):
            validate_event_filter(bad)

    def test_enabled_must_be_a_boolean(self) -> None:
        with pytest.raises(InvalidInput, match="enabled must be true or false"):
            validate_webhook("ops", "https://hooks.example.com", "yes", [])  # type: ignore[arg-type]
