"""Pre-deploy / cron output: the tail is kept within the budget, with a marker, in a 0600 file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from imagedeploy.adapters.local.output import dropped_marker, keep_tail

pytestmark = pytest.mark.unit


def test_output_within_the_budget_is_kept_whole(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    assert keep_tail([b"one\n", b"two\n"], path, 100) == 0
    assert path.read_bytes() == b"one\ntwo\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_only_the_tail_is_kept_with_a_marker(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    chunks = (f"{i:05d}\n".encode() for i in range(100_000))  # 600,000 bytes
    assert keep_tail(chunks, path, 1000) == 599_000
    text = path.read_bytes()
    assert text.startswith(dropped_marker(599_000))
    assert text.endswith(b"99999\n") and len(text) == len(dropped_marker(599_000)) + 1000


def test_a_chunk_larger_than_the_budget_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    assert keep_tail([b"a" * 50, b"b" * 30], path, 10) == 70
    assert path.read_bytes().endswith(b"b" * 10)
