"""Shared pytest fixtures (the helpers behind them are in ``devkit``).

Real-registry fixtures (see devkit/README.md) are lazy: nothing starts unless a test
asks for it, so unit tests stay fast. Expensive processes are session-scoped; per-test state
(token server knobs, proxies) is reset or torn down per test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devkit.e2e import E2ESwitchError, engine_problems, skip_requested
from devkit.world import World, open_world

if TYPE_CHECKING:
    from devkit.fault_proxy import FaultProxy
    from devkit.images import ImagePusher, StandardImages
    from devkit.registry import RunningRegistry
    from devkit.token_server import TokenServer

_REGISTRY_FIXTURES = ("anon_registry", "basic_registry", "token_registry")


@pytest.fixture(scope="session")
def registry_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Configs, logs (``<flavour>.log``), htpasswd and the token signer cert of this session."""
    return tmp_path_factory.mktemp("registries")


@pytest.fixture(scope="session")
def registry_storage(registry_workdir: Path) -> Path:
    """The one storage root shared by the three registry flavours."""
    storage = registry_workdir / "storage"
    storage.mkdir()
    return storage


@pytest.fixture(scope="session")
def anon_registry(registry_storage: Path, registry_workdir: Path) -> Iterator[RunningRegistry]:
    """Anonymous read/write registry."""
    from devkit.registry import start_registry

    registry = start_registry("anonymous", registry_storage, registry_workdir)
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def basic_registry(registry_storage: Path, registry_workdir: Path) -> Iterator[RunningRegistry]:
    """htpasswd (Basic) registry; ``credentials`` is the test user."""
    from devkit.registry import TEST_USER, start_registry

    registry = start_registry("basic", registry_storage, registry_workdir, credentials=TEST_USER)
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def token_server_session(registry_workdir: Path) -> Iterator[TokenServer]:
    """The session's token server, without per-test reset (prefer ``token_server``)."""
    from devkit.registry import TEST_USER
    from devkit.token_server import TokenServer

    server = TokenServer(registry_workdir, users={TEST_USER.username: TEST_USER.password}).start()
    yield server
    server.stop()


@pytest.fixture
def token_server(token_server_session: TokenServer) -> Iterator[TokenServer]:
    """The token server ``token_registry`` trusts, with defaults restored and its request
    record emptied before and after the test."""
    token_server_session.reset()
    yield token_server_session
    token_server_session.reset()


@pytest.fixture(scope="session")
def token_registry(
    registry_storage: Path, registry_workdir: Path, token_server_session: TokenServer
) -> Iterator[RunningRegistry]:
    """Bearer-token registry trusting ``token_server``; ``credentials`` is the test user."""
    from devkit.registry import TEST_USER, TokenAuth, start_registry

    auth = TokenAuth(
        realm=token_server_session.realm,
        service=token_server_session.service,
        issuer=token_server_session.issuer,
        rootcertbundle=token_server_session.cert_path,
    )
    registry = start_registry(
        "token", registry_storage, registry_workdir, credentials=TEST_USER, token=auth
    )
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def image_pusher(anon_registry: RunningRegistry) -> Iterator[ImagePusher]:
    """Pushes (and deletes) through the anonymous registry; visible on all three flavours."""
    from devkit.images import ImagePusher
    from devkit.regclient import registry_client

    with registry_client(anon_registry.base_url) as client:
        yield ImagePusher(client)


@pytest.fixture(scope="session")
def test_images(image_pusher: ImagePusher) -> StandardImages:
    """The standard images, pushed once per session under ``demo/`` and ``public/``.

    Never delete or overwrite these; push throwaway images with ``image_pusher`` instead.
    """
    from devkit.images import push_standard_images

    return push_standard_images(image_pusher)


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[RunningRegistry | str], FaultProxy]]:
    """Factory: ``fault_proxy(registry_or_base_url)`` -> a started proxy, stopped after the test."""
    from devkit.fault_proxy import FaultProxy

    proxies: list[FaultProxy] = []

    def make(upstream: RunningRegistry | str) -> FaultProxy:
        base_url = upstream if isinstance(upstream, str) else upstream.base_url
        proxy = FaultProxy(base_url).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The use-case world (``devkit.world``): real SQLite store, fake registry and runtime."""
    with open_world(tmp_path) as made:
        yield made


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """e2e tests skip only on ``IMAGEDEPLOY_E2E=skip`` (refused in CI; ``devkit.e2e``)."""
    try:
        skip = skip_requested(os.environ)
    except E2ESwitchError as exc:
        raise pytest.UsageError(str(exc)) from None
    if skip:
        marker = pytest.mark.skip(reason="IMAGEDEPLOY_E2E=skip")
        for item in items:
            if item.get_closest_marker("e2e"):
                item.add_marker(marker)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """An e2e test fails, naming the cause and the fix, when the engine cannot run containers
    (the doctor checks once per session), before any of its fixtures start."""
    if item.get_closest_marker("e2e") and (problems := engine_problems()):
        pytest.fail("the container engine cannot run the e2e tests:\n" + "\n".join(problems))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, name the log files of the registries the test used (paths only)."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        logs = [
            f"{name}: {funcargs[name].log_path}" for name in _REGISTRY_FIXTURES if name in funcargs
        ]
        if logs:
            report.sections.append(("registry logs", "\n".join(logs)))
    return report
