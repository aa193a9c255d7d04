"""The dashboard in Debian's chromium against a real ``serve`` running real containers, the way
a user works through Render's "Deploy a Prebuilt Docker Image" guide: sign in, add a registry
credential, verify images (an arm64-only one is refused), create a web service and watch it go
live, deploy another tag through the deploy hook with ``imgURL``, roll back, see why a deploy
failed, create a cron job and run it, then delete things; change a live service's image, edit a
webhook, create an API key (shown once, copied) and revoke it. Every page is screenshotted at 1440
and 375 px (``Screenshots``)."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Dialog, Locator, Page, expect

from devkit.browser import Screenshots
from devkit.images import ImagePusher, StandardImages
from devkit.registry import TEST_USER, RunningRegistry
from devkit.serve import ServeProcess

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

LIVE_WAIT = 150_000  # ms: a deploy pulls and starts a real container on a shared machine
START_COMMAND = "Start command (overrides the image's CMD; empty: the image's own)"


def sign_in(page: Page, serve: ServeProcess) -> None:
    page.goto(serve.url + "/")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in$"))
    page.get_by_label("API key").fill(serve.api_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Services")).to_be_visible()


def verify(page: Page, image: str, credential: str | None = None) -> None:
    page.goto(page.url.split("/dashboard")[0] + "/dashboard/new")
    page.get_by_label("Image URL").fill(image)
    if credential:
        page.get_by_label("Registry credential").select_option(label=credential)
    page.get_by_role("button", name="Verify").click()


def latest_deploy(page: Page) -> Locator:
    return page.locator("#deploys tbody tr").first


def create_and_deploy(page: Page, name: str, created: set[str]) -> str:
    """Submit the verified new-service form; the service's page opens (its URL is returned, its
    id kept in ``created``)."""
    page.get_by_role("button", name="Create and deploy").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    created.add(page.url.rsplit("/", 1)[1])
    return page.url


def live_web_service(
    page: Page, image: str, name: str, created: set[str], start_command: str | None = None
) -> str:
    """A web service of ``image`` (health check ``/``) created on the dashboard and live; its
    page's URL."""
    verify(page, image)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("web_service").check()
    page.get_by_label("Health check path (web services)").fill("/")
    if start_command is not None:
        page.get_by_label(START_COMMAND).fill(start_command)
    service_url = create_and_deploy(page, name, created)
    expect(latest_deploy(page)).to_contain_text("live", timeout=LIVE_WAIT)
    return service_url


