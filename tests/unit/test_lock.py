"""The lock files are what ``./dev lock`` makes from the current dependency declarations.

``requirements.lock`` (what ``./dev`` installs) and ``functions/requirements.txt`` (what ``sam
build`` installs) each record a fingerprint of their source; a dependency changed in
``pyproject.toml`` or ``functions/requirements.in`` without refreshing the lock fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from scripts.lock import (
    LAMBDA_IN,
    LAMBDA_LOCK,
    LOCK,
    PYPROJECT,
    pyproject_fingerprint,
    recorded_fingerprint,
    requirements_in_fingerprint,
)

pytestmark = pytest.mark.unit

STALE = "{source} changed since {lock} was made: run ./dev lock (and commit both files)"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==\S+")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[;\s]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pinned(lock_text: str) -> list[tuple[str, list[str]]]:
    """(name, hashes) of every requirement line of a hashed lock file (a universal lock may pin
    one name twice, under exclusive markers, e.g. one version per Python)."""
    pins: list[tuple[str, list[str]]] = []
    for line in lock_text.splitlines():
        if match := _PIN.match(line):
            pins.append((match.group(1).lower().replace("_", "-"), []))
        elif pins and (hashed := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            pins[-1][1].append(hashed.group(1))
    return pins


def names(lock_text: str) -> set[str]:
    return {name for name, _ in pinned(lock_text)}


def test_requirements_lock_is_fresh() -> None:
    recorded = recorded_fingerprint(LOCK.read_text())
    wanted = pyproject_fingerprint(PYPROJECT.read_text())
    assert recorded == wanted, STALE.format(source="pyproject.toml", lock="requirements.lock")


def test_lambda_requirements_are_fresh() -> None:
    recorded = recorded_fingerprint(LAMBDA_LOCK.read_text())
    wanted = requirements_in_fingerprint(LAMBDA_IN.read_text())
    assert recorded == wanted, STALE.format(
        source="functions/requirements.in", lock="functions/requirements.txt"
    )


@pytest.mark.parametrize("lock", [LOCK, LAMBDA_LOCK], ids=lambda p: p.name)
def test_every_requirement_is_pinned_with_hashes(lock: Path) -> None:
    text = lock.read_text()
    pins = pinned(text)
    requirement_lines = [
        line for line in text.splitlines() if line and not line.startswith((" ", "#"))
    ]
    assert len(requirement_lines) == len(pins)  # every requirement line is a == pin
    assert [name for name, hashes in pins if not hashes] == []


def test_the_lock_holds_every_declared_dependency() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    declared = {
        _name(d) for d in [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    }
    assert declared <= names(LOCK.read_text()), declared - names(LOCK.read_text())
    lines = (line.split("#", 1)[0] for line in LAMBDA_IN.read_text().splitlines())
    lambda_declared = {_name(line) for line in lines if line.strip()}
    assert lambda_declared <= names(LAMBDA_LOCK.read_text())


PYPROJECT_TEXT = """
[project]
name = "x"
requires-python = ">=3.11"
dependencies = ["httpx>=0.27", "pydantic>=2"]  # a comment
[project.optional-dependencies]
dev = ["pytest>=8"]
"""


def test_the_fingerprint_follows_dependencies_not_formatting() -> None:
    base = pyproject_fingerprint(PYPROJECT_TEXT)
    reformatted = PYPROJECT_TEXT.replace(
        '["httpx>=0.27", "pydantic>=2"]  # a comment', '[\n "pydantic>=2",\n "httpx>=0.27",\n]'
    )
    assert pyproject_fingerprint(reformatted) == base
    assert pyproject_fingerprint(PYPROJECT_TEXT.replace("pytest>=8", "pytest>=9")) != base
    assert (
        pyproject_fingerprint(PYPROJECT_TEXT.replace('"pydantic>=2"', '"pydantic>=2", "uv"'))
        != base
    )
    assert pyproject_fingerprint(PYPROJECT_TEXT.replace(">=3.11", ">=3.12")) != base
    assert requirements_in_fingerprint("a>=1  # why\n\nb\n") == requirements_in_fingerprint(
        "b\na>=1\n"
    )
    assert requirements_in_fingerprint("a>=1\n") != requirements_in_fingerprint("a>=2\n")
