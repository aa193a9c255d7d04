"""An httpx transport that connects only to addresses the egress policy checked.

The host of every new connection is resolved once, every address checked
(``EgressPolicy.resolve``), and the socket opened to one of those very addresses: a second DNS
answer (DNS rebinding) is never asked for, so it cannot redirect the request. The URL keeps the
name, so the ``Host`` header, TLS SNI and certificate check are the name's. A refused destination
raises ``EgressRefused`` (or ``Unresolvable``) out of ``httpx.Client.send`` before any byte is
sent. Proxies from the environment are ignored: they would connect in our place.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from imagedeploy.net.egress import EgressPolicy


class _PinnedBackend(httpcore.NetworkBackend):
    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for ip in self._policy.resolve(host, port):
            try:
                return self._sockets.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # try the next checked address, like a resolver's list
        assert failure is not None  # resolve() returns at least one address
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not an egress destination")

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)


@functools.cache
def verifying_context() -> ssl.SSLContext:
    """The default certificate-verifying TLS context, built once per process and shared by
    every pinned client (thread-safe): loading the CA bundle costs tens of milliseconds each
    time, which ``serve``'s start paid per client. Every pinned connection is HTTP/1.1, so the
    ALPN list httpcore sets on it at each connect is always the same."""
    return httpx.create_ssl_context(verify=True, trust_env=False)


class PinnedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connections go through the egress policy."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        limits: httpx.Limits | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        limits = limits or httpx.Limits()
        context = verifying_context() if verify is True else verify
        super().__init__(trust_env=False, limits=limits, verify=context)
        # httpx builds its pool without a way to pass a network backend: replace it.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=context, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(policy),
        )


def pinned_client(
    policy: EgressPolicy,
    *,
    limits: httpx.Limits | None = None,
    verify: ssl.SSLContext | bool = True,
    **options: Any,
) -> httpx.Client:
    """An ``httpx.Client`` on a ``PinnedTransport``: no redirects followed (each hop must be
    checked by its caller's rules), no proxy from the environment."""
    return httpx.Client(
        transport=PinnedTransport(policy, limits=limits, verify=verify),
        follow_redirects=False,
        trust_env=False,
        **options,
    )
