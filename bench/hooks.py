"""Benchmark: deploy hook throughput and latency on a real ``imagedeploy serve``, under a load
from a second process (``wrk``), against a baseline endpoint of the same server.

Starts the test registry stack (images built offline) and a real ``imagedeploy serve`` (a child
process, loopback only, ``IMAGEDEPLOY_DEPLOYS_PER_MINUTE=1000000`` so the per-service rate limit
does not cut the load), creates ``--services`` services, then at each concurrency level runs
``wrk`` (a separate C process; Debian package ``wrk``: ``apt-get install wrk``) with a Lua script
that rotates over the services' URLs, for ``--duration`` seconds or ``--max-requests`` requests
per wrk thread, whichever comes first, in this order:

1. ``GET /v1/owners`` with the API key: the baseline (HTTP stack, resolver, API key lookup, one
   more read — two store reads);
2. ``GET /deploy/{id}?key=wrong``: the hook's route refusing a wrong key (404, one store read);
3. ``GET /deploy/{id}?key=…``: the deploy hook (one read, one conditional write, a job queued).

After the hook run the script waits until every service's newest deploy has finished (the job
worker catches up; hooks that arrive while a deploy runs queue and supersede each other) and
reports that drain time and what became of the deploys. ``server CPU ms/req`` is the serve
process's own CPU time (user+sys, children included) during the run divided by the requests
answered: less noisy than wall time on a shared machine. Latency is wrk's (closed loop: a
connection sends its next request when the last one is answered).

Services are cron jobs by default (schedule ``0 0 1 1 *``, never due during the run): their
deploys do all of the platform's deploy work (jobs, registry preflight, state transitions) but
start no container, so the numbers are the platform's and not podman's. ``--service-type
background_worker`` uses workers instead (a shell loop that exits on SIGTERM), so every deploy
that is not superseded also starts and stops a container.

    .venv/bin/python -m bench.hooks [--services 20] [--concurrency 1,8,32] [--duration 10]
                                    [--max-requests 100000] [--service-type cron_job]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.proc import cpu_seconds, machine_note
from devkit.serve import FINISHED, Platform, ServeProcess
from devkit.stack import registry_stack

# -- wrk ----------------------------------------------------------------------------------------

_LUA = r"""
local paths = { %(paths)s }
local max_requests = %(max_requests)d
local threads = {}

