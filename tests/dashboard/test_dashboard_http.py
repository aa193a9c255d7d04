"""The dashboard over the real resolver and SQLite store (fake registry and runtime), without a
browser: sessions, CSRF, the security headers, escaping, and that its pages are the API's
answers (tests/browser runs the whole story in Chromium against ``serve``)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl

import pytest

from devkit.apigw import API_KEY, http_api_event
from devkit.dashboard import FormClient, dashboard_over
from devkit.world import World
from imagedeploy.api.app import build_resolver
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.wsgi import _LocalContext
from imagedeploy.dashboard.http import CSP
from imagedeploy.dashboard.services_list import SERVICES_PER_PAGE
from imagedeploy.dashboard.sessions import COOKIE
from imagedeploy.domain.services import ServiceType

pytestmark = pytest.mark.integration


def test_pages_need_a_session_and_the_api_still_needs_its_key(client: FormClient) -> None:
    for path in ("/dashboard/services", "/dashboard/credentials", "/dashboard/new"):
        reply = client.get(path)
        assert reply.status == 303 and reply.headers["location"] == "/dashboard/sign-in"
    assert client.get("/").headers["location"] == "/dashboard/sign-in"
    # the dashboard's cookie is no credential for /v1
    client.sign_in()
    api = client.get("/v1/services")
    assert api.status == 401


def test_sign_in_sets_a_sealed_strict_http_only_cookie(client: FormClient) -> None:
    wrong = client.sign_in("rnd_not_a_key")
    assert wrong.status == 401 and "Not signed in" in wrong.text
    assert "rnd_not_a_key" not in wrong.text
    reply = client.sign_in()
    assert reply.status == 303 and reply.headers["location"] == "/dashboard/services"
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert API_KEY not in cookie
    assert client.get("/dashboard/services").status == 200
    client.post("/dashboard/sign-out", {})
    assert client.get("/dashboard/services").status == 303


def test_the_cookie_is_secure_behind_https(world: World) -> None:
    https = FormClient(dashboard_over(world, "https://api.example.com").resolve)
    assert "Secure" in https.sign_in().headers["set-cookie"]


def test_a_form_without_the_session_csrf_token_changes_nothing(
    client: FormClient, world: World
) -> None:
    client.sign_in()
    body = {"registry": "DOCKER", "name": "hub", "username": "u", "token": "t0k"}
    refused = client.post("/dashboard/credentials", body, with_csrf=False)
    assert refused.status == 403 and "Nothing was changed" in refused.text
    forged = client.post("/dashboard/credentials", {**body, "csrf": "forged"})
    assert forged.status == 403
    assert "hub" not in client.get("/dashboard/credentials").text
    made = client.post("/dashboard/credentials", body)
    assert made.status == 303
    page = client.get("/dashboard/credentials").text
    assert "hub" in page and "t0k" not in page


def test_every_answer_has_a_strict_csp_and_no_inline_script(client: FormClient) -> None:
    for reply in (
        client.get("/dashboard/sign-in"),
        client.sign_in(),
        client.get("/dashboard/services"),
    ):
        assert reply.headers["content-security-policy"] == CSP
        assert reply.headers["x-frame-options"] == "DENY"
    assert "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP
    page = client.get("/dashboard/new").text
    assert "<script>" not in page and "style=" not in page and " on" + "click=" not in page
    js = client.get("/dashboard/static/app.js")
    assert js.status == 200 and js.headers["content-type"] == "text/javascript"


def test_values_are_escaped(client: FormClient, world: World) -> None:
    client.sign_in()
    name = "<script>alert(1)</script>"
    client.get("/dashboard/new")
    client.post(
        "/dashboard/new",
        {
            "image_url": "registry.test/app:1",
            "type": "web_service",
            "name": name,
            "plan": "starter",
        },
    )
    page = client.get("/dashboard/services").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert name not in page


def test_without_a_session_secret_the_dashboard_says_how_to_enable_it(world: World) -> None:
    from devkit.apigw import api_over

    resolver = build_resolver(ApiDeps(api_over(world).world.ports, "http://x"))
    result = resolver.resolve(http_api_event("GET", "/dashboard/sign-in"), _LocalContext())  # type: ignore[arg-type]
    assert result["statusCode"] == 503
    assert "IMAGEDEPLOY_DASHBOARD_SESSION_SECRET" in result["body"]


def test_credentials_update_and_delete_and_webhooks_through_the_api(client: FormClient) -> None:
    client.sign_in()
    client.get("/dashboard/credentials")
    body = {"registry": "DOCKER", "name": "hub", "username": "u", "token": "t0k"}
    assert client.post("/dashboard/credentials", body).status == 303
    page = client.get("/dashboard/credentials").text
    (cid,) = set(re.findall(r'action="/dashboard/credentials/(rgc-[\w-]+)"', page))
    updated = client.post(
        f"/dashboard/credentials/{cid}",
        {"registry": "GITHUB", "name": "gh", "username": "me", "token": "new-t0k"},
    )
    assert updated.status == 303
    page = client.get("/dashboard/credentials").text
    assert "gh" in page and "GITHUB" in page and "new-t0k" not in page
    # the API's refusal is shown with its status: a token is required on update
    refused = client.post(
        f"/dashboard/credentials/{cid}",
        {"registry": "GITHUB", "name": "gh", "username": "me", "token": ""},
    )
    assert refused.status == 400 and 'role="alert"' in refused.text
    assert client.post(f"/dashboard/credentials/{cid}/delete", {}).status == 303
    assert "No registry credentials" in client.get("/dashboard/credentials").text

    client.get("/dashboard/notifications")
    saved = client.post("/dashboard/notifications", {"notifications_to_send": "all"})
    assert saved.status == 303
    assert 'value="all" selected' in client.get("/dashboard/notifications").text
    bad = client.post("/dashboard/webhooks", {"name": "w", "url": "ftp://nope", "event_filter": ""})
    assert bad.status == 400
    made = client.post(
        "/dashboard/webhooks",
        {"name": "w", "url": "https://hooks.example.com/in", "event_filter": "deploy_ended"},
    )
    assert made.status == 303, made.text
    page = client.get("/dashboard/notifications").text
    (wid,) = set(re.findall(r'href="/dashboard/webhooks/(whk-[\w-]+)"', page))
    assert "No deliveries yet" in client.get(f"/dashboard/webhooks/{wid}").text
    client.get("/dashboard/notifications")
    assert client.post(f"/dashboard/webhooks/{wid}", {"enabled": "false"}).status == 303
    assert "Enable w" in client.get("/dashboard/notifications").text


def test_service_actions_go_through_the_api(client: FormClient, world: World) -> None:
    created = world.create(name="acts", num_instances=1)
    world.go_live(created.deploy.id)
    sid = created.service.id
    page_url = f"/dashboard/services/{sid}"
    client.sign_in()
    page = client.get(page_url)
    assert page.status == 200 and "acts" in page.text and "Roll back" not in page.text

    def act(action: str, **fields: str) -> None:
        reply = client.post(f"{page_url}/{action}", fields)
        assert reply.status == 303, (action, reply.text[-600:])
        assert reply.headers["location"] == page_url
        world.drain()

    act("env-set", key="SECRET_TOKEN", value="s3cr3t-value")
    shown = client.get(page_url).text
    assert "SECRET_TOKEN" in shown and "hidden" in shown
    act("env-delete", key="SECRET_TOKEN")
    assert "SECRET_TOKEN" not in client.get(page_url).text
    act("scale", instances="3")
    assert 'name="instances" type="number" min="1" value="3"' in client.get(page_url).text
    act("suspend")
    assert "Resume" in client.get(page_url).text
    act("resume")
    act("restart")
    act("settings", name="acts-renamed", plan="standard", command="", health_check_path="/h")
    assert "acts-renamed" in client.get(page_url).text
    act("notifications", notifications_to_send="all")
    assert 'value="all" selected' in client.get(page_url).text
    act("deploy", image_url="")
    running = client.get(page_url).text
    assert 'data-poll="3000"' in running and "in progress, refreshing" in running

    # the API's refusal, with its status, on the page: instances must be at least 1
    refused = client.post(f"{page_url}/scale", {"instances": "0"})
    assert refused.status == 400 and 'role="alert"' in refused.text

    hook = client.post(f"{page_url}/hook", {})
    assert hook.status == 200
    (url,) = re.findall(r'id="hook-url" readonly value="([^"]+)"', hook.text)
    assert "?key=" in url and "imgURL=" in hook.text
    assert url not in client.get(page_url).text  # shown once

    assert client.post(f"{page_url}/delete", {"confirm_name": "acts"}).status == 400
    deleted = client.post(f"{page_url}/delete", {"confirm_name": "acts-renamed"})
    assert deleted.headers["location"] == "/dashboard/services"
    assert client.get(page_url).status == 404


def test_the_services_list_pages_and_filters(client: FormClient, world: World) -> None:
    for number in range(SERVICES_PER_PAGE + 1):
        world.create(name=f"svc-{number:03}")
    world.create(ServiceType.CRON_JOB, name="the-cron")
    client.sign_in()
    first = client.get("/dashboard/services").text
    assert first.count('href="/dashboard/services/srv-') == SERVICES_PER_PAGE
    (next_page,) = re.findall(r'href="/dashboard/services(\?[^"]+)">Next page', first)
    query = dict(parse_qsl(unescape(next_page).removeprefix("?")))
    rest = client.get("/dashboard/services", query=query).text
    assert re.findall(r">(svc-\d+|the-cron)</a>", rest) == ["svc-050", "the-cron"]
    crons = client.get("/dashboard/services", query={"type": "cron_job"}).text
    assert "the-cron" in crons and "svc-000" not in crons
    queued = client.get("/dashboard/services", query={"status": "live"}).text
    assert "No services match these filters" in queued


def test_a_cron_schedule_is_previewed_in_words_and_run_times(client: FormClient) -> None:
    client.sign_in()
    client.get("/dashboard/new")
    form = {"image_url": "registry.test/app:1", "type": "cron_job", "name": "c", "plan": "starter"}
    preview = client.post("/dashboard/new", {**form, "schedule": "0 3 * * *", "intent": "preview"})
    assert "Runs daily at 03:00 UTC." in preview.text
    assert preview.text.count(" 03:00 UTC (") == 5
    wrong = client.post("/dashboard/new", {**form, "schedule": "61 * * * *", "intent": "preview"})
    assert 'role="alert"' in wrong.text and "minute" in wrong.text
    made = client.post("/dashboard/new", {**form, "schedule": "*/5 * * * *", "intent": "create"})
    assert made.status == 303
    assert "(every 5 minutes)" in client.get(made.headers["location"]).text
