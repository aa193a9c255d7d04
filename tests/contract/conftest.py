"""The ``store_factory`` fixture the store contract (``store_contract.py``) runs against.

Every contract test runs once per entry of ``STORE_FACTORIES`` (the test id is the key). To run
the contract against another implementation, write a context manager that yields a fresh, empty
store and cleans up after itself, and add it as one line, e.g. for the DynamoDB store::

    STORE_FACTORIES = {"sqlite": sqlite_store, "dynamodb": dynamodb_store}

where ``dynamodb_store(tmp_path)`` enters ``moto.mock_aws()``, creates the table from
``template.yaml`` and yields ``DynamoStore(...)``.

``store_contract.py`` is not named ``test_*.py`` because it is a reusable suite rather than a
test of one module; ``pytest_collect_file`` below collects it all the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import pytest

from imagedeploy.adapters.local.sqlite_store import SqliteStore
from imagedeploy.ports import Store

StoreFactory = Callable[[], Store]


@contextmanager
def sqlite_store(directory: Path) -> Iterator[Store]:
    store = SqliteStore(directory / "state.db")
    try:
        yield store
    finally:
        store.close()


STORE_FACTORIES: dict[str, Callable[[Path], AbstractContextManager[Store]]] = {
    "sqlite": sqlite_store,
}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """``store_factory()`` -> a new, empty store of the implementation under test; every store
    it made is closed after the test."""
    make_store = STORE_FACTORIES[request.param]
    counter = itertools.count()
    with ExitStack() as stack:

        def make() -> Store:
            directory = tmp_path / f"store-{next(counter)}"
            directory.mkdir()
            return stack.enter_context(make_store(directory))

        yield make


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    return store_factory()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if file_path.name == "store_contract.py" and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
