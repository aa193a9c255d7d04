"""``imagedeploy logs`` against a real ``serve``: a worker's lines, found by text, as text and
JSON, from a time on, and followed with ``--tail``."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.cli import CliUser
from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import IMAGEDEPLOY, remove_containers, wait_for

pytestmark = pytest.mark.e2e

TICKER = "/bin/sh -c 'i=0; while true; do echo \"tick $i\"; i=$((i+1)); sleep 0.5; done'"


@pytest.fixture(scope="module")
def worker(
    user: CliUser, anon_registry: RunningRegistry, test_images: StandardImages
) -> Iterator[str]:
    made = user.run(
        "services", "create", "--type", "background_worker", "--name", "ticker",
        "--image", test_images.demo.web_v1.ref_on(anon_registry.host),
        "--docker-command", TICKER, "--wait",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    found = re.search(r"created (srv-\w+)", made.stdout)
    assert found, made.stdout
    yield found.group(1)
    remove_containers({found.group(1)})


def test_logs_shows_a_services_lines(user: CliUser, worker: str) -> None:
    def ticks() -> list[str]:
        out = user.ok("logs", worker, "--text", "tick", "--limit", "5")
        return out.splitlines() if len(out.splitlines()) == 5 else []

    lines = wait_for(ticks, 60, "five tick lines")
    numbers = [int(line.rsplit(" ", 1)[-1]) for line in lines]
    assert numbers == sorted(numbers)  # oldest first, like a terminal
    assert all(f"{worker}-" in line for line in lines)  # the instance column
    entries = user.json("logs", worker, "--since", "1h", "-o", "json")
    assert entries and all(e["message"].startswith("tick ") for e in entries)
    assert len(entries) >= 5
    assert {"id", "labels", "message", "timestamp"} == set(entries[0])
    refused = user.run("logs", worker, "--since", "yesterday")
    assert refused.returncode == 1 and "--since" in refused.stderr


def test_logs_tail_keeps_printing_new_lines(user: CliUser, worker: str, tmp_path: Path) -> None:
    out = tmp_path / "tail.txt"
    with out.open("w") as sink:
        tail = subprocess.Popen(
            [IMAGEDEPLOY, "logs", worker, "--tail", "--limit", "1"],
            stdout=sink,
            stderr=subprocess.PIPE,
            env=user.env(),
        )
        try:
            first = wait_for(lambda: out.read_text().splitlines(), 60, "the first line")
            start = int(first[0].rsplit(" ", 1)[-1])
            wait_for(lambda: len(out.read_text().splitlines()) >= 4, 60, "new lines")
        finally:
            tail.send_signal(signal.SIGINT)
            tail.wait(10)
    numbers = [int(line.rsplit(" ", 1)[-1]) for line in out.read_text().splitlines()]
    assert numbers[0] == start and numbers == sorted(set(numbers))  # new ones, once each
    assert tail.returncode == 0