def test_the_whole_story(
    page: Page,
    serve: ServeProcess,
    created: set[str],
    basic_registry: RunningRegistry,
    anon_registry: RunningRegistry,
    test_images: StandardImages,
    screenshots: Screenshots,
) -> None:
    sign_in(page, serve)
    screenshots.take(page, "services-empty")

    # a registry credential for the private registry
    page.get_by_role("link", name="Registry credentials").click()
    page.get_by_label("Name", exact=True).fill("private-basic")
    page.get_by_label("Username", exact=True).fill(TEST_USER.username)
    page.get_by_label("Token", exact=True).fill(TEST_USER.password)
    page.get_by_role("button", name="Add credential").click()
    expect(page.get_by_role("heading", name=re.compile("private-basic"))).to_be_visible()
    assert TEST_USER.password not in page.content()
    screenshots.take(page, "credentials")

    # an arm64-only image is refused with its classified reason
    verify(page, test_images.demo.arm64_only.ref_on(anon_registry.host))
    expect(page.get_by_role("alert")).to_contain_text("linux/arm64")
    expect(page.get_by_role("button", name="Create and deploy")).to_have_count(0)
    screenshots.take(page, "verify-refused")

    # the private image verifies with the credential: digest, amd64 manifest, size
    web_v1 = test_images.demo.web_v1.ref_on(basic_registry.host)
    web_v2 = test_images.demo.web_v2.ref_on(basic_registry.host)
    verify(page, web_v1, credential="private-basic (DOCKER)")
    expect(page.locator("dl.facts")).to_contain_text(test_images.demo.web_v1.digest)
    page.get_by_label("Name", exact=True).fill("story-web")
    page.get_by_label("web_service").check()
    page.get_by_label("Health check path (web services)").fill("/")
    page.get_by_label("Environment variables (one KEY=value a line)").fill("GREETING=hello")
    screenshots.take(page, "new-service")
    service_url = create_and_deploy(page, "story-web", created)

    # it goes live while the page refreshes itself (no reload here)
    expect(latest_deploy(page)).to_contain_text("live", timeout=LIVE_WAIT)
    expect(page.locator("#facts")).to_contain_text(test_images.demo.web_v1.digest)
    screenshots.take(page, "service-live")

    # the deploy hook: regenerated, shown once, called with imgURL for another tag
    page.get_by_role("button", name="Regenerate hook URL").click()
    hook_url = page.get_by_label("Deploy hook URL").input_value()
    assert "?key=" in hook_url
    expect(page.locator("#hook-curl")).to_contain_text("imgURL=")
    triggered = httpx.post(f"{hook_url}&imgURL={quote(web_v2, safe='')}", timeout=30)
    assert triggered.status_code == 200, triggered.text
    page.goto(service_url)
    assert hook_url.split("?key=")[1] not in page.content()  # shown once only
    expect(latest_deploy(page)).to_contain_text(web_v2)
    expect(latest_deploy(page)).to_contain_text("live", timeout=LIVE_WAIT)

    # roll back to the first deploy
    first = page.locator("#deploys tbody tr").last
    expect(first).to_contain_text(web_v1)
    first.get_by_role("button", name="Roll back to this deploy").click()
    expect(latest_deploy(page)).to_contain_text("rollback")
    expect(latest_deploy(page)).to_contain_text("live", timeout=LIVE_WAIT)
    expect(page.locator("#facts")).to_contain_text(test_images.demo.web_v1.digest)

    # a deploy of a tag that does not exist fails, and the timeline says why
    page.get_by_label("Deploy another image (tag or digest of this image)").fill(
        f"{basic_registry.host}/demo/web:9.9-missing"
    )
    page.get_by_role("button", name="Deploy image").click()
    expect(latest_deploy(page)).to_contain_text("update_failed", timeout=LIVE_WAIT)
    expect(page.locator("#events")).to_contain_text("image pull failed")
    expect(page.locator("#events li.failed").first).to_contain_text("9.9-missing")
    screenshots.take(page, "service-failed-deploy")

    # the credential cannot go while the service uses it
    page.get_by_role("link", name="Registry credentials").click()
    page.get_by_role("button", name="Delete private-basic").click()
    expect(page.get_by_role("alert")).to_contain_text("story-web")

    # a cron job: schedule previewed, created, run now; its run ends with exit code 3
    verify(page, test_images.demo.web_v1.ref_on(anon_registry.host))
    page.get_by_label("Name", exact=True).fill("story-cron")
    page.get_by_label("cron_job").check()
    page.get_by_label("Schedule (cron jobs; cron expression, UTC)").fill("0 0 1 1 *")
    page.get_by_label(START_COMMAND).fill("/bin/sh -c 'exit 3'")
    page.get_by_role("button", name="Preview schedule").click()
    expect(page.locator(".runs li")).to_have_count(5)
    expect(page.locator("div.runs")).to_contain_text("every year on January 1 at 00:00 UTC")
    expect(page.locator(".runs li").first).to_contain_text("-01-01 00:00 UTC")
    create_and_deploy(page, "story-cron", created)
    expect(latest_deploy(page)).to_contain_text("live", timeout=LIVE_WAIT)
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#runs tbody tr").first).to_contain_text("unsuccessful", timeout=LIVE_WAIT)
    expect(page.locator("#runs tbody tr").first).to_contain_text("3")
    screenshots.take(page, "cron-job")

    # delete both services, then the credential
    page.get_by_label("Type the service's name").fill("story-cron")
    page.get_by_role("button", name="Delete this service").click()
    page.goto(service_url)
    page.get_by_label("Type the service's name").fill("not-its-name")
    page.get_by_role("button", name="Delete this service").click()
    expect(page.get_by_role("alert")).to_contain_text("Not deleted")
    page.get_by_label("Type the service's name").fill("story-web")
    page.get_by_role("button", name="Delete this service").click()
    expect(page.get_by_role("heading", name="Services")).to_be_visible()
    expect(page.get_by_role("link", name="story-web")).to_have_count(0)
    page.get_by_role("link", name="Registry credentials").click()
    page.get_by_role("button", name="Delete private-basic").click()
    expect(page.get_by_text("No registry credentials")).to_be_visible()

    # notifications: a webhook, and its (empty) delivery log
    page.get_by_role("link", name="Notifications").click()
    page.get_by_label("Notify about").select_option("failure")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Notify about")).to_have_value("failure")
    page.get_by_label("Name", exact=True).fill("story-hook")
    page.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/imagedeploy")
    page.get_by_role("button", name="Add webhook").click()
    screenshots.take(page, "notifications")
    page.get_by_role("link", name="story-hook").click()
    expect(page.get_by_role("heading", name="Delivery log")).to_be_visible()


