"""The whole registry stack in one context manager, for code that runs outside pytest.

Benchmarks and the demo use this; tests use the fixtures in tests/conftest.py instead
(they start each piece lazily). Example::

    with registry_stack(Path(tmp)) as stack:
        ref = stack.images.demo.multi.ref_on(stack.token.host)
        with FaultProxy(stack.token.base_url) as proxy:
            ...  # count proxy.count() + stack.token_server.count
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from devkit.images import ImagePusher, StandardImages, push_standard_images
from devkit.regclient import registry_client
from devkit.registry import TEST_USER, RunningRegistry, TokenAuth, start_registry
from devkit.token_server import TokenServer


@dataclass(frozen=True)
class RegistryStack:
    anonymous: RunningRegistry
    basic: RunningRegistry
    token: RunningRegistry
    token_server: TokenServer
    images: StandardImages | None  #: None when started with ``push_images=False``


@contextmanager
def registry_stack(workdir: Path, *, push_images: bool = True) -> Iterator[RegistryStack]:
    """Start token server + three registries sharing ``workdir/storage``; stop all on exit."""
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    with ExitStack() as cleanup:
        token_server = TokenServer(workdir, users={TEST_USER.username: TEST_USER.password})
        token_server.start()
        cleanup.callback(token_server.stop)
        anonymous = start_registry("anonymous", storage, workdir)
        cleanup.callback(anonymous.stop)
        basic = start_registry("basic", storage, workdir, credentials=TEST_USER)
        cleanup.callback(basic.stop)
        auth = TokenAuth(
            token_server.realm, token_server.service, token_server.issuer, token_server.cert_path
        )
        token = start_registry("token", storage, workdir, credentials=TEST_USER, token=auth)
        cleanup.callback(token.stop)
        images = None
        if push_images:
            with registry_client(anonymous.base_url) as client:
                images = push_standard_images(ImagePusher(client))
        yield RegistryStack(anonymous, basic, token, token_server, images)
