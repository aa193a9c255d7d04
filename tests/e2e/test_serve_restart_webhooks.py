"""Issue 9 (local): a webhook delivery is an outbox effect, durable on ``serve``: one pending
when ``serve`` is SIGKILLed (held by ``devkit.effect_hold`` before it is made) is made after the
restart, once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from devkit.effect_hold import hold_effect_env
from devkit.httpserver import WebhookReceiver
from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import running_platform, wait_for

pytestmark = pytest.mark.e2e


def test_a_webhook_delivery_pending_when_serve_is_killed_is_made_once_after_restart(
    tmp_path: Path, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    server = WebhookReceiver()
    server.start("webhook-receiver")
    marker = tmp_path / "held"
    try:
        with running_platform(
            tmp_path / "data", extra_env=hold_effect_env("DeliverWebhook", marker)
        ) as platform:
            hook = platform.http.post(
                "/v1/webhooks",
                json={
                    "ownerId": platform.owner_id,
                    "name": "failures",
                    "url": f"http://{server.host}/hook",
                    "enabled": True,
                    "eventFilter": ["deploy_ended"],
                },
            )
            assert hook.status_code == 201, hook.text
            created = platform.create_service(  # fails its preflight: no container, one failure
                "web_service", "arm-hooked", test_images.demo.arm64_only.ref_on(anon_registry.host)
            )
            service_id = created["service"]["id"]
            assert platform.wait_deploy(service_id, created["deployId"]) == "update_failed"
            wait_for(marker.exists, 30, "the delivery to be held")
            platform.serve.kill()
            assert server.received == []
            platform.restart()

            def mine() -> list[dict[str, Any]]:
                return [
                    r["body"]
                    for r in server.received
                    if r["body"]["data"]["serviceId"] == service_id
                ]

            wait_for(mine, 30, "the delivery after the restart")
            time.sleep(2)  # a second delivery, if one were made, would be here by now
            assert [r["type"] for r in mine()] == ["deploy_ended"]
            log = platform.http.get(f"/v1/webhooks/{hook.json()['id']}/events").json()
            assert [entry["webhookEvent"]["eventType"] for entry in log] == ["deploy_ended"]
    finally:
        server.stop()
