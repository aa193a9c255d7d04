"""Benchmark: HTTP requests and wall time of a registry preflight, ours vs ``skopeo inspect``.

Starts the test registry stack (token-auth registry + token server, images built offline), puts a
counting proxy in front of the registry and counts token-server requests separately, then for each
image kind measures:

- ours, cold: a new RegistryClient (no cached token, challenge, manifest or config);
- ours, warm: the same client again (unchanged tag, valid token);
- ``skopeo inspect --no-tags`` (the same answer: digest, os/architecture, layer sizes) and
  ``skopeo inspect --raw`` (the manifest only, a lower bound that does not answer the question).

Request counts are exact and deterministic; times are medians over ``--rounds`` runs on a shared,
noisy machine, so compare them within one run only.

    .venv/bin/python -m bench.preflight [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from devkit import skopeo
from devkit.fault_proxy import FaultProxy
from devkit.images import PushedImage
from devkit.stack import RegistryStack, registry_stack
from imagedeploy.domain.reference import parse_reference
from imagedeploy.domain.registries import RegistryCredential, RegistryKind
from imagedeploy.registry import RegistryClient
from imagedeploy.settings import LOOPBACK_NETWORKS, Settings


@dataclass
class Row:
    image: str
    tool: str
    registry_requests: int
    token_requests: int
    median_ms: float
    p90_ms: float

    @property
    def total(self) -> int:
        return self.registry_requests + self.token_requests


def measure(
    stack: RegistryStack,
    proxy: FaultProxy,
    rounds: int,
    action: Callable[[], object],
    setup: Callable[[], None] = lambda: None,
) -> tuple[int, int, list[float]]:
    """Run ``action`` ``rounds`` times; returns the request counts of the last run (every run
    makes the same requests) and all wall times."""
    times: list[float] = []
    registry_requests = token_requests = 0
    for _ in range(rounds):
        setup()
        proxy.reset()
        tokens_before = stack.token_server.count
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
        registry_requests = proxy.count()
        token_requests = stack.token_server.count - tokens_before
    return registry_requests, token_requests, times


def row(image: str, tool: str, counts: tuple[int, int, list[float]]) -> Row:
    registry_requests, token_requests, times = counts
    times.sort()
    p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
    return Row(image, tool, registry_requests, token_requests, statistics.median(times), p90)


def bench_image(
    stack: RegistryStack, proxy: FaultProxy, name: str, image: PushedImage, rounds: int
) -> list[Row]:
    settings = Settings(registry_allowed_networks=LOOPBACK_NETWORKS)
    creds = stack.token.credentials
    assert creds is not None
    credential = RegistryCredential(RegistryKind.DOCKER, creds.username, SecretStr(creds.password))
    ref = image.ref_on(proxy.host)
    parsed = parse_reference(ref)
    holder: dict[str, RegistryClient] = {}

    def fresh_client() -> None:
        if "client" in holder:
            holder["client"].close()
        holder["client"] = RegistryClient(settings)

    def ours() -> None:
        result = holder["client"].inspect(parsed, credential)
        assert result.platform_digest == image.amd64_digest

    rows = [row(name, "imagedeploy cold", measure(stack, proxy, rounds, ours, fresh_client))]
    # warm: one client, already used once
    fresh_client()
    ours()
    rows.append(row(name, "imagedeploy warm", measure(stack, proxy, rounds, ours)))
    holder["client"].close()

    def skopeo_inspect() -> None:
        info = skopeo.skopeo(
            "inspect", "--tls-verify=false", "--no-tags", f"docker://{ref}", creds=creds
        )
        assert b'"Architecture": "amd64"' in info

    def skopeo_raw() -> None:
        skopeo.inspect_bytes(ref, raw=True, creds=creds)

    rows.append(row(name, "skopeo inspect", measure(stack, proxy, rounds, skopeo_inspect)))
    rows.append(row(name, "skopeo inspect --raw", measure(stack, proxy, rounds, skopeo_raw)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None
        demo = stack.images.demo
        cases = {
            "OCI index (amd64+arm64+attestation)": demo.multi,
            "Docker manifest list": demo.docker_list,
            "single-arch Docker v2": demo.web_v1,
            "single-arch OCI": demo.oci,
        }
        rows: list[Row] = []
        with FaultProxy(stack.token.base_url) as proxy:
            for name, image in cases.items():
                rows += bench_image(stack, proxy, name, image, args.rounds)
    print(f"token-auth registry (distribution 2.8), loopback, {args.rounds} rounds each\n")
    print("| image | tool | registry requests | token requests | total | median ms | p90 ms |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.image} | {r.tool} | {r.registry_requests} | {r.token_requests} | {r.total} "
            f"| {r.median_ms:.1f} | {r.p90_ms:.1f} |"
        )


if __name__ == "__main__":
    main()
