"""Benchmark: the idle CPU of ``imagedeploy serve`` with N live web services (issue 13).

Starts the test registry stack and a real ``serve`` (which starts its own podman API service),
creates ``--services`` web services (busybox httpd), waits until all are live, then measures the
CPU time (user + sys) of serve and of its podman API service over ``--seconds`` of doing nothing.
Baseline in the same run: the same containers' own cost is not counted on either side (conmon
and the containers are not children of serve); podman direct has no watcher at all, so its
idle cost is 0 by construction, and serve's number is the price of watching.

    .venv/bin/python -m bench.idle_cpu [--services 10] [--seconds 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.proc import children, cpu_seconds
from devkit.serve import running_platform
from devkit.stack import registry_stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None
        image = stack.images.demo.web_v1.ref_on(stack.anonymous.host)
        with running_platform(Path(tmp) / "serve") as platform:
            serve = platform.serve
            made = [
                platform.create_service("web_service", f"idle-{i}", image)
                for i in range(args.services)
            ]
            for created in made:
                status = platform.wait_deploy(created["service"]["id"], created["deployId"], 300)
                assert status == "live", status
            time.sleep(5)  # let the last rollouts' retirements finish
            pids = [serve.process.pid, *(child for child, _ in children(serve.process.pid))]
            before = {pid: cpu_seconds(pid) for pid in pids}
            time.sleep(args.seconds)
            used = {pid: cpu_seconds(pid) - before[pid] for pid in pids}
            total = sum(used.values())
            scale = 30.0 / args.seconds
            print(f"services: {args.services}, measured over {args.seconds:g} s")
            print(f"serve + its podman service CPU: {total * scale:.3f} s per 30 s")
            print(f"per service: {total * scale / args.services:.4f} s per 30 s")
            print("podman direct (no watcher): 0 s per 30 s")


if __name__ == "__main__":
    main()