def test_keyboard_sign_in_then_a_cross_site_form_is_refused(
    page: Page, serve: ServeProcess
) -> None:
    page.goto(serve.url + "/dashboard/services")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in$"))
    # by keyboard alone: the key field has the focus, Enter submits
    page.keyboard.type(serve.api_key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Services")).to_be_visible()
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    # a form without the session's token (as another site would send it) changes nothing
    response = page.request.post(
        serve.url + "/dashboard/credentials",
        form={"registry": "DOCKER", "name": "forged", "username": "u", "token": "t"},
    )
    assert response.status == 403
    page.goto(serve.url + "/dashboard/credentials")
    expect(page.get_by_text("forged")).to_have_count(0)


def test_headers_and_escaping_in_the_browser(
    page: Page,
    serve: ServeProcess,
    created: set[str],
    anon_registry: RunningRegistry,
    test_images: StandardImages,
) -> None:
    sign_in(page, serve)
    response = page.goto(serve.url + "/dashboard/services")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    verify(page, test_images.demo.web_v1.ref_on(anon_registry.host))
    name = "<script>alert('x')</script><img src=x onerror=alert(2)>"
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("background_worker").check()
    page.get_by_label(START_COMMAND).fill("/bin/sh -c 'sleep 600'")
    create_and_deploy(page, name, created)
    page.goto(serve.url + "/dashboard/services")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    assert dialogs == []


def test_rollback_is_disabled_with_the_reason_once_the_digest_is_gone(
    page: Page,
    serve: ServeProcess,
    created: set[str],
    anon_registry: RunningRegistry,
    image_pusher: ImagePusher,
) -> None:
    repository = f"dash-{uuid.uuid4().hex[:8]}/worker"
    first = image_pusher.push_docker_image(repository, "1.0", f"{repository} 1.0")
    second = image_pusher.push_docker_image(repository, "2.0", f"{repository} 2.0")
    sign_in(page, serve)
    verify(page, first.ref_on(anon_registry.host))
    page.get_by_label("Name", exact=True).fill("gone-worker")
    page.get_by_label("background_worker").check()
    page.get_by_label(START_COMMAND).fill("/bin/sh -c 'sleep 600'")
    page.get_by_label("Pre-deploy command (not for cron jobs)").fill(
        "/bin/sh -c 'echo migrating the schema'"
    )
    create_and_deploy(page, "gone-worker", created)
    expect(latest_deploy(page)).to_contain_text("live", timeout=LIVE_WAIT)
    expect(page.locator("#pre-deploy pre")).to_contain_text("migrating the schema")
    page.get_by_label("Deploy another image (tag or digest of this image)").fill(
        second.ref_on(anon_registry.host)
    )
    page.get_by_role("button", name="Deploy image").click()
    expect(latest_deploy(page)).to_contain_text("live", timeout=LIVE_WAIT)
    page.reload()
    earlier = page.locator("#deploys tbody tr").last
    expect(earlier.get_by_role("button", name="Roll back to this deploy")).to_be_enabled()

    image_pusher.delete_manifest(f"{repository}@{first.digest}")
    page.reload()
    earlier = page.locator("#deploys tbody tr").last
    expect(earlier.get_by_role("button", name="Roll back", exact=True)).to_be_disabled()
    expect(earlier).to_contain_text("its image is gone")


def test_a_live_services_logs_tail_and_a_one_off_job(
    page: Page,
    serve: ServeProcess,
    created: set[str],
    anon_registry: RunningRegistry,
    test_images: StandardImages,
    screenshots: Screenshots,
) -> None:
    marker = f"<b>hello</b> {uuid.uuid4().hex[:8]}"
    sign_in(page, serve)
    command = f"/bin/sh -c 'echo \"{marker}\"; exec /bin/busybox httpd -f -p $PORT -h /www'"
    web_v1 = test_images.demo.web_v1.ref_on(anon_registry.host)
    service_url = live_web_service(page, web_v1, "logs-web", created, start_command=command)
    page.reload()
    expect(page.locator("#instances tbody tr")).to_have_count(1)

    # the live tail refreshes itself until the container's line is there, shown as text
    page.get_by_role("link", name="Search and tail logs").click()
    page.get_by_role("link", name="Live tail").click()
    expect(page.locator("#log-lines")).to_contain_text(marker, timeout=60_000)
    expect(page.locator("#log-lines b")).to_have_count(0)
    screenshots.take(page, "service-logs")
    page.get_by_label("Search text").fill("no such line anywhere")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#log-lines")).to_contain_text("No log lines in this range.")

    # a one-off job runs in the live image; the page refreshes itself until it has finished
    page.goto(service_url)
    page.get_by_label("Job start command").fill("/bin/sh -c 'echo job-ran; exit 4'")
    page.get_by_role("button", name="Run a job").click()
    expect(page.locator("#jobs tbody tr").first).to_contain_text("failed", timeout=LIVE_WAIT)
    expect(page.locator("#jobs tbody tr").first).to_contain_text("4")
    screenshots.take(page, "service-jobs")


def test_image_settings_webhook_edit_and_an_api_key_shown_once(
    page: Page,
    serve: ServeProcess,
    created: set[str],
    anon_registry: RunningRegistry,
    test_images: StandardImages,
    screenshots: Screenshots,
) -> None:
    sign_in(page, serve)
    web_v1 = test_images.demo.web_v1.ref_on(anon_registry.host)
    web_v2 = test_images.demo.web_v2.ref_on(anon_registry.host)
    service_url = live_web_service(page, web_v1, "settings-web", created)

    # the live service's image URL changes on its settings form; the page shows the new one
    page.get_by_label("Image URL").fill(web_v2)
    page.get_by_role("button", name="Save image").click()
    expect(page).to_have_url(service_url)
    expect(page.get_by_label("Image URL")).to_have_value(web_v2)
    expect(page.locator("#facts")).to_contain_text(web_v2)
    # a tag the registry does not have: the API's 400 and its message, on the page
    missing = f"{anon_registry.host}/demo/web:9.9-missing"
    page.get_by_label("Image URL").fill(missing)
    with page.expect_response(f"{service_url}/image") as answered:
        page.get_by_role("button", name="Save image").click()
    assert answered.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("9.9-missing")
    page.goto(service_url)
    expect(page.get_by_label("Image URL")).to_have_value(web_v2)
    screenshots.take(page, "service-settings")

    # a webhook: name, URL and event filter edited on its page, the list shows the change
    page.get_by_role("link", name="Notifications").click()
    page.get_by_label("Name", exact=True).fill("settings-hook")
    page.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/first")
    page.get_by_role("button", name="Add webhook").click()
    page.get_by_role("link", name="settings-hook").click()
    page.get_by_label("Name", exact=True).fill("settings-hook-ops")
    page.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/ops")
    page.get_by_label("Event types (space separated; empty: all)").fill(
        "deploy_started image_pull_failed"
    )
    page.get_by_role("button", name="Save webhook").click()
    expect(page.get_by_role("heading", name="Webhook settings-hook-ops")).to_be_visible()
    expect(page.get_by_label("URL", exact=True)).to_have_value("http://127.0.0.1:9/ops")
    expect(page.get_by_label("Event types (space separated; empty: all)")).to_have_value(
        "deploy_started image_pull_failed"
    )
    page.get_by_role("link", name="Back to notifications").click()
    edited = page.locator("tr", has=page.get_by_role("link", name="settings-hook-ops"))
    expect(edited).to_contain_text("deploy_started, image_pull_failed")
    expect(edited).to_contain_text("http://127.0.0.1:9/ops")

    # an API key: created, shown once, copied to the clipboard, gone after a reload, revoked
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=serve.url)
    name = f"browser-{uuid.uuid4().hex[:8]}"
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name=f"New key {name}")).to_be_visible()
    key = page.get_by_label("The new API key").input_value()
    # booleans: a failing assertion never prints a key
    assert key.startswith("rnd_") and key != serve.api_key, "not a new key"
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.get_by_role("button", name="Copied", exact=True)).to_be_visible()
    copied = page.evaluate("key => navigator.clipboard.readText().then(t => t === key)", key)
    assert copied is True, "the clipboard does not hold the new key"
    # no screenshot while the key is on the page: artifacts never hold a secret
    # loaded again (a GET: reloading the POST's answer would create another key)
    page.goto(serve.url + "/dashboard/api-keys")
    expect(page.get_by_label("The new API key")).to_have_count(0)
    shown_again = key in page.content()
    assert not shown_again, "the key is shown again"
    screenshots.take(page, "api-keys")
    page.get_by_role("button", name=f"Revoke {name}").click()
    expect(page.get_by_role("button", name=f"Revoke {name}")).to_have_count(0)
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
