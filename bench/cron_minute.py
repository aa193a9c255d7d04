"""Benchmark: ``--jobs`` cron jobs on ``* * * * *`` (issue 13): how late after the minute each
run's container starts (serve's "container started" log record, written when the engine's start
returns), and whether any minute is missed or doubled (the runs the API lists, per job and
minute), over ``--minutes`` whole minutes.

Baseline, interleaved in the same minutes (the machine is shared: load changes from one minute
to the next): 30 s after each of those minutes, when serve's runs are over, ``--jobs`` threads
each create and start a container with the very body serve sends for a cron run
(``container_spec``), through a podman API service of the bench's own (the same podman storage
and network): what podman itself costs for that burst on this machine, timed from the half
minute.

    .venv/bin/python -m bench.cron_minute [--jobs 20] [--minutes 2]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from bench.deploy_overhead import read_log
from bench.proc import machine_note
from devkit.containers import engine_service
from devkit.serve import running_platform
from devkit.stack import registry_stack
from imagedeploy.adapters.local.engine import ContainerSpec
from imagedeploy.adapters.local.engine_api import EngineApi
from imagedeploy.adapters.local.runtime import container_spec
from imagedeploy.domain.services import PLAN_RESOURCES, Plan
from imagedeploy.ports import RunSpec


def percentiles(late: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max of ``late``."""
    late = sorted(late)
    p99 = late[min(len(late) - 1, int(0.99 * len(late)))]
    return statistics.median(late), p99, late[-1]


def podman_baseline(image: str, jobs: int, moments: list[int]) -> list[float]:
    """Seconds after each of ``moments`` (epoch seconds) at which each of ``jobs`` concurrent
    create + start requests started at that moment returned (containers removed after)."""
    spec = RunSpec(
        service_id="bench-baseline",
        deploy_id="bench",
        image=image,
        command=("/bin/sh", "-c", "exit 0"),
        env={},
        resources=PLAN_RESOURCES[Plan.STARTER],
        port=None,
        health_check_path="",
        num_instances=1,
        stop_timeout_seconds=30,
        credential=None,
    )
    late: list[float] = []
    with engine_service() as service, ThreadPoolExecutor(jobs) as pool:
        engine = EngineApi(service.socket)
        engine.list({"imagedeploy.test": "1"})  # the service's first answer is slow: not timed
        for minute in moments:
            batch = secrets.token_hex(3)
            specs = [
                container_spec(spec, "cron", installation="bench", run_id=f"base{batch}{i}")
                for i in range(jobs)
            ]
            time.sleep(max(0.0, minute - time.time()))

            def run(container: ContainerSpec, minute: int = minute) -> tuple[str, float]:
                return engine.run(container), time.time() - minute

            results = list(pool.map(run, specs))
            late.extend(at for _, at in results)
            for container_id, _ in results:
                engine.remove(container_id, force=True)
        engine.close()
    return late


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--minutes", type=int, default=2)
    args = parser.parse_args()
    note = machine_note()
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None
        image = stack.images.demo.web_v1.ref_on(stack.anonymous.host)
        with running_platform(Path(tmp) / "serve", verbosity=1) as platform:
            serve, http = platform.serve, platform.http
            jobs = [
                platform.create_service(
                    "cron_job",
                    f"minute-{i}",
                    image,
                    schedule="* * * * *",
                    envSpecificDetails={"dockerCommand": "/bin/sh -c 'exit 0'"},
                )
                for i in range(args.jobs)
            ]
            for c in jobs:
                assert platform.wait_deploy(c["service"]["id"], c["deployId"], 300) == "live"
            now = time.time()
            first = (int(now // 60) + 1) * 60  # the next whole minute
            last = first + 60 * (args.minutes - 1)
            pinned = stack.images.demo.web_v1.pinned_on(stack.anonymous.host)
            halves = [first + 60 * k + 30 for k in range(args.minutes)]
            baseline = ThreadPoolExecutor(1).submit(podman_baseline, pinned, args.jobs, halves)
            time.sleep(max(0.0, last + 30 - time.time()))  # the last minute's runs are done
            base = baseline.result()
            assert serve.log_path is not None
            late = []
            for r in read_log(serve.log_path):
                name = str(r.fields.get("container", ""))
                if r.message == "container started" and "-cron-" in name:
                    minute = int(r.at // 60) * 60
                    if first <= minute <= last:
                        late.append(r.at - minute)
            per: Counter[tuple[str, int]] = Counter()
            for c in jobs:
                service_id = c["service"]["id"]
                runs = http.get(f"/v1/cron-jobs/{service_id}/runs", params={"limit": 100}).json()
                for item in runs:
                    started = datetime.fromisoformat(item["cronJobRun"]["startedAt"])
                    minute = int(started.astimezone(UTC).timestamp() // 60) * 60
                    if first <= minute <= last:
                        per[(service_id, minute)] += 1
            expected = args.jobs * args.minutes
            missed = expected - len(per)
            doubled = sum(1 for n in per.values() if n > 1)
    p50, p99, top = percentiles(late)
    b50, b99, btop = percentiles(base)
    print(f"{args.jobs} jobs on '* * * * *', {args.minutes} minutes; {note}\n")
    print("| what | started | p50 s after the minute | p99 | max | missed | doubled |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| podman: {args.jobs} concurrent create + start at the half minute | {len(base)} "
        f"| {b50:.2f} | {b99:.2f} | {btop:.2f} | | |"
    )
    print(
        f"| serve: {args.jobs} cron jobs | {len(late)} of {expected} | {p50:.2f} | {p99:.2f} "
        f"| {top:.2f} | {missed} | {doubled} |"
    )
    print(
        f"\np99 ratio serve / podman: {p99 / b99:.2f}; serve's own part of p99: {p99 - b99:.2f} s"
    )


if __name__ == "__main__":
    main()
