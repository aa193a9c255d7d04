"""Benchmark: the platform's overhead on a deploy — deploy hook → live, minus the container's
own start time measured directly with podman in the same run.

Starts the test registry stack (images built offline) and a real ``imagedeploy serve`` (debug
logging, so every engine command logs its duration), creates one web service (``demo/web``, a
busybox httpd on ``$PORT``, ``healthCheckPath: /``) and then, ``--rounds`` times, alternating the
tags ``2.0`` and ``1.0``:

1. **baseline** — what the container itself needs, with podman directly and the engine's own
   arguments (serve's create settings as CLI arguments, same network, port binding,
   CPU/memory limits, env file, image digest): ``podman pull`` of the pinned digest (the engine
   pulls before every start), ``podman run -d``, then a health probe every 10 ms until ``/``
   answers 2xx (the container's ready time). The container gets a fixed host port, so no
   ``podman port`` is needed, and is removed afterwards.
2. **deploy** — ``POST`` the deploy hook with ``imgURL`` (the other tag), poll the deploy until
   it is ``live``, and split the time with serve's own log records (wall clock of this machine,
   millisecond resolution):

   - *hook → preflight passed*: the request, the ``begin`` job, the registry preflight job;
   - *pull*: runtime thread picks the rollout up, ``podman pull`` + ``podman image inspect``
     (platform check);
   - *create + start*: ``podman create`` + ``podman start``;
   - *health wait*: ``podman inspect`` + ``podman port``, then health probes (every 0.5 s, each
     preceded by a ``podman inspect`` to notice an exited container);
   - *switch → live*: router switch, ``RolloutHealthy`` transition written.

   The previous version's container is retired after ``live`` (not part of hook → live); the
   script waits until it is gone before the next round.

Overhead = median over rounds of (hook → live - baseline pull + run + ready) of the same round.

    .venv/bin/python -m bench.deploy_overhead [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import socket
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bench.proc import machine_note
from devkit.containers import ENGINE_ENV
from devkit.images import DEFAULT_PORT, PushedImage
from devkit.serve import Platform, ServeProcess, wait_for
from devkit.stack import registry_stack
from imagedeploy.adapters.local.engine import PLATFORM, ContainerSpec, PortBinding
from imagedeploy.adapters.local.health import probe
from imagedeploy.adapters.local.runtime import DEPLOY, NETWORK, ROLE, SERVICE
from imagedeploy.domain.services import PLAN_RESOURCES, Plan

SHUTDOWN_DELAY = 1  # seconds: the retired container is killed quickly between rounds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _podman(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    result = subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **ENGINE_ENV},
        timeout=300,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"podman {args[0]} failed: {result.stderr[-1000:]}")
    return elapsed, result


@dataclass
class Baseline:
    pull: float
    run: float
    ready: float

    @property
    def total(self) -> float:
        return self.pull + self.run + self.ready


def _run_args(spec: ContainerSpec, env_file: Path) -> list[str]:
    """``podman run -d`` with the settings serve sends in its create request."""
    args = ["run", "-d", "--platform", PLATFORM, "--pull", "never", "--name", spec.name]
    args += ["--http-proxy=false", "--env-file", str(env_file)]
    for key, value in spec.labels.items():
        args += ["--label", f"{key}={value}"]
    if spec.network:
        args += ["--network", spec.network]
    for binding in spec.publish:
        args += ["-p", f"{binding.host_ip}:{binding.host_port}:{binding.container_port}"]
    if spec.cpus is not None:
        args += ["--cpus", f"{spec.cpus:g}"]
    if spec.memory_bytes is not None:
        args += ["--memory", str(spec.memory_bytes), "--memory-swap", str(spec.memory_bytes)]
    args += ["--stop-timeout", str(spec.stop_timeout_seconds)]
    return [*args, spec.image, *(spec.command or ())]


def baseline(service_id: str, image: str, round_no: int, workdir: Path) -> Baseline:
    """The container on its own: pull, ``podman run -d`` with serve's settings, ready."""
    resources = PLAN_RESOURCES[Plan.STARTER]
    host_port = _free_port()
    spec = ContainerSpec(
        name=f"{service_id}-baseline-{round_no}",
        image=image,
        env={
            "RENDER": "true",
            "RENDER_SERVICE_ID": service_id,
            "RENDER_SERVICE_NAME": "web",
            "RENDER_SERVICE_TYPE": "web",
            "RENDER_CPU_COUNT": f"{resources.cpu:g}",
            "RENDER_DEPLOY_ID": f"dep-baseline-{round_no}",
            "RENDER_INSTANCE_ID": f"{service_id}-base{round_no}",
            "PORT": str(DEFAULT_PORT),
        },
        # not role=instance: the runtime's own listings must never see this container
        labels={SERVICE: service_id, DEPLOY: f"dep-baseline-{round_no}", ROLE: "bench-baseline"},
        network=NETWORK,
        publish=(PortBinding(DEFAULT_PORT, host_port=host_port),),
        cpus=resources.cpu,
        memory_bytes=resources.memory_mb * 1024 * 1024,
        stop_timeout_seconds=SHUTDOWN_DELAY,
        insecure_registry=True,
    )
    auth_file = workdir / "baseline-auth.json"
    auth_file.write_text(json.dumps({"auths": {}}))  # the engine's anonymous pull does the same
    pull_s, _ = _podman(
        [
            "pull",
            "--quiet",
            "--platform",
            PLATFORM,
            "--tls-verify=false",
            "--authfile",
            str(auth_file),
            image,
        ]
    )
    env_file = workdir / f"baseline-{round_no}.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in spec.env.items()))
    run_s, result = _podman(_run_args(spec, env_file))
    container_id = result.stdout.split()[-1]
    started = time.perf_counter()
    try:
        while not probe("127.0.0.1", host_port, "/", 1.0):
            if time.perf_counter() - started > 60:
                raise RuntimeError("the baseline container never answered")
            time.sleep(0.01)
        ready_s = time.perf_counter() - started
    finally:
        subprocess.run(
            ["podman", "rm", "-f", "-t", "0", container_id],
            capture_output=True,
            env={**os.environ, **ENGINE_ENV},
            check=False,
        )
    return Baseline(pull_s, run_s, ready_s)


