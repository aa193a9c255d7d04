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
from devkit.serve import ServeProcess, remove_containers, wait_for
from imagedeploy.adapters.local.engine_api import COMPAT, EngineApi

pytestmark = pytest.mark.e2e

LIBRARY = "opt/evil/marker.so"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess.start(tmp_path / "serve")
    try:
        yield process
    finally:
        process.stop()


def test_env_values_with_newlines_never_reach_the_engine_process(
    tmp_path: Path,
    serve: ServeProcess,
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
    http = serve.client()
    owner_id = http.get("/v1/owners").json()[0]["owner"]["id"]
    created = http.post(
        "/v1/services",
        json={
            "type": "web_service",
            "name": "preload",
            "ownerId": owner_id,
            "image": {"ownerId": owner_id, "imagePath": image},
            "envVars": [{"key": k, "value": v} for k, v in hostile.items()],
            "serviceDetails": {
                "runtime": "image",
                "envSpecificDetails": {"dockerCommand": f"/bin/sh -c '{record}'"},
            },
        },
    )
    assert created.status_code == 201, created.text
    service_id, deploy_id = created.json()["service"]["id"], created.json()["deployId"]
    try:

        def finished() -> str | None:
            status = str(
                http.get(f"/v1/services/{service_id}/deploys/{deploy_id}").json()["status"]
            )
            return status if status in {"live", "update_failed", "canceled"} else None

        assert wait_for(finished, 120, "the deploy") == "live", serve.logs()[-3000:]
        url = http.get(f"/v1/services/{service_id}").json()["serviceDetails"]["url"]
        seen = httpx.get(f"{url}/env.bin", timeout=10).content.split(b"\0")
        for key, value in hostile.items():
            assert f"{key}={value}".encode() in seen, key
        assert not marker.exists(), "the library ran on the host"
    finally:
        http.close()
        remove_containers({service_id})
