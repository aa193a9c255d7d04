"""Benchmark: a web deploy while ``--runs`` cron runs are in flight (issue 13).

Starts the test registry stack and a real ``serve``, one web service (busybox httpd,
``healthCheckPath /``) and ``--runs`` cron jobs whose command is ``sleep 60``. Measures deploy
hook → live of the web service (alternating tags, ``--rounds`` each) on the idle serve, then again
with every cron job's run in flight (triggered through the API, all containers running). Target:
the loaded time within 1.2 times the idle one.

    .venv/bin/python -m bench.cron_load [--runs 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.proc import machine_note
from devkit.containers import ENGINE_ENV
from devkit.serve import running_platform, wait_for
from devkit.stack import registry_stack


def running_cron_containers() -> int:
    out = subprocess.run(
        ["podman", "ps", "-q", "--filter", "label=imagedeploy.role=cron"],
        capture_output=True,
        text=True,
        env={**os.environ, **ENGINE_ENV},
        check=True,
    ).stdout
    return len(out.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    note = machine_note()
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None
        host = stack.anonymous.host
        v1, v2 = stack.images.demo.web_v1, stack.images.demo.web_v2
        with running_platform(Path(tmp) / "serve", verbosity=0) as platform:
            http = platform.http
            web = platform.create_service(
                "web_service", "web", v1.ref_on(host), healthCheckPath="/"
            )
            service_id = web["service"]["id"]
            assert platform.wait_deploy(service_id, web["deployId"], 300) == "live"
            turn = [0]

            def deploy(hooks: httpx.Client) -> float:
                image = v2 if turn[0] % 2 == 0 else v1
                turn[0] += 1
                url = f"{web['deployHookUrl']}&imgURL={quote(image.ref_on(host), safe='')}"
                started = time.perf_counter()
                deploy_id = hooks.post(url).json()["deploy"]["id"]
                assert platform.wait_deploy(service_id, deploy_id, 600) == "live"
                elapsed = time.perf_counter() - started
                time.sleep(2)  # let the old instance retire
                return elapsed

            with httpx.Client(timeout=30) as hooks:
                deploy(hooks)  # both tags stored
                idle = [deploy(hooks) for _ in range(args.rounds)]
                crons = [
                    platform.create_service(
                        "cron_job",
                        f"sleepy-{i}",
                        v1.ref_on(host),
                        schedule="0 3 1 1 *",
                        envSpecificDetails={"dockerCommand": "/bin/sh -c 'sleep 60'"},
                    )
                    for i in range(args.runs)
                ]
                for c in crons:
                    assert platform.wait_deploy(c["service"]["id"], c["deployId"], 600) == "live"
                for c in crons:
                    http.post(f"/v1/cron-jobs/{c['service']['id']}/runs")
                wait_for(lambda: running_cron_containers() >= args.runs, 300, "every run")
                loaded = [deploy(hooks) for _ in range(args.rounds)]
                in_flight = running_cron_containers()
            med = statistics.median
            print(f"web deploy hook → live, {args.rounds} rounds each; {note}\n")
            print("| serve | hook → live, median s | all rounds, s | ratio |")
            print("|---|---:|---|---:|")
            print(f"| idle | {med(idle):.2f} | {', '.join(f'{x:.2f}' for x in idle)} | 1.00 |")
            print(
                f"| {args.runs} cron runs of `sleep 60` in flight ({in_flight} still running "
                f"at the end) | {med(loaded):.2f} | {', '.join(f'{x:.2f}' for x in loaded)} "
                f"| {med(loaded) / med(idle):.2f} |"
            )


if __name__ == "__main__":
    main()
