"""Fixtures for tests that run real containers through ``ContainerEngine`` (helpers in
``devkit.containers``).

- ``engine`` (session): podman (or docker) with ``devkit.containers.ENGINE_ENV``. No engine: the
  tests fail loudly (install ``podman runc``), they are not skipped.
- Every container and network a test makes carries the session's ``TEST_LABELS`` and is removed
  at the end (per test for containers, per session as a safety net).
- ``recording_engine``: the same engine whose runner records every argv and environment.
- Images come from the local test registry (``test_images`` pushed to ``anon_registry``);
  plain-HTTP loopback registries are pulled with ``insecure=True``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

from devkit.containers import (
    ENGINE_ENV,
    SESSION,
    TEST_LABELS,
    Containers,
    RecordingRunner,
    remove_session_leftovers,
)
from imagedeploy.adapters.local.engine import ContainerEngine, EngineError


@pytest.fixture(scope="session")
def test_labels() -> dict[str, str]:
    """The labels of everything this session creates."""
    return dict(TEST_LABELS)


@pytest.fixture(scope="session")
def engine() -> Iterator[ContainerEngine]:
    try:
        found = ContainerEngine(env=ENGINE_ENV)
    except EngineError as exc:
        pytest.fail(f"the e2e tests need podman (Debian: podman runc) or docker: {exc}")
    yield found
    remove_session_leftovers(found)


@pytest.fixture
def recorder() -> RecordingRunner:
    return RecordingRunner()


@pytest.fixture
def recording_engine(engine: ContainerEngine, recorder: RecordingRunner) -> ContainerEngine:
    return ContainerEngine(engine.binary, env=ENGINE_ENV, kind=engine.kind, runner=recorder)


@pytest.fixture
def containers(engine: ContainerEngine) -> Iterator[Containers]:
    made = Containers(engine)
    yield made
    made.remove_all()


@pytest.fixture
def network(engine: ContainerEngine) -> Iterator[str]:
    name = f"idtest-{SESSION}-{uuid.uuid4().hex[:6]}"
    engine.ensure_network(name, labels=TEST_LABELS)
    yield name
    with contextlib.suppress(EngineError):
        engine.remove_network(name)
