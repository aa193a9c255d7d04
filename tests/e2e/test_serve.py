"""``imagedeploy serve`` end to end: real podman containers from the real local registry,
driven through the HTTP API exactly as a user (or a Render client) would."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from devkit.httpserver import WebhookReceiver
from devkit.images import ImagePusher, StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import Platform, containers_of, running_platform, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # 60 deploys a minute per service, so the 50-hook test creates 50 deploys (the limit itself
    # is tested in tests/api and tests/usecases)
    with running_platform(
        tmp_path_factory.mktemp("serve"), extra_env={"IMAGEDEPLOY_DEPLOYS_PER_MINUTE": "60"}
    ) as started:
        yield started


def get_text(url: str) -> str:
    return httpx.get(url, timeout=5).text.strip()


def with_img(hook_url: str, img: str) -> str:
    """The hook URL (it carries ``?key=``) plus ``imgURL``, URL-encoded as Render's docs show
    (``httpx``'s ``params=`` would replace the key)."""
    return f"{hook_url}&imgURL={quote(img, safe='')}"


def test_web_service_goes_live_switches_tags_without_a_failed_request_and_rolls_back(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    web_v1, web_v2 = test_images.demo.web_v1, test_images.demo.web_v2
    created = platform.create_service(
        "web_service", "web", web_v1.ref_on(anon_registry.host), healthCheckPath="/"
    )
    service_id, first = created["service"]["id"], created["deployId"]
    hook_url = created["deployHookUrl"]
    assert platform.wait_deploy(service_id, first) == "live"
    url = platform.url_of(service_id)
    assert get_text(url) == web_v1.text

    # hammer the service while a deploy hook switches it to 2.0
    failures: list[str] = []
    answers: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                try:
                    r = client.get(url)
                    if r.status_code != 200:
                        failures.append(str(r.status_code))
                    else:
                        answers.append(r.text.strip())
                except httpx.HTTPError as exc:
                    failures.append(type(exc).__name__)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        hooked = httpx.post(with_img(hook_url, web_v2.ref_on(anon_registry.host)))
        assert hooked.status_code == 200, hooked.text
        second = hooked.json()["deploy"]["id"]
        assert platform.wait_deploy(service_id, second) == "live"
        wait_for(lambda: answers and answers[-1] == web_v2.text, 30, "answers from 2.0")
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert answers[0] == web_v1.text and answers[-1] == web_v2.text
    assert platform.deploy(service_id, first)["status"] == "deactivated"
    deploy = platform.deploy(service_id, second)
    assert deploy["image"]["sha"] == web_v2.digest
    # the old instance is drained and stopped in the background (its shutdown delay)
    wait_for(lambda: len(containers_of(service_id)) == 1, 60, "the old instance to stop")

    # the service keeps its configured reference; a rollback redeploys 1.0's digest
    rolled = platform.http.post(f"/v1/services/{service_id}/rollback", json={"deployId": first})
    assert rolled.status_code == 201, rolled.text
    assert platform.wait_deploy(service_id, rolled.json()["id"]) == "live"
    assert rolled.json()["trigger"] == "rollback"
    wait_for(lambda: get_text(url) == web_v1.text, 30, "1.0 answering again")
    types = platform.event_types(service_id)
    assert types.count("deploy_started") == 3 and types.count("deploy_ended") == 3


def test_mismatched_img_url_is_404_and_starts_nothing(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    created = platform.create_service(
        "background_worker", "worker-404", test_images.demo.web_v1.ref_on(anon_registry.host)
    )
    service_id = created["service"]["id"]
    platform.wait_deploy(service_id, created["deployId"])
    before = platform.http.get(f"/v1/services/{service_id}/deploys").json()
    other = httpx.get(
        with_img(created["deployHookUrl"], test_images.demo.oci.ref_on(anon_registry.host))
    )
    assert other.status_code == 404
    assert "demo/web" in other.json()["message"]  # names the repository the service uses
    malformed = httpx.get(with_img(created["deployHookUrl"], "nginx@1.24"))  # Render's own example
    assert malformed.status_code == 404
    # it says the tag was written after '@' and how to write it
    assert "has the tag '1.24' after '@'" in malformed.json()["message"]
    assert "docker.io/library/nginx:1.24" in malformed.json()["message"]
    assert platform.http.get(f"/v1/services/{service_id}/deploys").json() == before


def test_failing_pre_deploy_keeps_the_old_version_answering(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    web_v1 = test_images.demo.web_v1
    created = platform.create_service(
        "web_service",
        "with-migrations",
        web_v1.ref_on(anon_registry.host),
        preDeployCommand="/bin/sh -c 'echo migrated'",
    )
    service_id = created["service"]["id"]
    assert platform.wait_deploy(service_id, created["deployId"]) == "live"
    url = platform.url_of(service_id)
    patched = platform.http.patch(
        f"/v1/services/{service_id}",
        json={
            "serviceDetails": {"preDeployCommand": "/bin/sh -c 'echo migration failed >&2; exit 3'"}
        },
    )
    assert patched.status_code == 200, patched.text
    triggered = platform.http.post(f"/v1/services/{service_id}/deploys", json={})
    assert triggered.status_code == 201, triggered.text
    deploy_id = triggered.json()["id"]
    assert platform.wait_deploy(service_id, deploy_id) == "pre_deploy_failed"
    assert get_text(url) == web_v1.text
    logs = platform.http.get(f"/v1/services/{service_id}/deploys/{deploy_id}/logs").json()
    assert "migration failed" in logs["preDeployOutput"]
    first_logs = platform.http.get(
        f"/v1/services/{service_id}/deploys/{created['deployId']}/logs"
    ).json()
    assert "migrated" in first_logs["preDeployOutput"]


def test_arm64_only_image_fails_before_anything_runs(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    created = platform.create_service(
        "web_service", "arm", test_images.demo.arm64_only.ref_on(anon_registry.host)
    )
    service_id = created["service"]["id"]
    assert platform.wait_deploy(service_id, created["deployId"]) == "update_failed"
    events = platform.events(service_id)
    pull = [e for e in events if e["type"] == "image_pull_failed"]
    assert pull and "linux/arm64" in pull[0]["details"]["message"]
    assert containers_of(service_id) == [] and containers_of(service_id, "pre_deploy") == []


def test_a_failed_deploy_reaches_a_webhook_through_a_webhook_job(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    server = WebhookReceiver()
    server.start("webhook-receiver")
    received = server.received
    hook = platform.http.post(
        "/v1/webhooks",
        json={
            "ownerId": platform.owner_id,
            "name": "failures",
            "url": f"http://{server.host}/hook",  # serve takes loopback http by default
            "enabled": True,
            "eventFilter": ["deploy_ended"],
        },
    )
    assert hook.status_code == 201, hook.text
    try:
        created = platform.create_service(
            "web_service", "arm-hooked", test_images.demo.arm64_only.ref_on(anon_registry.host)
        )
        service_id = created["service"]["id"]
        assert platform.wait_deploy(service_id, created["deployId"]) == "update_failed"

        def delivered() -> bool:
            return any(r["body"]["data"]["serviceId"] == service_id for r in received)

        wait_for(delivered, 30, "the webhook delivery")
        mine = [r for r in received if r["body"]["data"]["serviceId"] == service_id]
        assert [r["body"]["type"] for r in mine] == ["deploy_ended"]
        assert "webhook-signature" in mine[0]["headers"]
        log = platform.http.get(f"/v1/webhooks/{hook.json()['id']}/events").json()
        assert any(entry["webhookEvent"]["eventType"] == "deploy_ended" for entry in log), log
    finally:
        platform.http.delete(f"/v1/webhooks/{hook.json()['id']}")
        server.stop()


def test_rollback_to_a_deleted_digest_fails_and_changes_nothing(
    platform: Platform, anon_registry: RunningRegistry, image_pusher: ImagePusher
) -> None:
    repo = f"scratch/{uuid.uuid4().hex[:10]}"
    one = image_pusher.push_docker_image(repo, "1", "one")
    image_pusher.push_docker_image(repo, "2", "two")
    created = platform.create_service("web_service", "rollback", f"{anon_registry.host}/{repo}:1")
    service_id, first = created["service"]["id"], created["deployId"]
    assert platform.wait_deploy(service_id, first) == "live"
    hooked = httpx.post(with_img(created["deployHookUrl"], f"{anon_registry.host}/{repo}:2"))
    second = hooked.json()["deploy"]["id"]
    assert platform.wait_deploy(service_id, second) == "live"
    url = platform.url_of(service_id)
    image_pusher.delete_manifest(f"{repo}@{one.digest}")
    rolled = platform.http.post(f"/v1/services/{service_id}/rollback", json={"deployId": first})
    assert platform.wait_deploy(service_id, rolled.json()["id"]) == "update_failed"
    assert "image_pull_failed" in platform.event_types(service_id)
    assert get_text(url) == "two"
    service = platform.http.get(f"/v1/services/{service_id}").json()
    assert service["liveDeploy"]["id"] == second


def test_wrong_private_credential_is_unauthorized_then_fixed_and_in_use(
    platform: Platform, basic_registry: RunningRegistry, test_images: StandardImages
) -> None:
    assert basic_registry.credentials is not None
    creds = basic_registry.credentials
    made = platform.http.post(
        "/v1/registrycredentials",
        json={
            "registry": "DOCKER",
            "name": "local",
            "username": creds.username,
            "authToken": "wrong-password",
            "ownerId": platform.owner_id,
        },
    )
    assert made.status_code == 200, made.text
    credential_id = made.json()["id"]
    created = platform.create_service(
        "web_service",
        "private",
        test_images.demo.web_v1.ref_on(basic_registry.host),
        credential_id=credential_id,
    )
    service_id = created["service"]["id"]
    assert platform.wait_deploy(service_id, created["deployId"]) == "update_failed"
    pull = [e for e in platform.events(service_id) if e["type"] == "image_pull_failed"]
    assert pull and "refused" in pull[0]["details"]["message"]

    fixed = platform.http.patch(
        f"/v1/registrycredentials/{credential_id}",
        json={
            "registry": "DOCKER",
            "name": "local",
            "username": creds.username,
            "authToken": creds.password,
        },
    )
    assert fixed.status_code == 200, fixed.text
    redeploy = platform.http.post(f"/v1/services/{service_id}/deploys", json={})
    assert platform.wait_deploy(service_id, redeploy.json()["id"]) == "live"
    assert get_text(platform.url_of(service_id)) == test_images.demo.web_v1.text

    refused = platform.http.delete(f"/v1/registrycredentials/{credential_id}")
    assert refused.status_code == 409
    assert service_id in refused.json()["message"]

    # the token is nowhere in clear: responses, serve's log, the data directory
    everything = made.text + fixed.text + platform.serve.logs()
    for path in platform.serve.data_dir.rglob("*"):
        if path.is_file():
            everything += path.read_bytes().decode("latin-1")
    assert creds.password not in everything


def test_cron_job_runs_once_at_a_time(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    service_id = platform.live_service(
        "cron_job",
        "nightly",
        test_images.demo.web_v1.ref_on(anon_registry.host),
        schedule="0 3 1 1 *",
        envSpecificDetails={"dockerCommand": "/bin/sh -c 'echo tick; sleep 5'"},
    )
    first = platform.http.post(f"/v1/cron-jobs/{service_id}/runs")
    assert first.status_code == 200, first.text
    wait_for(lambda: containers_of(service_id, "cron"), 30, "the first run's container")
    second = platform.http.post(f"/v1/cron-jobs/{service_id}/runs")  # cancels the first
    assert second.status_code == 200

    def runs() -> dict[str, str]:
        items = platform.http.get(f"/v1/cron-jobs/{service_id}/runs").json()
        return {item["cronJobRun"]["id"]: item["cronJobRun"]["status"] for item in items}

    wait_for(lambda: runs().get(second.json()["id"]) == "successful", 60, "the second run")
    assert runs()[first.json()["id"]] == "canceled"
    types = platform.event_types(service_id)
    assert types.count("cron_job_run_started") == 2 and types.count("cron_job_run_ended") == 2


def test_a_crashed_worker_is_restarted_with_an_event(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    service_id = platform.live_service(
        "background_worker",
        "crashy",
        test_images.demo.web_v1.ref_on(anon_registry.host),
        envSpecificDetails={"dockerCommand": "/bin/sh -c 'sleep 6; exit 7'"},
    )
    failed = wait_for(
        lambda: [e for e in platform.events(service_id) if e["type"] == "server_failed"],
        60,
        "a server_failed event",
    )
    assert failed[0]["details"]["reason"]["nonZeroExit"] == 7
    wait_for(lambda: "server_available" in platform.event_types(service_id), 60, "a replacement")
    assert len(containers_of(service_id)) == 1


def test_fifty_concurrent_hooks_end_with_one_live_deploy(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    created = platform.create_service(
        "background_worker",
        "busy",
        test_images.demo.web_v1.ref_on(anon_registry.host),
        envSpecificDetails={"dockerCommand": "/bin/sh -c 'sleep 600'"},
    )
    service_id = created["service"]["id"]
    assert platform.wait_deploy(service_id, created["deployId"]) == "live"
    statuses: list[int] = []
    barrier = threading.Barrier(50)

    def hook() -> None:
        barrier.wait()
        statuses.append(httpx.post(created["deployHookUrl"], timeout=30).status_code)

    threads = [threading.Thread(target=hook) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 50

    def settled() -> list[dict[str, object]] | None:
        items = [
            i["deploy"]
            for i in platform.http.get(
                f"/v1/services/{service_id}/deploys", params={"limit": 100}
            ).json()
        ]
        unfinished = [d for d in items if d["status"] not in ("live", "deactivated", "canceled")]
        return None if unfinished else items

    deploys = wait_for(settled, 180, "every deploy to finish")
    assert len(deploys) == 51  # the first deploy and all 50: no record lost
    statuses_seen = [d["status"] for d in deploys]
    assert statuses_seen.count("live") == 1
    assert set(statuses_seen) <= {"live", "deactivated", "canceled"}
    # "in order": the live deploy is the newest one that was not superseded
    assert deploys[0]["status"] == "live"
    # the replaced instance ignores SIGTERM (PID 1 shell): it goes after the shutdown delay
    wait_for(lambda: len(containers_of(service_id)) == 1, 90, "old instances to stop")


def test_a_killed_serve_resumes_its_deploy_without_duplicates(
    tmp_path: Path, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    with running_platform(tmp_path / "crash") as crashing:
        created = crashing.create_service(
            "web_service",
            "survivor",
            test_images.demo.web_v1.ref_on(anon_registry.host),
            numInstances=2,
            healthCheckPath="/",
        )
        service_id = created["service"]["id"]
        wait_for(lambda: containers_of(service_id), 60, "the rollout to start containers")
        crashing.serve.kill()
        crashing.restart()
        status = crashing.wait_deploy(service_id, created["deployId"], timeout=180)
        assert status in ("live", "update_failed")
        if status == "live":
            url = crashing.url_of(service_id)

            def served() -> str | None:
                # The deploy may have gone live before the kill; the restarted serve answers its
                # API before the resume adds the service's route, so the first tries may be refused.
                try:
                    return get_text(url)
                except httpx.ConnectError:
                    return None

            text = wait_for(served, 30, "the service to answer after the restart")
            assert text == test_images.demo.web_v1.text
        expected = 2 if status == "live" else 0
        wait_for(lambda: len(containers_of(service_id)) == expected, 90, "exactly the instances")


def test_a_private_service_is_reachable_by_name_from_other_services(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    private = platform.create_service(
        "private_service", "internal-api", test_images.demo.web_v2.ref_on(anon_registry.host)
    )
    private_id = private["service"]["id"]
    assert platform.wait_deploy(private_id, private["deployId"]) == "live"
    address = platform.http.get(f"/v1/services/{private_id}").json()["serviceDetails"]["url"]
    assert address.endswith(":10000") and "://" not in address  # host:port on the private network
    # a cron job (another service's container) fetches it by name and fails if it cannot
    probe = platform.create_service(
        "cron_job",
        "probe",
        test_images.demo.web_v1.ref_on(anon_registry.host),
        schedule="0 3 1 1 *",
        envSpecificDetails={
            "dockerCommand": f"/bin/sh -c 'wget -qO- http://{address}/ | grep -q \"demo/web 2.0\"'"
        },
    )
    probe_id = probe["service"]["id"]
    assert platform.wait_deploy(probe_id, probe["deployId"]) == "live"
    run = platform.http.post(f"/v1/cron-jobs/{probe_id}/runs").json()

    def status() -> str | None:
        items = platform.http.get(f"/v1/cron-jobs/{probe_id}/runs").json()
        found = next(i["cronJobRun"]["status"] for i in items if i["cronJobRun"]["id"] == run["id"])
        return None if found == "pending" else found

    assert wait_for(status, 60, "the probe run") == "successful"


def _cron(platform: Platform, registry: RunningRegistry, images: StandardImages) -> str:
    return platform.live_service(
        "cron_job",
        "long-run",
        images.demo.web_v1.ref_on(registry.host),
        schedule="0 3 1 1 *",
        envSpecificDetails={"dockerCommand": "/bin/sh -c 'sleep 600'"},
    )


def test_a_cron_run_canceled_at_once_never_keeps_a_container(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    service_id = _cron(platform, anon_registry, test_images)
    started = platform.http.post(f"/v1/cron-jobs/{service_id}/runs")
    assert started.status_code == 200, started.text
    canceled = platform.http.delete(f"/v1/cron-jobs/{service_id}/runs")  # before or during start
    assert canceled.status_code == 204, canceled.text
    time.sleep(8)  # long enough for a start that was in flight to have happened
    assert containers_of(service_id, "cron") == []


def test_a_cron_run_canceled_while_running_is_stopped(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    service_id = _cron(platform, anon_registry, test_images)
    assert platform.http.post(f"/v1/cron-jobs/{service_id}/runs").status_code == 200
    wait_for(lambda: containers_of(service_id, "cron"), 30, "the run's container")
    assert platform.http.delete(f"/v1/cron-jobs/{service_id}/runs").status_code == 204
    wait_for(lambda: not containers_of(service_id, "cron"), 30, "the run's container to stop")


def test_deleting_a_cron_job_stops_its_running_run(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    service_id = _cron(platform, anon_registry, test_images)
    assert platform.http.post(f"/v1/cron-jobs/{service_id}/runs").status_code == 200
    wait_for(lambda: containers_of(service_id, "cron"), 30, "the run's container")
    assert platform.http.delete(f"/v1/services/{service_id}").status_code == 204
    wait_for(lambda: not containers_of(service_id, "cron"), 30, "the run's container to stop")
