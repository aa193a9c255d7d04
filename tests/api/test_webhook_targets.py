"""Webhook URLs the egress policy refuses are refused when the webhook is created or its URL
changed (400 saying which address class and how to allow it), not only at every delivery. The
world runs AWS's policy: public https:// receivers only; DNS is a table."""

from __future__ import annotations

import dataclasses

import pytest

from devkit.apigw import Api
from devkit.fakes import FakeDns, aws_webhook_targets
from devkit.world import OWNER

pytestmark = pytest.mark.unit

DNS = FakeDns(
    {
        "hooks.example.com": ["93.184.215.14"],
        "internal.example.com": ["10.20.30.40"],
        "rebind.example.com": ["93.184.215.14", "169.254.169.254"],
    }
)

REFUSED = [
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://169.254.169.254/", "never contacts"),
    ("https://[::ffff:169.254.169.254]/", "link-local"),
    ("https://[64:ff9b::a9fe:a9fe]/", "link-local"),
    ("https://[2002:a9fe:a9fe::]/", "link-local"),
    ("http://10.0.0.1/", "IMAGEDEPLOY_WEBHOOK_ALLOWED_NETWORKS"),
    ("https://10.0.0.1/", "a private-network address"),
    ("https://127.0.0.1:8080/hook", "a loopback address"),
    ("https://internal.example.com/hook", "internal.example.com resolves to 10.20.30.40"),
    ("https://rebind.example.com/hook", "169.254.169.254"),
    ("http://hooks.example.com/hook", "use an https:// URL"),
    ("http://localhost:8080/hook", "IMAGEDEPLOY_WEBHOOK_ALLOW_HTTP_LOOPBACK=true"),
]


@pytest.fixture
def hooks_api(api: Api) -> Api:
    ports = api.world.ports
    object.__setattr__(  # Ports is frozen: the world's policy, on this test's DNS table
        ports, "webhook_targets", dataclasses.replace(aws_webhook_targets(), resolver=DNS)
    )
    return api


def webhook(url: str) -> dict[str, object]:
    return {"ownerId": OWNER, "name": "ops", "url": url, "enabled": True, "eventFilter": []}


@pytest.mark.parametrize(("url", "mentions"), REFUSED)
def test_create_refuses_a_target_the_policy_refuses(
    hooks_api: Api, url: str, mentions: str
) -> None:
    reply = hooks_api.call("POST", "/v1/webhooks", webhook(url))
    assert reply.status == 400, reply.text
    assert mentions in reply.json["message"]
    assert hooks_api.call("GET", "/v1/webhooks").json == []  # nothing half-written


@pytest.mark.parametrize(("url", "mentions"), REFUSED)
def test_update_refuses_a_target_the_policy_refuses(
    hooks_api: Api, url: str, mentions: str
) -> None:
    created = hooks_api.call("POST", "/v1/webhooks", webhook("https://hooks.example.com/h"))
    assert created.status == 201, created.text
    path = f"/v1/webhooks/{created.json['id']}"
    reply = hooks_api.call("PATCH", path, {"url": url})
    assert reply.status == 400, reply.text
    assert mentions in reply.json["message"]
    assert hooks_api.call("GET", path).json["url"] == "https://hooks.example.com/h"


def test_public_https_targets_and_names_not_yet_in_dns_are_accepted(hooks_api: Api) -> None:
    for url in ("https://hooks.example.com/h", "https://[2606:4700::1]/h", "https://new.test/h"):
        reply = hooks_api.call("POST", "/v1/webhooks", webhook(url))
        assert reply.status == 201, reply.text
