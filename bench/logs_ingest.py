"""Benchmark: log collection on ``serve`` — lines stored per second while 10 containers print,
and the CPU that collecting costs per 1,000 lines/s.

A real ``serve`` (podman, the local registry stack) runs three sets of ``--containers``
background workers, one set at a time (each set is suspended before the next starts):

- silent: ``sleep`` only — the baseline CPU of serve with that many followed containers;
- paced: each prints 100 lines a second (a burst of 100 ``echo``s, then ``sleep 1``);
- flood: each prints as fast as its shell can.

For each set, after its containers run: lines stored per second (``logs.sqlite``'s newest row
id, read-only, over ``--seconds``) and the CPU seconds per second of serve's process and of the
podman API service it started (``/proc/<pid>/stat``; podman reads the containers' log files and
streams them to serve, so both are the cost of collecting). The overhead per 1,000 lines/s is
(paced - silent) CPU divided by (paced lines/s / 1,000).

    .venv/bin/python -m bench.logs_ingest [--containers 10] [--seconds 20]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

from bench.proc import children, cpu_seconds, machine_note
from devkit.serve import ServeProcess, running_platform
from devkit.stack import registry_stack

SILENT = "/bin/sh -c 'sleep 100000'"
PACED = (
    "/bin/sh -c 'i=0; while true; do j=0; while [ $j -lt 100 ]; do "
    'echo "paced $i $j lorem ipsum dolor sit amet consectetur"; j=$((j+1)); done; '
    "i=$((i+1)); sleep 1; done'"
)
FLOOD = (
    "/bin/sh -c 'i=0; while true; do "
    'echo "flood $i lorem ipsum dolor sit amet consectetur"; i=$((i+1)); done\''
)


def engine_service_pid(serve_pid: int) -> int | None:
    """The ``podman system service`` serve started (its child)."""
    found = [pid for pid, cmdline in children(serve_pid) if b"system service" in cmdline]
    return found[0] if found else None


def stored(db: Path) -> int:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        row = connection.execute("SELECT max(id) FROM lines").fetchone()
        return int(row[0] or 0)


def measure(serve: ServeProcess, seconds: float) -> tuple[float, float, float]:
    """(lines stored per s, serve CPU s per s, podman service CPU s per s) over ``seconds``."""
    db = serve.data_dir / "logs.sqlite"
    engine = engine_service_pid(serve.process.pid)
    lines0, cpu0 = stored(db), cpu_seconds(serve.process.pid)
    engine0 = cpu_seconds(engine) if engine else 0.0
    started = time.monotonic()
    time.sleep(seconds)
    took = time.monotonic() - started
    lines1, cpu1 = stored(db), cpu_seconds(serve.process.pid)
    engine1 = cpu_seconds(engine) if engine else 0.0
    return (lines1 - lines0) / took, (cpu1 - cpu0) / took, (engine1 - engine0) / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--containers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    note = machine_note()
    results: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None
        image = stack.images.demo.web_v1.ref_on(stack.anonymous.host)
        with running_platform(Path(tmp) / "serve") as platform:
            serve, http = platform.serve, platform.http
            for name, command in (("silent", SILENT), ("paced", PACED), ("flood", FLOOD)):
                made = [
                    platform.create_service(
                        "background_worker",
                        f"{name}-{i}",
                        image,
                        envSpecificDetails={"dockerCommand": command},
                    )
                    for i in range(args.containers)
                ]
                for created in made:
                    status = platform.wait_deploy(created["service"]["id"], created["deployId"])
                    assert status == "live", status
                time.sleep(3)  # every follower attached, the first burst stored
                results[name] = measure(serve, args.seconds)
                for created in made:
                    http.post(f"/v1/services/{created['service']['id']}/suspend")
                time.sleep(5)
    print(f"{args.containers} containers per set, {args.seconds:.0f} s each; {note}\n")
    print("| set | lines stored/s | serve CPU (s/s) | podman service CPU (s/s) |")
    print("|---|---:|---:|---:|")
    for name, (rate, cpu, engine) in results.items():
        print(f"| {name} | {rate:,.0f} | {cpu:.3f} | {engine:.3f} |")
    silent, paced = results["silent"], results["paced"]
    per_k = paced[0] / 1000
    if per_k > 0:
        serve_cost = (paced[1] - silent[1]) / per_k
        engine_cost = (paced[2] - silent[2]) / per_k
        print(
            f"\ncollection CPU per 1,000 lines/s: serve {serve_cost * 100:.1f}% of a core, "
            f"podman service {engine_cost * 100:.1f}% of a core"
        )


if __name__ == "__main__":
    main()
