"""Fixtures for tests that run real containers through ``EngineApi`` (helpers in
``devkit.containers``).

- ``engine_socket`` (session): a podman API service of this session (``devkit.containers.
  engine_service``, with ``ENGINE_ENV``). No engine: the tests fail loudly (install
  ``podman runc``), they are not skipped.
- ``engine`` (session): ``EngineApi`` on that socket.
- Every container and network a test makes carries the session's ``TEST_LABELS`` and is removed
  at the end (per test for containers, per session as a safety net).
- ``recording_engine``: an ``EngineApi`` whose transport records every request.
- ``serve`` (module): a real ``imagedeploy serve`` (``devkit.serve.running_serve``), and
  ``user`` (module): a ``CliUser`` logged in to it, for the modules that drive it as a user
  does (the CLI); modules that drive it through the API use
  ``devkit.serve.running_platform`` in a fixture of their own (with their settings).
- Images come from the local test registry (``test_images`` pushed to ``anon_registry``);
  plain-HTTP loopback registries are pulled with ``insecure=True``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

from devkit.cli import CliUser
from devkit.containers import (
    SESSION,
    TEST_LABELS,
    Containers,
    RecordingTransport,
    engine_service,
    remove_session_leftovers,
)
from devkit.serve import ServeProcess, running_serve
from imagedeploy.adapters.local.engine import EngineError
from imagedeploy.adapters.local.engine_api import EngineApi


@pytest.fixture(scope="session")
def test_labels() -> dict[str, str]:
    """The labels of everything this session creates."""
    return dict(TEST_LABELS)


@pytest.fixture(scope="session")
def engine_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with engine_service(tmp_path_factory.mktemp("engine")) as service:
            yield service.socket
    except EngineError as exc:
        pytest.fail(f"the e2e tests need podman (Debian: podman runc) or docker: {exc}")


@pytest.fixture(scope="session")
def engine(engine_socket: str) -> Iterator[EngineApi]:
    found = EngineApi(engine_socket)
    yield found
    remove_session_leftovers(found)
    found.close()


@pytest.fixture
def recorder(engine_socket: str) -> RecordingTransport:
    return RecordingTransport(engine_socket)


@pytest.fixture
def recording_engine(engine: EngineApi, recorder: RecordingTransport) -> Iterator[EngineApi]:
    recording = EngineApi(kind=engine.kind, transport=recorder)
    yield recording
    recording.close()


@pytest.fixture
def containers(engine: EngineApi) -> Iterator[Containers]:
    made = Containers(engine)
    yield made
    made.remove_all()


@pytest.fixture
def network(engine: EngineApi) -> Iterator[str]:
    name = f"idtest-{SESSION}-{uuid.uuid4().hex[:6]}"
    engine.ensure_network(name, labels=TEST_LABELS)
    yield name
    with contextlib.suppress(EngineError):
        engine.remove_network(name)


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with running_serve(tmp_path_factory.mktemp("serve")) as started:
        yield started


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, serve: ServeProcess) -> CliUser:
    """A user of the ``imagedeploy`` CLI logged in to ``serve`` (the key is never echoed)."""
    cli = CliUser(tmp_path_factory.mktemp("home"))
    out = cli.ok("login", "--url", serve.url, stdin=serve.api_key + "\n")
    assert serve.api_key not in out
    return cli
