"""AWS clients, made once per cold start and only when first used (cold starts stay small).

They are botocore clients from one botocore session: the same objects ``boto3.client`` returns
(boto3 adds nothing to a client), without importing boto3, whose ``boto3.compat`` loads
``s3transfer`` (about 60 ms of a cold start) for S3 transfers this project never makes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any


class Clients:
    """boto3 clients, one per service name, made on first use (or the ones given)."""

    def __init__(
        self,
        region: str = "",
        given: Mapping[str, Any] | None = None,
        configs: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._region = region
        self._clients: dict[str, Any] = dict(given or {})
        # botocore Config arguments per service name, over the default (standard retries).
        self._configs = dict(configs or {})
        self._lock = threading.Lock()
        self._session: Any = None

    def __call__(self, name: str) -> Any:
        with self._lock:
            if name not in self._clients:
                import botocore.session  # type: ignore[import-untyped]  # lazily: cold start
                from botocore.config import Config  # type: ignore[import-untyped]

                if self._session is None:
                    self._session = botocore.session.get_session()
                arguments: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 5}}
                arguments.update(self._configs.get(name, {}))
                config = Config(**arguments)
                self._clients[name] = self._session.create_client(
                    name, region_name=self._region or None, config=config
                )
            return self._clients[name]


def lazy_client(name: str, given: Any = None, region: str | None = None) -> Callable[[], Any]:
    """``given``, or a boto3 client of ``name`` made once, on first use: an adapter built
    without a client (tests, tools) pays for boto3 only when it calls AWS."""
    if given is not None:
        return lambda: given
    made: list[Any] = []
    lock = threading.Lock()

    def client() -> Any:
        if not made:
            with lock:
                if not made:
                    import boto3  # type: ignore[import-untyped]  # lazily: cold start

                    made.append(boto3.client(name, region_name=region))
        return made[0]

    return client


def error_code(exc: Any) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" when it has none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))
