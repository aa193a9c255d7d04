"""Benchmark: store round trips (and registry/runtime calls) per API request and deploy hook.

In-process, no podman: the real WSGI app ``imagedeploy serve`` runs (``api.wsgi.wsgi_app`` over
``build_resolver``) on a real ``SqliteStore`` in a temporary directory, with the fakes of
``devkit/fakes.py`` for the registry, runtime, scheduler, notifier, job queue and clock. A counting
proxy around the store counts every call of a ``Store`` port method made by the request's own
thread — one call is one round trip (``write`` with several entities is one transaction, so one
round trip); the secret store is counted the same way. The fake registry and runtime record
their calls, so a request that reaches either shows it. Jobs the request enqueues are counted,
not run (the worker runs them after the answer, outside the request).

Each case runs ``--reps`` times (the service is taken back to the case's starting state between
repetitions, outside the measurement); counts must be the same every time and are reported as
``min-max`` if they are not. ``in-process µs`` is the median wall time of the WSGI call (no
socket, no HTTP parsing), for scale only.

The contended case runs ``--threads`` threads each hooking the SAME service ``--reps`` times at
once: conditional-write conflicts make a hook re-read and re-write, which shows as extra round
trips.

    .venv/bin/python -m bench.store_round_trips [--reps 50] [--threads 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from devkit.fakes import (
    FakeClock,
    FakeNotifier,
    FakeRegistry,
    FakeRuntime,
    FakeScheduler,
    FakeWebhooks,
    QueuedJobs,
    aws_webhook_targets,
)
from imagedeploy.adapters.local.secrets import EncryptedFileSecretStore
from imagedeploy.adapters.local.sqlite_store import SqliteStore
from imagedeploy.api.app import build_resolver
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.wsgi import wsgi_app
from imagedeploy.domain.accounts import ApiKey, Owner, hash_key
from imagedeploy.domain.deploy_machine import RolloutHealthy
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.registries import RegistryKind
from imagedeploy.ports import Limits, Ports, SecretStore, Store
from imagedeploy.usecases import credentials, deploys
from imagedeploy.usecases.worker import run_job

IMAGE = "registry.example.com/team/web"
SHA1, AMD1 = "sha256:" + "1" * 64, "sha256:" + "a" * 64
SHA2, AMD2 = "sha256:" + "2" * 64, "sha256:" + "b" * 64
API_KEY = "rnd_bench_key_0123456789abcdef"
BASE = "http://imagedeploy.bench"
TARGET = 2  # docs/architecture.md §16: one or two store round trips per hook / API request


def _port_methods(protocol: type) -> frozenset[str]:
    return frozenset(
        name for name, value in vars(protocol).items() if callable(value) and name[0] != "_"
    )


class Counting:
    """Wraps an adapter; records every call of a port method by the calling thread while that
    thread is recording (so concurrent requests each count their own)."""

    def __init__(self, inner: Any, methods: frozenset[str]) -> None:
        self._inner = inner
        self._methods = methods
        self._local = threading.local()

    @contextmanager
    def recording(self) -> Iterator[list[str]]:
        calls: list[str] = []
        self._local.calls = calls
        try:
            yield calls
        finally:
            self._local.calls = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._methods:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls = getattr(self._local, "calls", None)
            if calls is not None:
                calls.append(name)
            return attr(*args, **kwargs)

        return counted


@dataclass
class Reply:
    status: int
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Measured:
    reply: Reply
    store_calls: list[str]
    secret_calls: list[str]
    registry_calls: int
    runtime_calls: int
    jobs: int
    micros: float


@dataclass
class Bench:
    tmp: Path
    store: Counting
    secrets: Counting
    registry: FakeRegistry
    runtime: FakeRuntime
    jobs: QueuedJobs
    ports: Ports
    app: Callable[..., Any]
    owner_id: str
    rl_app: Callable[..., Any] = field(init=False)

    def __post_init__(self) -> None:
        # the same world with a limit of one deploy per minute, for the 429 case
        limited = dataclasses.replace(self.ports, limits=Limits(deploys_per_minute=1))
        self.rl_app = wsgi_app(build_resolver(ApiDeps(limited, BASE)))

    # -- requests -----------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: str = "",
        key: str | None = API_KEY,
        app: Callable[..., Any] | None = None,
    ) -> Measured:
        data = b"" if body is None else json.dumps(body).encode()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_USER_AGENT": "bench",
            "wsgi.input": io.BytesIO(data),
        }
        if data:
            environ["CONTENT_TYPE"] = "application/json"
            environ["CONTENT_LENGTH"] = str(len(data))
        if key is not None:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        status: list[str] = []
        registry_before, runtime_before = len(self.registry.calls), len(self.runtime.calls)
        jobs_before = len(self.jobs.queue)
        with self.store.recording() as store_calls, self.secrets.recording() as secret_calls:
            started = time.perf_counter()
            chunks = (app or self.app)(environ, lambda s, _h: status.append(s))
            micros = (time.perf_counter() - started) * 1e6
        return Measured(
            Reply(int(status[0].split()[0]), b"".join(chunks).decode()),
            store_calls,
            secret_calls,
            len(self.registry.calls) - registry_before,
            len(self.runtime.calls) - runtime_before,
            len(self.jobs.queue) - jobs_before,
            micros,
        )

    def create(self, name: str, *, credential_id: str | None = None) -> dict[str, Any]:
        image: dict[str, Any] = {"ownerId": self.owner_id, "imagePath": f"{IMAGE}:1.0"}
        if credential_id:
            image["registryCredentialId"] = credential_id
        body = {
            "type": "web_service",
            "name": name,
            "ownerId": self.owner_id,
            "image": image,
            "serviceDetails": {"runtime": "image", "healthCheckPath": "/"},
        }
        m = self.call("POST", "/v1/services", body)
        assert m.reply.status == 201, m.reply.body
        created: dict[str, Any] = m.reply.json
        return created

    # -- outside the measurement ----------------------------------------------------------------
    def drain(self, kinds: frozenset[str] | None = None) -> None:
        """Run queued jobs (and the jobs they queue); ``kinds``: only those, keep the rest."""
        kept = []
        while self.jobs.queue:
            job = self.jobs.queue.popleft()
            if kinds is None or job.kind in kinds:
                run_job(self.ports, job)
            else:
                kept.append(job)
        self.jobs.queue.extend(kept)

    def go_live(self, deploy_id: str) -> None:
        self.drain()
        deploys.handle_signal(self.ports, deploy_id, RolloutHealthy())
        self.drain()

    def settle(self, service_id: str) -> None:
        """Take every deploy of the service to an end (the runtime reports each healthy)."""
        for _ in range(20):
            self.drain()
            service = self.ports.store.get_service(service_id)
            assert service is not None
            if service.active_deploy_id is None and service.queued_deploy_id is None:
                return
            if service.active_deploy_id:
                deploys.handle_signal(self.ports, service.active_deploy_id, RolloutHealthy())
        raise AssertionError(f"service {service_id} did not settle")


def build(tmp: Path) -> Bench:
    raw_store = SqliteStore(tmp / "state.db")
    owner = Owner(new_id("tea"), "Bench", "bench@example.com")
    raw_store.write(
        put=[owner, ApiKey(new_id("rnd"), owner.id, "bench", hash_key(API_KEY), datetime.now(UTC))]
    )
    store = Counting(raw_store, _port_methods(Store))
    secrets = Counting(EncryptedFileSecretStore(tmp), _port_methods(SecretStore))
    registry = FakeRegistry()
    registry.add(f"{IMAGE}:1.0", SHA1, AMD1)
    registry.add(f"{IMAGE}:2.0", SHA2, AMD2)
    runtime, jobs = FakeRuntime(), QueuedJobs()
    ports = Ports(
        store=store,  # a transparent proxy of the Store port
        secrets=secrets,
        registry=registry,
        runtime=runtime,
        scheduler=FakeScheduler(),
        notifier=FakeNotifier(),
        webhooks=FakeWebhooks(),
        webhook_targets=aws_webhook_targets(),
        jobs=jobs,
        clock=FakeClock(),
        limits=Limits(deploys_per_minute=1_000_000),
    )
    app = wsgi_app(build_resolver(ApiDeps(ports, BASE)))
    return Bench(tmp, store, secrets, registry, runtime, jobs, ports, app, owner.id)


# -- the cases ------------------------------------------------------------------------------


@dataclass
class Row:
    request: str
    status: str
    store: str
    reads: str
    writes: str
    calls: str
    secrets: str
    registry: str
    runtime: str
    jobs: str
    micros: float


def _span(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def summarize(name: str, runs: list[Measured]) -> Row:
    statuses = Counter(m.reply.status for m in runs)
    first = Counter(runs[0].store_calls)
    calls = ", ".join(f"{n}x{c}" if c > 1 else n for n, c in first.items()) or "—"
    return Row(
        name,
        "/".join(str(s) for s in sorted(statuses)),
        _span([len(m.store_calls) for m in runs]),
        _span([sum(c != "write" for c in m.store_calls) for m in runs]),
        _span([m.store_calls.count("write") for m in runs]),
        calls,
        _span([len(m.secret_calls) for m in runs]),
        _span([m.registry_calls for m in runs]),
        _span([m.runtime_calls for m in runs]),
        _span([m.jobs for m in runs]),
        statistics.median(m.micros for m in runs),
    )


def run_cases(b: Bench, reps: int) -> list[Row]:
    rows: list[Row] = []
    cred = credentials.create_credential(
        b.ports, b.owner_id, "reg", RegistryKind.DOCKER, "deployer", SecretStr("tok-s3cr3t")
    )
    # a workspace of 20 services, live (the list page and the services the cases use)
    created = [b.create(f"web-{i}") for i in range(19)]
    created.append(b.create("web-cred", credential_id=cred.id))
    for c in created:
        b.go_live(c["deployId"])
    plain, with_cred = created[0], created[-1]
    sid, hook = plain["service"]["id"], plain["deployHookUrl"]
    cred_sid = with_cred["service"]["id"]
    query = hook.split("?", 1)[1]  # key=...
    hook_path = f"/deploy/{sid}"

    def repeat(
        name: str,
        request: Callable[[], Measured],
        *,
        expect: int,
        reset: Callable[[Measured], None],
    ) -> None:
        runs = []
        for _ in range(reps):
            m = request()
            assert m.reply.status == expect, (name, m.reply.status, m.reply.body)
            runs.append(m)
            reset(m)
        rows.append(summarize(name, runs))

    def back_to_live(m: Measured) -> None:
        body = m.reply.json
        b.go_live(body["deploy"]["id"] if "deploy" in body else body["id"])

    def nothing(_: Measured) -> None:
        pass

    repeat(
        "hook, idle service (deploy starts)",
        lambda: b.call("GET", hook_path, query=query, key=None),
        expect=200,
        reset=back_to_live,
    )
    repeat(
        "hook, `imgURL` tag override (deploy starts)",
        lambda: b.call(
            "POST", hook_path, query=f"{query}&imgURL={quote(IMAGE + ':2.0', safe='')}", key=None
        ),
        expect=200,
        reset=back_to_live,
    )
    # busy: one deploy active (not driven further), every hook queues (and supersedes the last)
    assert b.call("GET", hook_path, query=query, key=None).reply.status == 200
    repeat(
        "hook, another deploy in progress (queued)",
        lambda: b.call("POST", hook_path, query=query, key=None),
        expect=200,
        reset=lambda _m: b.drain(frozenset({"supersede"})),
    )
    b.settle(sid)
    # rate limited: one deploy per minute in this resolver's Limits, and the service's window
    # already counts the deploys above (the fake clock is still in the same minute)
    repeat(
        "hook, rate limited (429)",
        lambda: b.call("GET", hook_path, query=query, key=None, app=b.rl_app),
        expect=429,
        reset=nothing,
    )
    repeat(
        "hook, wrong key (404)",
        lambda: b.call("GET", hook_path, query="key=wrong", key=None),
        expect=404,
        reset=nothing,
    )
    repeat(
        "`POST /v1/services/{id}/deploys` (deploy starts)",
        lambda: b.call("POST", f"/v1/services/{sid}/deploys", {}),
        expect=201,
        reset=back_to_live,
    )
    repeat(
        "`POST /v1/services/{id}/deploys`, service with a credential",
        lambda: b.call("POST", f"/v1/services/{cred_sid}/deploys", {}),
        expect=201,
        reset=back_to_live,
    )
    repeat(
        "`GET /v1/services/{id}`",
        lambda: b.call("GET", f"/v1/services/{sid}"),
        expect=200,
        reset=nothing,
    )
    repeat(
        "`GET /v1/services/{id}`, service with a credential",
        lambda: b.call("GET", f"/v1/services/{cred_sid}"),
        expect=200,
        reset=nothing,
    )
    repeat(
        "`GET /v1/services` (list, 20 services, limit 20)",
        lambda: b.call("GET", "/v1/services", query="limit=20"),
        expect=200,
        reset=nothing,
    )
    live_id = b.ports.store.get_service(sid).live_deploy_id  # type: ignore[union-attr]
    repeat(
        "`GET /v1/services/{id}/deploys/{deployId}`",
        lambda: b.call("GET", f"/v1/services/{sid}/deploys/{live_id}"),
        expect=200,
        reset=nothing,
    )
    repeat(
        "`GET /v1/owners` (the HTTP benchmark's baseline)",
        lambda: b.call("GET", "/v1/owners"),
        expect=200,
        reset=nothing,
    )
    counter = iter(range(10**6))
    repeat(
        "`POST /v1/services` (create + first deploy)",
        lambda: b.call(
            "POST",
            "/v1/services",
            {
                "type": "background_worker",
                "name": f"extra-{next(counter)}",
                "ownerId": b.owner_id,
                "image": {"ownerId": b.owner_id, "imagePath": f"{IMAGE}:1.0"},
                "serviceDetails": {"runtime": "image"},
            },
        ),
        expect=201,
        reset=nothing,
    )
    return rows


@dataclass
class Contended:
    threads: int
    hooks: int
    statuses: Counter[int]
    trips: list[int]
    writes: list[int]
    registry: int
    micros: list[float]


def run_contended(b: Bench, threads: int, reps: int) -> Contended:
    """``threads`` threads hook one (busy) service ``reps`` times each, all at once."""
    c = b.create("contended")
    sid, query = c["service"]["id"], c["deployHookUrl"].split("?", 1)[1]
    b.go_live(c["deployId"])
    b.call("GET", f"/deploy/{sid}", query=query, key=None)  # busy from here on: hooks queue
    results: list[Measured] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)
    registry_before = len(b.registry.calls)

    def worker() -> None:
        mine = []
        barrier.wait()
        for _ in range(reps):
            mine.append(b.call("POST", f"/deploy/{sid}", query=query, key=None))
        with lock:
            results.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return Contended(
        threads,
        len(results),
        Counter(m.reply.status for m in results),
        [len(m.store_calls) for m in results],
        [m.store_calls.count("write") for m in results],
        len(b.registry.calls) - registry_before,
        sorted(m.micros for m in results),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=50, help="repetitions of each case")
    parser.add_argument("--threads", type=int, default=8, help="threads of the contended case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench = build(Path(tmp))
        try:
            rows = run_cases(bench, args.reps)
            contended = run_contended(bench, args.threads, args.reps)
        finally:
            bench.store._inner.close()

    print(
        f"real SqliteStore + fake registry/runtime, real WSGI app, {args.reps} repetitions per "
        f"case; target ≤ {TARGET} store round trips\n"
    )
    print(
        "| request | status | store round trips | reads | writes | store calls | secret reads "
        "| registry calls | runtime calls | jobs queued | in-process µs (median) |"
    )
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.request} | {r.status} | {r.store} | {r.reads} | {r.writes} | {r.calls} "
            f"| {r.secrets} | {r.registry} | {r.runtime} | {r.jobs} | {r.micros:.0f} |"
        )
    trips = sorted(contended.trips)
    wall = contended.micros
    over = sum(t > TARGET for t in trips)
    print(
        f"\ncontended: {contended.threads} threads x {args.reps} hooks on ONE busy service "
        f"at once ({contended.hooks} hooks)\n"
    )
    print(
        "| statuses | round trips mean | p50 | p99 | max | hooks over target | write retries "
        "| registry calls | wall ms p50 | p99 | max |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    statuses = ", ".join(f"{s}x{n}" for s, n in sorted(contended.statuses.items()))
    p99 = trips[min(len(trips) - 1, int(len(trips) * 0.99))]
    print(
        f"| {statuses} | {statistics.mean(trips):.2f} | {statistics.median(trips):g} | {p99} "
        f"| {trips[-1]} | {over} ({over / len(trips):.0%}) "
        f"| {sum(w - 1 for w in contended.writes if w > 1)} | {contended.registry} "
        f"| {statistics.median(wall) / 1000:.1f} | {wall[min(len(wall) - 1, int(len(wall) * 0.99))] / 1000:.1f} "
        f"| {wall[-1] / 1000:.1f} |"
    )


if __name__ == "__main__":
    main()
