"""The README's main command (``./dev demo``): the whole story of imagedeploy on one machine,
offline, with real containers.

1. A local registry (CNCF distribution, Bearer-token auth) with a small image in two tags,
   built offline and pushed.
2. ``imagedeploy serve`` (the embedded platform: API, deploy worker, cron scheduler, router,
   podman/docker runtime), its first API key read from its output.
3. Through the Render-compatible API: a registry credential, a web service, a background worker
   and a cron job, all from the private image.
4. The web service answering at its address; a deploy hook call with ``imgURL`` switching it to
   the other tag; a rollback to the first deploy; a cron run.
5. The event timeline. Then everything is stopped and the containers removed; with ``--keep``
   (``./dev demo --keep``), first the dashboard's URL and the key to sign in with are printed and
   everything keeps serving until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from devkit.containers import ENGINE_ENV
from devkit.serve import Platform, ServeProcess, running_platform, wait_for
from devkit.stack import registry_stack


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def show(label: str, value: Any) -> None:
    print(f"   {label}: {value if isinstance(value, str) else json.dumps(value)}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="./dev demo", description="imagedeploy on one machine, offline, with real containers"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep serving (the dashboard) until Ctrl-C"
    )
    args = parser.parse_args(argv)
    for (
        key,
        value,
    ) in ENGINE_ENV.items():  # the sandbox's podman settings, unless the user has theirs
        os.environ.setdefault(key, value)
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None and stack.token.credentials is not None
        v1, v2 = stack.images.demo.web_v1, stack.images.demo.web_v2
        host = stack.token.host
        say(f"A private registry (token auth) serves {v1.ref_on(host)} and {v2.ref_on(host)}")

        with running_platform(Path(tmp) / "imagedeploy") as platform:
            serve = platform.serve
            say(f"imagedeploy serve is up at {serve.url}")
            show("first API key (shown once)", serve.api_key[:12] + "…")
            try:
                run_story(platform, stack, v1, v2, host)
                if args.keep:
                    keep_serving(serve)
            finally:
                say("Stopping serve and removing the demo's containers")


def keep_serving(serve: ServeProcess) -> None:
    say(f"The dashboard: {serve.url}/  (Ctrl-C stops everything)")
    # the demo's own throwaway key: this data directory is deleted when the demo ends
    show("sign in with the API key", serve.api_key)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started where SIGINT is ignored
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(1):
        pass
    print(flush=True)


def run_story(platform: Platform, stack: Any, v1: Any, v2: Any, host: str) -> None:
    http = platform.http
    creds = stack.token.credentials
    credential = http.post(
        "/v1/registrycredentials",
        json={
            "registry": "DOCKER",
            "name": "local registry",
            "username": creds.username,
            "authToken": creds.password,
            "ownerId": platform.owner_id,
        },
    ).json()
    say("POST /v1/registrycredentials")
    show("credential", credential)

    web = platform.create_service(
        "web_service",
        "hello-web",
        v1.ref_on(host),
        credential_id=credential["id"],
        healthCheckPath="/",
    )
    worker = platform.create_service(
        "background_worker",
        "queue-worker",
        v1.ref_on(host),
        credential_id=credential["id"],
        envSpecificDetails={"dockerCommand": "/bin/sh -c 'while true; do sleep 60; done'"},
    )
    job = platform.create_service(
        "cron_job",
        "nightly-report",
        v1.ref_on(host),
        credential_id=credential["id"],
        schedule="0 3 * * *",
        envSpecificDetails={"dockerCommand": "/bin/sh -c 'echo report generated'"},
    )
    web_id, first = web["service"]["id"], web["deployId"]
    say("POST /v1/services x3 (web service, background worker, cron job)")
    for created in (web, worker, job):
        status = platform.wait_deploy(created["service"]["id"], created["deployId"])
        show(f"{created['service']['type']} {created['service']['name']}", status)

    url = platform.url_of(web_id)
    say(f"The web service answers at {url}")
    show("GET /", httpx.get(url).text.strip())

    hook = f"{web['deployHookUrl']}&imgURL={quote(v2.ref_on(host), safe='')}"
    say("Deploy hook with imgURL=…:2.0 (a plain GET or POST, no headers)")
    hooked = httpx.post(hook)
    show("response", hooked.json())
    show("deploy", platform.wait_deploy(web_id, hooked.json()["deploy"]["id"]))
    wait_for(lambda: httpx.get(url).text.strip() == v2.text, 30, "2.0 answering")
    show("GET /", httpx.get(url).text.strip())

    say(f"Rollback to the first deploy ({first})")
    rolled = http.post(f"/v1/services/{web_id}/rollback", json={"deployId": first}).json()
    show("deploy", platform.wait_deploy(web_id, rolled["id"]))
    wait_for(lambda: httpx.get(url).text.strip() == v1.text, 30, "1.0 answering")
    show("GET /", httpx.get(url).text.strip())

    job_id = job["service"]["id"]
    say("POST /v1/cron-jobs/{id}/runs (run the cron job now)")
    run = http.post(f"/v1/cron-jobs/{job_id}/runs").json()

    def run_status() -> str | None:
        runs = http.get(f"/v1/cron-jobs/{job_id}/runs").json()
        status = next(r["cronJobRun"]["status"] for r in runs if r["cronJobRun"]["id"] == run["id"])
        return None if status == "pending" else status

    show("run", wait_for(run_status, 60, "the cron run"))

    say("Event timeline of the web service (GET /v1/services/{id}/events)")
    for event in platform.events(web_id):
        details = {
            k: v
            for k, v in event["details"].items()
            if k in ("deployId", "deployStatus", "trigger")
        }
        show(event["timestamp"], f"{event['type']} {json.dumps(details)}")
    say("Deploys (GET /v1/services/{id}/deploys)")
    for item in http.get(f"/v1/services/{web_id}/deploys").json():
        deploy = item["deploy"]
        show(
            deploy["id"], f"{deploy['status']:<12} {deploy['trigger']:<12} {deploy['image']['ref']}"
        )


if __name__ == "__main__":
    sys.exit(main())