# -- serve's log ------------------------------------------------------------------------------------


@dataclass
class Record:
    at: float  # epoch seconds
    message: str
    fields: dict[str, Any]


def read_log(path: Path) -> list[Record]:
    records = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
            at = datetime.strptime(doc["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z").timestamp()
        except (ValueError, KeyError):
            continue
        records.append(Record(at, doc.get("message", ""), doc))
    return records


@dataclass
class DeployTimes:
    tag: str
    total: float  # hook sent -> deploy live
    request: float  # the hook request itself (client side)
    to_begin: float  # hook sent -> begin job ran
    preflight: float  # begin -> preflight passed (registry)
    pull: float
    create_start: float
    health: float
    switch: float
    engine_ms: dict[str, list[float]] = field(default_factory=dict)
    probes: int | None = None


def split_deploy(
    records: list[Record], t0: float, answered: float, deploy_id: str, service_id: str, tag: str
) -> DeployTimes:
    def first(predicate: Any, after: float) -> Record:
        for r in records:
            if r.at >= after - 0.002 and predicate(r):
                return r
        raise RuntimeError(f"deploy {deploy_id}: a log record is missing after {after}")

    def optional(predicate: Any, after: float) -> Record | None:
        # The runtime's own records changed with the engine (CLI, then its API socket): a
        # phase whose record a tree does not write is left out (nan), the totals still count.
        try:
            return first(predicate, after)
        except RuntimeError:
            return None

    def advanced(status: str) -> Any:
        return lambda r: (
            r.message == "deploy advanced"
            and r.fields.get("deploy_id") == deploy_id
            and r.fields.get("status") == status
        )

    begin = first(advanced("created"), t0)
    preflight = first(advanced("update_in_progress"), begin.at)
    pulled = optional(lambda r: r.message == "image pulled", preflight.at)
    started = optional(
        lambda r: (
            r.message == "container started"
            and str(r.fields.get("container", "")).startswith(service_id)
        ),
        (pulled or preflight).at,
    )
    switched = optional(
        lambda r: r.message == "backends set" and r.fields.get("service_id") == service_id,
        (started or pulled or preflight).at,
    )
    live = first(advanced("live"), (switched or preflight).at)
    engine_ms: dict[str, list[float]] = defaultdict(list)
    probes = None
    for r in records:
        if preflight.at - 0.002 <= r.at <= live.at + 0.002:
            if r.message == "engine command done":
                engine_ms[str(r.fields.get("engine_command"))].append(
                    float(r.fields.get("duration_ms", 0))
                )
            elif r.message == "healthy":
                probes = int(r.fields.get("attempts", 0))
    return DeployTimes(
        tag,
        live.at - t0,
        answered - t0,
        begin.at - t0,
        preflight.at - begin.at,
        _between(preflight, pulled),
        _between(pulled, started),
        _between(started, switched),
        _between(switched, live),
        dict(engine_ms),
        probes,
    )


def _between(start: Record | None, end: Record | None) -> float:
    return end.at - start.at if start is not None and end is not None else math.nan


def instance_containers(service_id: str) -> list[str]:
    """Every instance container of the service, running or not (``podman ps -a``)."""
    result = subprocess.run(
        [
            "podman",
            "ps",
            "-aq",
            "--filter",
            f"label={SERVICE}={service_id}",
            "--filter",
            f"label={ROLE}=instance",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **ENGINE_ENV},
        check=False,
    )
    return result.stdout.split()


def deploy_once(
    platform: Platform,
    hooks: httpx.Client,
    hook_url: str,
    service_id: str,
    image: PushedImage,
    host: str,
    log: Path,
) -> DeployTimes:
    url = f"{hook_url}&imgURL={quote(image.ref_on(host), safe='')}"
    t0 = time.time()
    r = hooks.post(url)  # a client made beforehand: its setup is not the platform's time
    answered = time.time()
    r.raise_for_status()
    deploy_id = r.json()["deploy"]["id"]

    def finished() -> str | None:
        status = platform.deploy(service_id, deploy_id)["status"]
        return status if status in ("live", "update_failed", "canceled") else None

    deadline = time.monotonic() + 180
    status = None
    while status is None and time.monotonic() < deadline:
        status = finished()
        if status is None:
            time.sleep(0.05)
    if status != "live":
        raise RuntimeError(
            f"deploy {deploy_id} ended {status}: {platform.deploy(service_id, deploy_id)}"
        )
    # the previous version is retired after live: wait until it is stopped AND removed, so its
    # podman commands do not overlap the next round (not measured)
    wait_for(lambda: len(instance_containers(service_id)) == 1, 60, "the old instance to go")
    time.sleep(0.5)  # let the last log lines land
    return split_deploy(read_log(log), t0, answered, deploy_id, service_id, image.tag)


# -- main -------------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    note = machine_note()
    deploys: list[DeployTimes] = []
    baselines: list[Baseline] = []
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None
        host = stack.anonymous.host
        v1, v2 = stack.images.demo.web_v1, stack.images.demo.web_v2
        serve = ServeProcess.start(Path(tmp) / "serve", verbosity=2)
        platform = Platform.on(serve)
        try:
            c = platform.create_service(
                "web_service",
                "web",
                v1.ref_on(host),
                healthCheckPath="/",
                maxShutdownDelaySeconds=SHUTDOWN_DELAY,
            )
            service_id, hook_url = c["service"]["id"], c["deployHookUrl"]
            assert platform.wait_deploy(service_id, c["deployId"], timeout=180) == "live"
            assert serve.log_path is not None
            with httpx.Client(timeout=30) as hooks:
                hooks.get(serve.url + "/v1/owners")  # open the connection (401, no matter)
                for i in range(args.rounds):
                    image = v2 if i % 2 == 0 else v1
                    pinned = image.pinned_on(host)
                    baselines.append(baseline(service_id, pinned, i, Path(tmp)))
                    deploys.append(
                        deploy_once(
                            platform, hooks, hook_url, service_id, image, host, serve.log_path
                        )
                    )
        finally:
            platform.close()
            with contextlib.suppress(Exception):
                if serve.process.returncode not in (0, None):
                    print(serve.logs()[-2000:])

    med = statistics.median
    overhead = [d.total - b.total for d, b in zip(deploys, baselines, strict=True)]
    print(
        f"one web service (busybox httpd, healthCheckPath /), loopback registry, podman; "
        f"{args.rounds} deploys alternating tags 2.0/1.0; {note}\n"
    )
    print("per round, ms:\n")
    print(
        "| round | tag | baseline pull | baseline run -d | baseline ready | baseline total "
        "| hook → live | overhead |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for i, (d, b, o) in enumerate(zip(deploys, baselines, overhead, strict=True)):
        print(
            f"| {i + 1} | {d.tag} | {_ms(b.pull)} | {_ms(b.run)} | {_ms(b.ready)} | {_ms(b.total)} "
            f"| {_ms(d.total)} | {_ms(o)} |"
        )
    print("\nmedians, ms:\n")
    print("| phase of hook → live | median ms | baseline (podman directly) | median ms |")
    print("|---|---:|---|---:|")
    rows = [
        ("hook request (answered)", med(d.request for d in deploys), "", None),
        ("hook sent → `begin` job ran", med(d.to_begin for d in deploys), "", None),
        ("begin → preflight passed (registry)", med(d.preflight for d in deploys), "", None),
        (
            "pull (runtime pickup, `pull`, `image inspect`)",
            med(d.pull for d in deploys),
            "`podman pull`",
            med(b.pull for b in baselines),
        ),
        (
            "create + start (`create`, `start`)",
            med(d.create_start for d in deploys),
            "`podman run -d`",
            med(b.run for b in baselines),
        ),
        (
            "health wait (`inspect`, `port`, probes)",
            med(d.health for d in deploys),
            "ready (probe every 10 ms)",
            med(b.ready for b in baselines),
        ),
        ("switch → live written", med(d.switch for d in deploys), "", None),
        (
            "**hook → live**",
            med(d.total for d in deploys),
            "**pull + run + ready**",
            med(b.total for b in baselines),
        ),
    ]
    for name, value, base_name, base in rows:
        print(f"| {name} | {_ms(value)} | {base_name} | {'' if base is None else _ms(base)} |")
    print(
        f"\n**overhead = hook → live - (pull + run + ready)**: median {_ms(med(overhead))} ms "
        f"(min {_ms(min(overhead))}, max {_ms(max(overhead))}); without the pull in the baseline "
        f"(container start only): median "
        f"{_ms(med(d.total - b.run - b.ready for d, b in zip(deploys, baselines, strict=True)))} ms"
    )
    commands: dict[str, list[float]] = defaultdict(list)
    for d in deploys:
        for name, values in d.engine_ms.items():
            commands[name].append(sum(values) / 1000)
    counts = {name: med(len(d.engine_ms.get(name, [])) for d in deploys) for name in commands}
    print("\nengine commands during a rollout (preflight passed → live), per deploy, median:\n")
    print("| podman command | calls | total ms |")
    print("|---|---:|---:|")
    for name in sorted(commands, key=lambda n: -med(commands[n])):
        print(f"| `{name}` | {counts[name]:g} | {_ms(med(commands[name]))} |")
    probes = [d.probes for d in deploys if d.probes is not None]
    if probes:
        print(f"\nhealth probes until healthy (0.5 s apart): median {med(probes):g}")


if __name__ == "__main__":
    main()
