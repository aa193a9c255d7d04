"""boto3 clients, made once per cold start and only when first used (cold starts stay small)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
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

    def __call__(self, name: str) -> Any:
        with self._lock:
            if name not in self._clients:
                import boto3  # type: ignore[import-untyped]  # lazily: cold start
                from botocore.config import Config  # type: ignore[import-untyped]

                arguments: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 5}}
                arguments.update(self._configs.get(name, {}))
                config = Config(**arguments)
                self._clients[name] = boto3.client(
                    name, region_name=self._region or None, config=config
                )
            return self._clients[name]
