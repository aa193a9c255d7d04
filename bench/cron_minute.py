"""Benchmark: ``--jobs`` cron jobs on ``* * * * *`` (issue 13): how late after the minute each
run's container starts (serve's "container started" log record, written when the engine's start
returns), and whether any minute is missed or doubled (the runs the API lists, per job and
minute), over ``--minutes`` whole minutes.

    .venv/bin/python -m bench.cron_minute [--jobs 20] [--minutes 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench.deploy_overhead import read_log
from bench.hooks import machine_note, start_serve
from devkit.serve import Platform, remove_containers
from devkit.stack import registry_stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--minutes", type=int, default=2)
    args = parser.parse_args()
    note = machine_note()
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None
        image = stack.images.demo.web_v1.ref_on(stack.anonymous.host)
        serve = start_serve(Path(tmp) / "serve", verbosity=1)
        http = serve.client()
        platform = Platform(serve, http, http.get("/v1/owners").json()[0]["owner"]["id"])
        try:
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
            time.sleep(max(0.0, last + 30 - time.time()))  # the last minute's runs are done
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
            late.sort()
            p99 = late[min(len(late) - 1, int(0.99 * len(late)))] if late else float("nan")
            print(f"{args.jobs} jobs on '* * * * *', {args.minutes} minutes; {note}\n")
            print("| runs started | p50 s after the minute | p99 | max | missed | doubled |")
            print("|---:|---:|---:|---:|---:|---:|")
            print(
                f"| {len(late)} of {expected} | {statistics.median(late):.2f} | {p99:.2f} "
                f"| {late[-1]:.2f} | {missed} | {doubled} |"
            )
        finally:
            serve.stop()
            http.close()
            remove_containers(platform.created)


if __name__ == "__main__":
    main()