function setup(thread)
  thread:set("offset", #threads * 7)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  sent = offset or 0
  answered = 0
%(headers)s
end

function request()
  sent = sent + 1
  return wrk.format("GET", paths[(sent %% #paths) + 1])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  answered = answered + 1
  if answered >= max_requests then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do merged[code] = (merged[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(merged) do table.insert(parts, string.format('"%%d": %%d', code, n)) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "p50": %%d, "p90": %%d, "p99": %%d, ' ..
    '"max": %%d, "mean": %%f, "connect": %%d, "read": %%d, "write": %%d, "timeout": %%d, ' ..
    '"statuses": {%%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.timeout,
    table.concat(parts, ", ")))
end
"""


@dataclass
class Run:
    endpoint: str
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: Counter[str]
    errors: int
    server_cpu_ms: float  # per request
    capped: bool  # stopped by the request bound: wrk's duration (and so req/s) is then too long

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(
    base_url: str,
    paths: list[str],
    *,
    endpoint: str,
    concurrency: int,
    duration: float,
    max_requests: int,
    headers: dict[str, str],
    server_pid: int,
    workdir: Path,
) -> Run:
    threads = min(2, concurrency)
    script = workdir / f"wrk-{endpoint.split()[0]}-{concurrency}-{time.monotonic_ns()}.lua"
    script.write_text(
        _LUA
        % {
            "paths": ", ".join(json.dumps(p) for p in paths),
            "max_requests": max(1, max_requests // threads),
            "headers": "\n".join(
                f"  wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()
            ),
        }
    )
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{duration:g}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        base_url,
    ]
    cpu_before = cpu_seconds(server_pid, waited_children=True)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 90)
    cpu = cpu_seconds(server_pid, waited_children=True) - cpu_before
    line = next((x for x in result.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout}\n{result.stderr}")
    data = json.loads(line.removeprefix("WRKJSON "))
    statuses = Counter({code: n for code, n in data["statuses"].items()})
    errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    answered = max(1, data["requests"])
    return Run(
        endpoint,
        concurrency,
        data["requests"],
        data["duration_us"] / 1e6,
        data["p50"] / 1000,
        data["p90"] / 1000,
        data["p99"] / 1000,
        data["max"] / 1000,
        statuses,
        errors,
        cpu * 1000 / answered,
        data["requests"] >= threads * max(1, max_requests // threads),
    )


# -- the platform side ----------------------------------------------------------------------------


@dataclass
class Drain:
    concurrency: int
    seconds: float
    server_cpu_s: float
    outcomes: Counter[str] = field(default_factory=Counter)


POLL_500S: Counter[str] = Counter()  # 500s this script's own polling got (see below)


def get_json(http: httpx.Client, path: str, params: dict[str, Any]) -> Any:
    """GET with a few retries on 5xx: the embedded API answers a share of requests with 500
    while other requests run at the same time (BENCHMARKS.md explains why); count them."""
    for _ in range(10):
        r = http.get(path, params=params)
        if r.status_code < 500:
            r.raise_for_status()
            return r.json()
        POLL_500S[path.rsplit("/", 1)[-1]] += 1
        time.sleep(0.05)
    r.raise_for_status()
    return None


def newest_finished(http: httpx.Client, service_id: str) -> bool:
    items = get_json(http, f"/v1/services/{service_id}/deploys", {"limit": 1})
    return not items or items[0]["deploy"]["status"] in FINISHED


def wait_drained(http: httpx.Client, service_ids: list[str], timeout: float) -> None:
    pending = list(service_ids)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [s for s in pending if not newest_finished(http, s)]
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"deploys of {len(pending)} services still running after {timeout}s")
        if pending:
            time.sleep(0.2)


def deploy_statuses(http: httpx.Client, service_ids: list[str]) -> Counter[str]:
    # Pages of 50: following the last cursor of a final page asks the store for skip + limit
    # items, which is refused (400) above 100 (BENCHMARKS.md), so stay at or under half of it.
    counts: Counter[str] = Counter()
    for service_id in service_ids:
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 50}
            if cursor:
                params["cursor"] = cursor
            items = get_json(http, f"/v1/services/{service_id}/deploys", params)
            counts.update(item["deploy"]["status"] for item in items)
            if len(items) < 50:
                break
            cursor = items[-1]["cursor"]
    return counts


def create_services(
    platform: Platform, image: str, count: int, service_type: str
) -> list[tuple[str, str]]:
    """``count`` services, first deploys live; returns (service id, hook path with key)."""
    created = []
    for i in range(count):
        if service_type == "cron_job":
            details: dict[str, Any] = {"schedule": "0 0 1 1 *"}  # never due during the run
        else:
            details = {
                "envSpecificDetails": {
                    "dockerCommand": "/bin/sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done'"
                },
                "maxShutdownDelaySeconds": 2,
            }
        c = platform.create_service(service_type, f"bench-{i}", image, **details)
        created.append(c)
    result = []
    for c in created:
        service_id = c["service"]["id"]
        status = platform.wait_deploy(service_id, c["deployId"], timeout=180)
        if status != "live":
            raise RuntimeError(f"first deploy of {service_id} ended {status}")
        hook = httpx.URL(c["deployHookUrl"])
        result.append((service_id, f"{hook.path}?{hook.query.decode()}"))
    return result


# -- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated levels")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument(
        "--max-requests", type=int, default=100_000, help="per wrk run (a safety bound)"
    )
    parser.add_argument(
        "--service-type", choices=("cron_job", "background_worker"), default="cron_job"
    )
    parser.add_argument("--keep-log", type=Path, help="copy serve's log (stderr) here at the end")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("this benchmark needs wrk (Debian: apt-get install wrk)")
    levels = [int(x) for x in args.concurrency.split(",")]
    note = machine_note()
    runs: list[Run] = []
    drains: list[Drain] = []
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None
        image = stack.images.demo.web_v1.ref_on(stack.anonymous.host)
        serve = ServeProcess.start(
            Path(tmp) / "serve",
            extra_env={"IMAGEDEPLOY_DEPLOYS_PER_MINUTE": "1000000"},
            verbosity=0,
        )
        platform = Platform.on(serve)
        http = platform.http
        try:
            services = create_services(platform, image, args.services, args.service_type)
            ids = [s for s, _ in services]
            hook_paths = [p for _, p in services]
            wrong_paths = [p.split("?")[0] + "?key=wrong" for p in hook_paths]
            auth = {"Authorization": f"Bearer {serve.api_key}"}
            pid = serve.process.pid
            common = {"server_pid": pid, "workdir": Path(tmp)}

            def wrk(endpoint: str, paths: list[str], c: int, headers: dict[str, str]) -> Run:
                return run_wrk(
                    serve.url,
                    paths,
                    endpoint=endpoint,
                    concurrency=c,
                    duration=args.duration,
                    max_requests=args.max_requests,
                    headers=headers,
                    **common,  # type: ignore[arg-type]
                )

            # warm-up (not reported): connections, imports, SQLite page cache
            run_wrk(
                serve.url,
                ["/v1/owners"],
                endpoint="warmup",
                concurrency=4,
                duration=2,
                max_requests=2000,
                headers=auth,
                **common,  # type: ignore[arg-type]
            )
            before = deploy_statuses(http, ids)
            for c in levels:
                runs.append(wrk("`GET /v1/owners` (baseline)", ["/v1/owners"], c, auth))
                runs.append(wrk("hook, wrong key (404)", wrong_paths, c, {}))
                runs.append(wrk("hook (deploy)", hook_paths, c, {}))
                cpu_before, started = cpu_seconds(pid, waited_children=True), time.monotonic()
                wait_drained(http, ids, timeout=900)
                seconds = time.monotonic() - started
                after = deploy_statuses(http, ids)
                drains.append(
                    Drain(
                        c,
                        seconds,
                        cpu_seconds(pid, waited_children=True) - cpu_before,
                        after - before,
                    )
                )
                before = after
        finally:
            platform.close()
            if args.keep_log and serve.log_path is not None:
                shutil.copyfile(serve.log_path, args.keep_log)

    print(
        f"`imagedeploy serve` (waitress, 8 threads) on loopback, {args.services} "
        f"{args.service_type} services, wrk {args.duration:g} s or {args.max_requests} "
        f"requests per run; {note}\n"
    )
    print(
        "| endpoint | conc. | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | statuses "
        "| socket errors | server CPU ms/req |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in runs:
        statuses = ", ".join(f"{code}x{n}" for code, n in sorted(r.statuses.items()))
        print(
            f"| {r.endpoint} | {r.concurrency} | {r.requests} "
            f"| {'>= ' if r.capped else ''}{r.rps:.0f} | {r.p50_ms:.1f} "
            f"| {r.p90_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.1f} | {statuses} | {r.errors} "
            f"| {r.server_cpu_ms:.2f} |"
        )
    print("\nafter each hook run: the job worker catching up\n")
    print(
        "| conc. | hook deploys | drain s | server CPU s while draining | went live "
        "| superseded/canceled | failed |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for d in drains:
        o = d.outcomes
        live = o["live"] + o["deactivated"]
        failed = o["update_failed"] + o["pre_deploy_failed"]
        total = sum(o.values())
        print(
            f"| {d.concurrency} | {total} | {d.seconds:.1f} | {d.server_cpu_s:.1f} | {live} "
            f"| {o['canceled']} | {failed} |"
        )
    if POLL_500S:
        print(f"\nthis script's own polling between runs got 500 {sum(POLL_500S.values())} times")


if __name__ == "__main__":
    main()
