"""Issue 11 (local): a live service's CPU and memory series, instance count and limits, sampled
from the engine every ``IMAGEDEPLOY_METRICS_SAMPLE_SECONDS`` (1 s here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import running_platform, wait_for

pytestmark = pytest.mark.e2e


def test_cpu_and_memory_series_of_a_live_service(
    tmp_path: Path, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    with running_platform(
        tmp_path / "serve", extra_env={"IMAGEDEPLOY_METRICS_SAMPLE_SECONDS": "1"}
    ) as platform:
        http = platform.http
        service_id = platform.live_service(
            "background_worker",
            "busy",
            test_images.demo.web_v1.ref_on(anon_registry.host),
            envSpecificDetails={"dockerCommand": "/bin/sh -c 'while :; do :; done'"},
        )
        (instance,) = http.get(f"/v1/services/{service_id}/instances").json()
        query = {"resource": service_id, "resolutionSeconds": "30"}

        def series(metric: str, **extra: str) -> list[dict[str, Any]] | None:
            reply = http.get(f"/v1/metrics/{metric}", params={**query, **extra})
            assert reply.status_code == 200, reply.text
            found: list[dict[str, Any]] = reply.json()
            return found if found and found[0]["values"] else None

        (cpu,) = wait_for(lambda: series("cpu"), 60, "a CPU sample")
        labels = {label["field"]: label["value"] for label in cpu["labels"]}
        assert labels == {"resource": service_id, "instance": instance["id"]}
        assert cpu["unit"] == "cpu" and cpu["values"][-1]["value"] > 0.05  # a busy loop
        (memory,) = wait_for(lambda: series("memory"), 30, "a memory sample")
        assert memory["unit"] == "bytes" and memory["values"][-1]["value"] > 0
        (count,) = wait_for(lambda: series("instance-count"), 30, "the instance count")
        assert count["values"][-1]["value"] == 1
        (limit,) = wait_for(lambda: series("cpu-limit"), 30, "the CPU limit")
        assert limit["values"][-1]["value"] == 0.5  # the starter plan
        (combined,) = wait_for(lambda: series("cpu", aggregationMethod="MAX"), 30, "MAX")
        assert [label["field"] for label in combined["labels"]] == ["resource"]
        assert http.get("/v1/metrics/http-requests", params=query).json() == []  # a worker
        bad = http.get("/v1/metrics/cpu", params={**query, "resolutionSeconds": "5"})
        assert bad.status_code == 400, bad.text
