"""Benchmark: restart of ``serve`` with ``--jobs`` cron jobs: time from starting the process to
the API answering (issue 13). Creates the cron jobs through the API (schedule ``0 3 1 1 *``, so
none runs), waits until their deploys are live, stops serve (SIGINT), starts it again on the
same data directory and polls ``GET /v1/owners`` every 10 ms until it answers 200. Also prints
serve's start-up summary line.

    .venv/bin/python -m bench.restart_cron [--jobs 3000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.deploy_overhead import read_log
from bench.hooks import machine_note
from devkit.serve import Platform, ServeProcess, wait_for
from devkit.stack import registry_stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    args = parser.parse_args()
    note = machine_note()
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None
        image = stack.images.demo.web_v1.ref_on(stack.anonymous.host)
        data = Path(tmp) / "serve"
        serve = ServeProcess.start(data)
        http = serve.client()
        platform = Platform(serve, http, http.get("/v1/owners").json()[0]["owner"]["id"])
        created_at = time.perf_counter()

        def create(i: int) -> tuple[str, str]:
            c = platform.create_service("cron_job", f"c{i}", image, schedule="0 3 1 1 *")
            return c["service"]["id"], c["deployId"]

        with ThreadPoolExecutor(8) as pool:
            made = list(pool.map(create, range(args.jobs)))
        for service_id, deploy_id in made[-20:]:
            assert platform.wait_deploy(service_id, deploy_id, 600) == "live"
        time.sleep(5)
        created_s = time.perf_counter() - created_at
        http.close()
        serve.stop()
        # The polling client exists before serve starts (its TLS setup is not serve's time).
        poll = httpx.Client(headers={"Authorization": f"Bearer {serve.api_key}"}, timeout=30)
        started = time.perf_counter()
        wall = time.time()
        again = ServeProcess.start(data, api_key=serve.api_key)
        url_printed = time.perf_counter() - started
        try:
            with poll:
                while True:
                    try:
                        if poll.get(f"{again.url}/v1/owners").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.01)
            answering = time.perf_counter() - started
            wait_for(lambda: "serve started" in again.logs(), 60, "the resume to end")
            summary = [line for line in again.logs().splitlines() if "resumed" in line]
            marks = (
                [
                    (r.at - wall, r.message)
                    for r in read_log(again.log_path)
                    if r.message.startswith(("podman API", "resumed", "imagedeploy"))
                    or "doctor" in r.message
                ]
                if again.log_path
                else []
            )
        finally:
            again.stop()
        print(f"{args.jobs} cron jobs (created in {created_s:.0f} s); {note}\n")
        print(
            f"restart → API answering: {answering:.2f} s (its URL printed at {url_printed:.2f} s)"
        )
        print("start-up summary:", summary[-1][:300] if summary else "(none)")
        for at, message in marks:
            print(f"  +{at:.2f} s  {message[:100]}")


if __name__ == "__main__":
    main()
