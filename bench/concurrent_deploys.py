"""Benchmark: K simultaneous deploys on ``serve`` vs ``podman run -d`` + ready directly (issue 13).

Starts the test registry stack and a real ``serve`` (debug logging: every engine API request is
a log record), creates ``--services`` web services (busybox httpd, ``healthCheckPath /``) and
waits until they are live. Then, in the same run:

1. **baseline**: ``--services`` threads each run ``podman run -d`` (serve's create settings as CLI
   arguments, the pinned digest already stored, a fixed loopback port) and probe ``/`` every
   10 ms until it answers; wall time until all are ready. Containers removed afterwards.
2. **serve**: ``--services`` deploy hooks at once (``imgURL`` = the other tag); wall time until
   every deploy is ``live``, and the engine API requests serve made in that window (from its
   log), per deploy.

    .venv/bin/python -m bench.concurrent_deploys [--services 10]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.deploy_overhead import _free_port, _run_args, read_log
from bench.proc import machine_note
from devkit.containers import ENGINE_ENV
from devkit.images import DEFAULT_PORT
from devkit.serve import running_platform
from devkit.stack import registry_stack
from imagedeploy.adapters.local.engine import ContainerSpec, PortBinding
from imagedeploy.adapters.local.health import probe
from imagedeploy.adapters.local.runtime import NETWORK


def direct(image: str, count: int, workdir: Path) -> float:
    env_file = workdir / "direct.env"
    env_file.write_text(f"PORT={DEFAULT_PORT}\n")
    ids: list[str] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        port = _free_port()
        spec = ContainerSpec(
            name=f"bench-direct-{os.getpid()}-{n}",
            image=image,
            labels={"imagedeploy.bench": "direct"},
            network=NETWORK,
            publish=(PortBinding(DEFAULT_PORT, host_port=port),),
            cpus=0.5,
            memory_bytes=512 * 1024 * 1024,
        )
        result = subprocess.run(
            ["podman", *_run_args(spec, env_file)],
            capture_output=True,
            text=True,
            env={**os.environ, **ENGINE_ENV},
            check=True,
        )
        with lock:
            ids.append(result.stdout.split()[-1])
        while not probe("127.0.0.1", port, "/", 1.0):
            time.sleep(0.01)

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    subprocess.run(
        ["podman", "rm", "-f", "-t", "0", *ids],
        capture_output=True,
        env={**os.environ, **ENGINE_ENV},
        check=False,
    )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=10)
    args = parser.parse_args()
    note = machine_note()
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None
        host = stack.anonymous.host
        v1, v2 = stack.images.demo.web_v1, stack.images.demo.web_v2
        with running_platform(Path(tmp) / "serve", verbosity=2) as platform:
            serve = platform.serve
            made = [
                platform.create_service(
                    "web_service", f"k-{i}", v1.ref_on(host), healthCheckPath="/"
                )
                for i in range(args.services)
            ]
            for c in made:
                assert platform.wait_deploy(c["service"]["id"], c["deployId"], 300) == "live"
            # v2 stored once (serve's first deploy of it would pull; the baseline reuses it)
            subprocess.run(
                ["podman", "pull", "-q", "--tls-verify=false", v2.pinned_on(host)],
                env={**os.environ, **ENGINE_ENV},
                capture_output=True,
                check=True,
            )
            time.sleep(3)
            baseline = direct(v2.pinned_on(host), args.services, Path(tmp))
            time.sleep(2)
            assert serve.log_path is not None
            before = len(read_log(serve.log_path))
            ids: list[tuple[str, str]] = []
            with httpx.Client(timeout=30) as hooks:
                started = time.perf_counter()
                for c in made:
                    url = f"{c['deployHookUrl']}&imgURL={quote(v2.ref_on(host), safe='')}"
                    ids.append((c["service"]["id"], hooks.post(url).json()["deploy"]["id"]))
                for service_id, deploy_id in ids:
                    assert platform.wait_deploy(service_id, deploy_id, 300) == "live"
                serve_s = time.perf_counter() - started
            records = read_log(serve.log_path)[before:]
            requests = [r for r in records if r.message == "engine request done"]
            print(f"K = {args.services} web services, loopback registry, podman; {note}\n")
            print("| what | all live, s | ratio | engine API requests per deploy |")
            print("|---|---:|---:|---:|")
            print(
                f"| `podman run -d` + ready, {args.services} at once | {baseline:.2f} | 1.00 | n/a |"
            )
            print(
                f"| serve: {args.services} deploy hooks at once → live | {serve_s:.2f} | "
                f"{serve_s / baseline:.2f} | {len(requests) / args.services:.1f} |"
            )
            kinds: dict[str, int] = {}
            for r in requests:
                kind = re.sub(r"/[0-9a-f]{12,}", "/{id}", str(r.fields.get("engine_request")))
                kinds[kind] = kinds.get(kind, 0) + 1
            print("\nrequests in the window, by kind (path ids vary):", kinds)


if __name__ == "__main__":
    main()
