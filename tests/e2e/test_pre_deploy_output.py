"""Issue 8, finding 5: 200 MB of pre-deploy output pass through ``serve`` in bounded memory; the
tail is kept (1 MiB by default) with a marker line, in a 0600 file, and read back in pages."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import Platform, running_platform

pytestmark = pytest.mark.e2e

# 64 KiB lines, 3,200 of them: 200 MiB (ash builtins only: the test image has no `yes`/`head`)
FLOOD = (
    "/bin/sh -c 'x=0123456789abcdef; for n in 1 2 3 4 5 6 7 8 9 10 11 12; do x=$x$x; done; "
    'i=0; while [ $i -lt 3200 ]; do echo "$x"; i=$((i+1)); done; echo the-end\''
)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with running_platform(tmp_path / "serve") as started:
        yield started


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    assert match is not None
    return int(match.group(1)) / 1024


def test_200_mb_of_pre_deploy_output_keeps_serve_small_and_pages(
    platform: Platform, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    created = platform.create_service(
        "background_worker",
        "flood",
        test_images.demo.web_v1.ref_on(anon_registry.host),
        preDeployCommand=FLOOD,
    )
    service_id, deploy_id = created["service"]["id"], created["deployId"]
    assert platform.wait_deploy(service_id, deploy_id, timeout=600) == "live"
    assert peak_rss_mb(platform.serve.process.pid) < 150

    kept = platform.serve.data_dir / "logs" / f"{deploy_id}.log"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    path = f"/v1/services/{service_id}/deploys/{deploy_id}/logs"
    whole = platform.http.get(path).json()
    assert whole["preDeployOutput"].startswith("[imagedeploy: ")
    assert "bytes of earlier output dropped" in whole["preDeployOutput"].splitlines()[0]
    assert whole["preDeployOutput"].endswith("the-end\n")
    size = whole["size"]
    assert 1024 * 1024 < size < 1024 * 1024 + 200 and whole["nextOffset"] is None

    pages, offset = [], 0
    while offset is not None:
        page = platform.http.get(path, params={"offset": offset, "limit": 300_000}).json()
        pages.append(page["preDeployOutput"])
        offset = page["nextOffset"]
    assert len(pages) == 4
    assert "".join(pages) == whole["preDeployOutput"]
