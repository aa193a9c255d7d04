"""Benchmark: restart of ``serve`` with ``--jobs`` cron jobs: time from starting the process to
the API answering (issue 13). Creates the cron jobs through the API (schedule ``0 3 1 1 *``, so
none runs), waits until their deploys are live, stops serve (SIGINT), starts it again on the
same data directory and polls ``GET /v1/owners`` every 10 ms until it answers 200. Also prints
serve's start-up summary line and when its start-up log records came.

``--rounds N``: restart N times. ``--baseline-tree DIR``: in every round, also restart once with
the serve code of another checkout (``DIR/functions`` first on ``PYTHONPATH``, e.g. a
``git worktree`` of ``main``) on the same data directory, alternating, so both are measured in
the same run under the same load.

    .venv/bin/python -m bench.restart_cron [--jobs 3000] [--rounds 1] [--baseline-tree DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.deploy_overhead import read_log
from bench.proc import machine_note
from devkit.serve import Platform, ServeProcess, wait_for
from devkit.stack import registry_stack


def restart(data: Path, api_key: str, tree: Path | None) -> tuple[float, list[str]]:
    """Start serve on ``data`` (the code of ``tree`` if given) and poll until the API answers;
    the seconds from the start and serve's start-up marks. Stops serve afterwards."""
    extra = (
        {"PYTHONPATH": os.pathsep.join([str(tree / "functions"), os.environ.get("PYTHONPATH", "")])}
        if tree is not None
        else None
    )
    # The polling client exists before serve starts (its TLS setup is not serve's time).
    poll = httpx.Client(headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
    started = time.perf_counter()
    wall = time.time()
    again = ServeProcess.start(data, api_key=api_key, extra_env=extra)
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
        assert again.log_path is not None
        marks = [
            f"+{r.at - wall:.2f} s {r.message[:80]}"
            for r in read_log(again.log_path)
            if r.message.startswith(("podman API", "resumed", "imagedeploy"))
        ]
    finally:
        again.stop()
    return answering, marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline-tree", type=Path)
    args = parser.parse_args()
    note = machine_note()
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None
        image = stack.images.demo.web_v1.ref_on(stack.anonymous.host)
        data = Path(tmp) / "serve"
        platform = Platform.on(ServeProcess.start(data))
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
        platform.close()
        times: dict[str, list[float]] = {"this tree": [], "baseline tree": []}
        print(f"{args.jobs} cron jobs (created in {created_s:.0f} s); {note}\n")
        for _ in range(args.rounds):
            trees = [("this tree", None)]
            if args.baseline_tree is not None:
                trees.append(("baseline tree", args.baseline_tree))
            for name, tree in trees:
                answering, marks = restart(data, platform.serve.api_key, tree)
                times[name].append(answering)
                print(f"{name}: restart → API answering {answering:.2f} s; {'; '.join(marks)}")
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for name, values in times.items():
            if values:
                listed = ", ".join(f"{v:.2f}" for v in values)
                print(f"{name}: median {statistics.median(values):.2f} s ({listed})")


if __name__ == "__main__":
    main()
