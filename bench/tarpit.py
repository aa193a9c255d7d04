"""Benchmark: what a registry that never answers costs the rest of the API (issue 8, finding 2).

Starts a real ``imagedeploy serve`` (default settings: ``request_registry_budget_seconds`` 5) and
a tarpit on loopback (accepts connections, never answers). Measures, in the same run:

- baseline: ``GET /v1/owners`` and a deploy hook, ``--samples`` times each, nothing else running;
- under the tarpit: the same while ``--stuck`` ``POST /v1/images/verify`` requests wait on it;
- how long each stuck verify took to be answered, and with what status.

    .venv/bin/python -m bench.tarpit [--samples 50] [--stuck 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from devkit.serve import running_platform
from devkit.sockets import UNREACHABLE_IMAGE, Tarpit


def timed(samples: int, call: Callable[[], httpx.Response]) -> list[float]:
    spent = []
    for _ in range(samples):
        started = time.perf_counter()
        reply = call()
        spent.append((time.perf_counter() - started) * 1000)
        assert reply.status_code == 200, reply.text
    return spent


def summary(name: str, spent: list[float]) -> str:
    ordered = sorted(spent)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"| {name} | {len(spent)} | {p50:.1f} | {p99:.1f} | {ordered[-1]:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--stuck", type=int, default=4)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_platform(
            Path(tmp) / "serve", extra_env={"IMAGEDEPLOY_DEPLOYS_PER_MINUTE": "1000000"}
        ) as platform,
        httpx.Client(timeout=120) as hooks,
    ):
        http = platform.http
        hook_url = platform.create_service("web_service", "tarpit-bench", UNREACHABLE_IMAGE)[
            "deployHookUrl"
        ]

        def owners() -> httpx.Response:
            return http.get("/v1/owners")

        def hook() -> httpx.Response:
            return hooks.post(hook_url)

        rows = [
            summary("`GET /v1/owners`, idle", timed(args.samples, owners)),
            summary("deploy hook, idle", timed(args.samples, hook)),
        ]
        answers: list[tuple[int, float]] = []
        with Tarpit() as tarpit:

            def verify() -> None:
                started = time.perf_counter()
                reply = http.post(
                    "/v1/images/verify",
                    json={"imageUrl": f"{tarpit.host}/stuck/image:1"},
                    timeout=120,
                )
                answers.append((reply.status_code, time.perf_counter() - started))

            threads = [threading.Thread(target=verify) for _ in range(args.stuck)]
            for thread in threads:
                thread.start()
            tarpit.wait_for_connections(args.stuck)
            rows.append(summary("`GET /v1/owners`, verify stuck", timed(args.samples, owners)))
            rows.append(summary("deploy hook, verify stuck", timed(args.samples, hook)))
            for thread in threads:
                thread.join()
        print(f"serve on loopback; {args.stuck} verify requests stuck on a tarpit registry\n")
        print("| request | samples | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|")
        print("\n".join(rows))
        statuses = sorted({status for status, _ in answers})
        slowest = max(seconds for _, seconds in answers)
        print(f"\nstuck verify requests answered {statuses} after at most {slowest:.2f} s")


if __name__ == "__main__":
    main()
