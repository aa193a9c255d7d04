"""The service's image and shutdown settings, webhook editing and the API keys page in the
dashboard, over the real resolver and SQLite store (fake registry and runtime), without a
browser: each change goes through the public API, a form without the session's CSRF token
changes nothing, values are escaped and the API's refusal is shown with its status."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import pytest

from devkit.apigw import API_KEY
from devkit.dashboard import FormClient, dashboard_over
from devkit.world import IMAGE, World
from imagedeploy.domain.metrics import Metric, MetricQuery, Series
from imagedeploy.domain.services import Service

pytestmark = pytest.mark.integration


def _alert(text: str) -> str:
    (message,) = re.findall(r'<p class="alert" role="alert">([^<]*)</p>', text)
    return str(message)


def test_the_image_its_credential_and_the_shutdown_delay_change_through_the_api(
    client: FormClient, world: World
) -> None:
    created = world.create(name="imgs", num_instances=1)
    world.go_live(created.deploy.id)
    page_url = f"/dashboard/services/{created.service.id}"
    client.sign_in()
    client.get("/dashboard/credentials")
    body = {"registry": "DOCKER", "name": "hub-cred", "username": "u", "token": "t0k"}
    assert client.post("/dashboard/credentials", body).status == 303
    page = client.get(page_url).text
    (cid,) = re.findall(r'<option value="(rgc-[\w-]+)" >hub-cred \(DOCKER\)</option>', page)

    image = {"image_url": f"{IMAGE}:2.0", "credential": cid}
    refused = client.post(f"{page_url}/image", image, with_csrf=False)
    assert refused.status == 403
    assert f"{IMAGE}:2.0" not in client.get(page_url).text

    saved = client.post(f"{page_url}/image", image)
    assert saved.status == 303 and saved.headers["location"] == page_url
    page = client.get(page_url).text
    assert f'id="s-image" name="image_url" value="{IMAGE}:2.0"' in page
    assert f'<option value="{cid}" selected>hub-cred (DOCKER)</option>' in page
    assert "t0k" not in page

    anonymous = client.post(f"{page_url}/image", {"image_url": f"{IMAGE}:1.0"})
    assert anonymous.status == 303
    page = client.get(page_url).text
    assert '<option value="" selected>none (pull anonymously)</option>' in page

    # the API's refusal, with its status and message, on the page
    empty = client.post(f"{page_url}/image", {"image_url": "", "credential": ""})
    assert empty.status == 400 and "imagePath" in _alert(empty.text)
    missing = client.post(f"{page_url}/image", {"image_url": f"{IMAGE}:<b>9</b>"})
    assert missing.status == 400 and _alert(missing.text)
    assert "<b>9</b>" not in missing.text
    unknown = client.post(f"{page_url}/image", {"image_url": f"{IMAGE}:9.9"})
    assert unknown.status == 400 and "not found" in _alert(unknown.text)

    settings = {"name": "imgs", "plan": "starter", "command": "", "health_check_path": ""}
    delay = client.post(f"{page_url}/settings", {**settings, "max_shutdown_delay": "120"})
    assert delay.status == 303
    assert 'name="max_shutdown_delay" type="number" min="1" max="300" value="120"' in (
        client.get(page_url).text
    )
    too_long = client.post(f"{page_url}/settings", {**settings, "max_shutdown_delay": "301"})
    assert too_long.status == 400 and "maxShutdownDelaySeconds" in _alert(too_long.text)
    assert 'value="120"' in too_long.text


def test_a_webhook_is_edited_through_the_api(client: FormClient) -> None:
    client.sign_in()
    client.get("/dashboard/notifications")
    made = client.post(
        "/dashboard/webhooks",
        {"name": "w", "url": "https://hooks.example.com/in", "event_filter": "deploy_ended"},
    )
    assert made.status == 303
    page = client.get("/dashboard/notifications").text
    (wid,) = set(re.findall(r'href="/dashboard/webhooks/(whk-[\w-]+)"', page))
    edit_url = f"/dashboard/webhooks/{wid}/edit"
    edit = {
        "name": "<i>ops</i>",
        "url": "https://hooks.example.com/ops",
        "event_filter": "deploy_started, image_pull_failed",
    }
    client.get(f"/dashboard/webhooks/{wid}")
    assert client.post(edit_url, edit, with_csrf=False).status == 403
    assert client.post(edit_url, {**edit, "csrf": "forged"}).status == 403

    saved = client.post(edit_url, edit)
    assert saved.status == 303 and saved.headers["location"] == f"/dashboard/webhooks/{wid}"
    page = client.get(f"/dashboard/webhooks/{wid}").text
    assert "&lt;i&gt;ops&lt;/i&gt;" in page and "<i>ops</i>" not in page
    assert 'value="https://hooks.example.com/ops"' in page
    assert 'value="deploy_started image_pull_failed"' in page

    bad_url = client.post(edit_url, {**edit, "url": "ftp://nope"})
    assert bad_url.status == 400 and "url" in _alert(bad_url.text)
    bad_filter = client.post(edit_url, {**edit, "event_filter": "no_such_event"})
    assert bad_filter.status == 400 and "no_such_event" in _alert(bad_filter.text)
    # refusals changed nothing; an empty filter means every event
    assert client.post(edit_url, {**edit, "event_filter": ""}).status == 303
    listed = client.get("/dashboard/notifications").text
    assert "hooks.example.com/ops" in listed and ">all<" in listed.replace(
        '<td data-label="Events">', ">"
    )


def test_api_keys_are_listed_created_once_and_revoked(client: FormClient) -> None:
    client.sign_in()
    page = client.get("/dashboard/api-keys")
    assert page.status == 200 and "Last used" in page.text
    assert API_KEY not in page.text
    before = re.findall(r"Revoke ", page.text)

    assert client.post("/dashboard/api-keys", {"name": "ci"}, with_csrf=False).status == 403
    assert len(re.findall(r"Revoke ", client.get("/dashboard/api-keys").text)) == len(before)

    created = client.post("/dashboard/api-keys", {"name": "<script>ci</script>"})
    assert created.status == 200
    (key,) = re.findall(r'id="new-key" readonly value="([^"]+)"', created.text)
    assert "&lt;script&gt;ci&lt;/script&gt;" in created.text
    assert "<script>ci</script>" not in created.text
    listed = client.get("/dashboard/api-keys").text
    assert key not in listed  # shown once
    assert len(re.findall(r"Revoke ", listed)) == len(before) + 1

    # the new key works: sign in with it in another browser
    other = FormClient(client.handler)
    assert other.sign_in(key).status == 303
    assert "never" not in other.get("/dashboard/api-keys").text.split("&lt;script&gt;")[1][:400]

    refused = client.post("/dashboard/api-keys", {"name": ""})
    assert refused.status == 400 and "name" in _alert(refused.text)

    keys = client.get("/dashboard/api-keys").text
    ids = re.findall(r'action="/dashboard/api-keys/([\w-]+)/revoke"', keys)
    new_id = next(i for i in ids if f"<code>{i}</code>" in keys.split("&lt;script&gt;")[1])
    assert client.post(f"/dashboard/api-keys/{new_id}/revoke", {}).status == 303
    assert "&lt;script&gt;" not in client.get("/dashboard/api-keys").text
    # the revoked key's session is signed out on its next page
    assert other.get("/dashboard/api-keys").headers["location"] == "/dashboard/sign-in"
    # the workspace's last key is not revoked: the API's message says so
    (last,) = re.findall(
        r'action="/dashboard/api-keys/([\w-]+)/revoke"', client.get("/dashboard/api-keys").text
    )
    kept = client.post(f"/dashboard/api-keys/{last}/revoke", {})
    assert kept.status in (400, 409) and _alert(kept.text)


@dataclass
class _FixedMetrics:
    """Two instances' CPU and memory, the latest point last (what the sampler would keep);
    nothing until ``sampled``."""

    sampled: bool = False

    def series(self, query: MetricQuery, services: Sequence[Service]) -> list[Series]:
        if not self.sampled:
            return []
        start = query.end - timedelta(minutes=2)
        values = {
            Metric.CPU: ((0.5, 0.25), (0.125, 0.0625)),
            Metric.MEMORY: ((1.0, 2.0), (3.0, 1048576.0)),
        }
        return [
            Series(
                (("resource", services[0].id), ("instance", instance)),
                query.metric.unit,
                ((start, older), (start + timedelta(minutes=1), latest)),
            )
            for instance, (older, latest) in zip(("a", "b"), values[query.metric], strict=True)
        ]


def test_the_service_page_shows_current_cpu_and_memory(world: World) -> None:
    metrics = _FixedMetrics()
    world.ports = dataclasses.replace(world.ports, metrics=metrics)
    created = world.create(name="busy", num_instances=2)
    world.go_live(created.deploy.id)
    page_url = f"/dashboard/services/{created.service.id}"
    client = FormClient(dashboard_over(world).resolve)
    client.sign_in()
    page = client.get(page_url).text
    assert '<dd id="usage-cpu">no samples yet</dd>' in page

    metrics.sampled = True
    page = client.get(page_url).text
    # the latest point of each instance, summed: 0.25 + 0.0625 cores; 2 + 1048576 bytes
    assert '<dd id="usage-cpu">0.312 cores</dd>' in page
    assert '<dd id="usage-memory">1.0 MiB (1048578 bytes)</dd>' in page
