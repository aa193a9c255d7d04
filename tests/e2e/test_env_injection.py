"""Issue 8, finding 1: a service's env vars never reach the container engine's own process.

Before the engine moved to its API, a value with a newline was put in the podman CLI's
environment: ``LD_PRELOAD=<a library inside the image's layer on the host>:\\n`` ran that
library's constructor in podman, as root, on the host. Here, with a real image whose top layer
holds such a library (proven live by loading it once on the host), a real podman and a real
``serve``: the deploy goes live, every value arrives byte-identical inside the container, and the
library never runs on the host.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from devkit.images import ImagePusher
from devkit.preload import build_marker_library, prove_it_loads
from devkit.registry import RunningRegistry
from devkit.serve import Platform, running_platform
from imagedeploy.adapters.local.engine_api import COMPAT, EngineApi

pytestmark = pytest.mark.e2e

LIBRARY = "opt/evil/marker.so"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with running_platform(tmp_path / "serve") as started:
        yield started


def test_env_values_with_newlines_never_reach_the_engine_process(
    tmp_path: Path,
    platform: Platform,
    engine: EngineApi,
    engine_socket: str,
    image_pusher: ImagePusher,
    anon_registry: RunningRegistry,
) -> None:
    marker = tmp_path / "host-marker"
    library = build_marker_library(marker, tmp_path)
    pushed = image_pusher.push_image_with_files(
        f"attack/preload-{uuid.uuid4().hex[:8]}", "1.0", "preload", {LIBRARY: library}
    )
    image = pushed.pinned_on(anon_registry.host)
    # Where the library lies on the host (an attacker predicts it from the layer's diff_id).
    engine.pull(image, insecure=True)
    with httpx.Client(transport=httpx.HTTPTransport(uds=engine_socket)) as client:
        found = client.get(f"http://engine{COMPAT}/images/{quote(image, safe='')}/json").json()
    host_library = Path(found["GraphDriver"]["Data"]["UpperDir"]) / LIBRARY
    prove_it_loads(host_library, marker)

    hostile = {
        "LD_PRELOAD": f"{host_library}:\n",
        "CONTAINERS_CONF": "/nonexistent\n",
        "DOCKER_HOST": "tcp://127.0.0.1:1\n",
        "CONTAINER_HOST": "tcp://127.0.0.1:1\r",
        "PATH": "/nonexistent\n",
        "MULTI": "a\r\nb\n\nc\r",
    }
    record = "/bin/busybox env -0 > /www/env.bin; exec /bin/busybox httpd -f -p $PORT -h /www"
    created = platform.create_service(
        "web_service",
        "preload",
        image,
        env_vars=hostile,
        envSpecificDetails={"dockerCommand": f"/bin/sh -c '{record}'"},
    )
    service_id = created["service"]["id"]
    status = platform.wait_deploy(service_id, created["deployId"])
    assert status == "live", platform.serve.logs()[-3000:]
    seen = httpx.get(f"{platform.url_of(service_id)}/env.bin", timeout=10).content.split(b"\0")
    for key, value in hostile.items():
        assert f"{key}={value}".encode() in seen, key
    assert not marker.exists(), "the library ran on the host"
