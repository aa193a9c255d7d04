"""The ``store_factory`` fixture the store contract (``store_contract.py``) runs against.

Every contract test runs once per entry of ``STORE_FACTORIES`` (the test id is the key). To run
the contract against another implementation, write a context manager that yields a fresh, empty
store and cleans up after itself, and add it as one line, e.g. for the DynamoDB store::

    STORE_FACTORIES = {"sqlite": sqlite_store, "dynamodb": dynamodb_store}

where ``dynamodb_store(directory)`` enters ``moto.mock_aws()``, creates the table from
``TABLE_DEFINITION`` (which ``template.yaml`` must equal) and yields ``DynamoStore(...)``.

``store_contract.py`` is not named ``test_*.py`` because it is a reusable suite rather than a
test of one module; ``pytest_collect_file`` below collects it all the same.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

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


class OneRequestAtATime:
    """A boto3 client whose requests run one at a time.

    moto gap: moto 5.2's DynamoDB backend is not thread-safe. A request is not atomic there:
    ``transact_write_items`` deep-copies the table, applies its items one by one and, when a
    condition fails, puts the copy back, undoing every write other threads made meanwhile (the
    contract's racing read-modify-write test then loses updates); conditional puts check and
    write in two steps. Real DynamoDB applies each request atomically (transactions are
    serializable), which is exactly what a lock around each request gives back. Everything else
    (conditions, transactions, indexes) is still moto's own; threads still interleave between
    requests, so the races the contract tests (read, then conditional write) are still real.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or not callable(attribute):
            return attribute  # meta (events), exceptions, ...

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call


@contextmanager
def dynamodb_store(directory: Path) -> Iterator[Store]:
    """A ``DynamoStore`` on a fresh moto table (one table per store: stores made in one test
    share the nested ``mock_aws`` state, so each gets a table of its own)."""
    import boto3
    from moto import mock_aws

    from imagedeploy.adapters.aws.dynamodb_store import DynamoStore, create_table

    with mock_aws():
        client = OneRequestAtATime(boto3.client("dynamodb", region_name="us-east-1"))
        table_name = f"imagedeploy-{directory.name}"
        create_table(client, table_name)
        yield DynamoStore(table_name, client=client)


STORE_FACTORIES: dict[str, Callable[[Path], AbstractContextManager[Store]]] = {
    "sqlite": sqlite_store,
    "dynamodb": dynamodb_store,
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
