"""The router of web services on one machine: a stable local address per service that forwards
each TCP connection to one of the service's current backends (docs/architecture.md §6.2).

- ``add_route(service_id, listen_port)`` listens on ``host:listen_port`` (``127.0.0.1`` by
  default; port 0 picks one, and the caller stores it so the address stays stable).
- ``set_backends(service_id, backends)`` switches atomically: new connections go to the new
  backends, connections already open carry on with the old ones. Backends are picked
  round-robin per connection; a backend that refuses is skipped for the next one.
- ``drain(service_id, old_backends, timeout)`` waits until no connection to those backends
  remains, so the deploy stops old containers only then (zero downtime).
- With no backend (suspended, not deployed yet) a connection gets ``HTTP 503`` with a short
  body instead of a reset; when every backend refuses, ``502``.

It proxies TCP, not HTTP: WebSockets, HTTP/2 and long polls pass through untouched. With an
``on_request`` callback it also watches HTTP/1.x heads (``http_observer``) and reports each
request it saw, ``on_request(service_id, observed)``, on the loop thread (keep it cheap). A backend is
*reserved* (counted) before the connection to it is made, so ``drain`` cannot miss a connection
that is still being opened.

Implementation: asyncio on one background thread with its own event loop. One thread handles
thousands of idle or slow connections (a thread per connection would not), and the synchronous
callers (deploy worker, API) never block on the proxy. Shared state (routes, backends, counts)
lives under one ``threading.Condition``; the loop only holds it for a few instructions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, NamedTuple, TypeVar

from imagedeploy.adapters.local.http_observer import HttpObserver, ObservedRequest
from imagedeploy.domain.errors import ImagedeployError

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_CHUNK = 65536
_CONTROL_TIMEOUT = 10.0


class Backend(NamedTuple):
    """``host:port`` of one healthy instance (a container's published port)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class RouterError(ImagedeployError):
    """The router could not do what was asked (port taken, unknown service, not started)."""

    code = "router_error"


class _Route:
    """One service's listener and state. Fields other than ``tasks`` are guarded by the
    router's condition; ``tasks`` is touched on the loop thread only."""

    def __init__(self, service_id: str) -> None:
        self.service_id = service_id
        self.port = 0
        self.server: asyncio.Server | None = None
        self.backends: tuple[Backend, ...] = ()
        self.instances: dict[Backend, str] = {}  # the instance id behind each backend
        self.turn = 0
        self.active: Counter[Backend] = Counter()
        self.closed = False
        self.tasks: set[asyncio.Task[Any]] = set()


def _http_response(status: int, reason: str, body: str) -> bytes:
    payload = body.encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + payload


NO_BACKEND = _http_response(
    503, "Service Unavailable", "503: this service has no running instance right now.\n"
)
BAD_GATEWAY = _http_response(502, "Bad Gateway", "502: no instance of this service answered.\n")


async def _pipe(
    source: asyncio.StreamReader,
    sink: asyncio.StreamWriter,
    observe: Callable[[bytes], None] | None = None,
) -> None:
    """Copy until EOF (then half-close ``sink``) or a connection error; ``observe`` sees a
    copy of each chunk (after it is written: observing never delays forwarding)."""
    with contextlib.suppress(ConnectionError, OSError):
        while data := await source.read(_CHUNK):
            sink.write(data)
            if observe is not None:
                observe(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()


class Router:
    """TCP router for web services. ``start()`` before use, ``stop()`` at the end (or use it as
    a context manager). All methods are thread-safe."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        connect_timeout: float = 5.0,
        error_read_timeout: float = 2.0,
        on_request: Callable[[str, ObservedRequest], None] | None = None,
    ) -> None:
        self.host = host
        self._on_request = on_request
        self._connect_timeout = connect_timeout
        self._error_read_timeout = error_read_timeout
        self._routes: dict[str, _Route] = {}
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Router:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._loop = loop
        self._thread = threading.Thread(
            target=self._run_loop, args=(loop, ready), name="imagedeploy-router", daemon=True
        )
        self._thread.start()
        ready.wait()
        return self

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        """Close every route and its connections, then stop the loop thread."""
        if self._loop is None or self._thread is None:
            return
        for service_id in list(self._routes):
            self.remove_route(service_id)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=_CONTROL_TIMEOUT)
        self._loop = None
        self._thread = None

    def __enter__(self) -> Router:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        if self._loop is None:
            coro.close()
            raise RouterError("the router is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_CONTROL_TIMEOUT)

    # --- routes -------------------------------------------------------------------------------

    def add_route(self, service_id: str, listen_port: int = 0) -> int:
        """Listen for ``service_id`` on ``listen_port`` (0: any free port); return the port."""
        route = _Route(service_id)
        with self._cond:
            if service_id in self._routes:
                raise RouterError(f"service {service_id} already has a route")
            self._routes[service_id] = route
        try:
            route.port = self._call(self._listen(route, listen_port))
        except BaseException:
            with self._cond:
                self._routes.pop(service_id, None)
            raise
        logger.info("route added", extra={"service_id": service_id, "listen_port": route.port})
        return route.port

    async def _listen(self, route: _Route, port: int) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._handle(route, reader, writer)

        try:
            route.server = await asyncio.start_server(
                handle, self.host, port, reuse_address=True, backlog=1024
            )
        except OSError as exc:
            raise RouterError(f"cannot listen on {self.host}:{port}: {exc.strerror}") from exc
        return int(route.server.sockets[0].getsockname()[1])

    def remove_route(self, service_id: str) -> None:
        """Stop listening for ``service_id`` and close its open connections."""
        with self._cond:
            route = self._routes.pop(service_id, None)
            if route is None:
                return
            route.closed = True
            route.backends = ()
            self._cond.notify_all()
        self._call(self._close(route))
        logger.info("route removed", extra={"service_id": service_id})

    @staticmethod
    async def _close(route: _Route) -> None:
        if route.server is not None:
            route.server.close()
        tasks = list(route.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if route.server is not None:
            await route.server.wait_closed()

    def port(self, service_id: str) -> int:
        with self._cond:
            return self._route(service_id).port

    def _route(self, service_id: str) -> _Route:
        route = self._routes.get(service_id)
        if route is None:
            raise RouterError(f"service {service_id} has no route")
        return route

    # --- backends -----------------------------------------------------------------------------

    def set_backends(
        self,
        service_id: str,
        backends: Iterable[tuple[str, int]],
        instances: Mapping[tuple[str, int], str] | None = None,
    ) -> None:
        """Send new connections of ``service_id`` to ``backends`` (empty: answer 503);
        ``instances``: the instance id behind a backend, reported with its requests."""
        new = tuple(Backend(host, int(port)) for host, port in backends)
        named = {b: (instances or {}).get((b.host, b.port), "") for b in new}
        with self._cond:
            route = self._route(service_id)
            route.backends = new
            route.instances.update(named)  # old ones too: their open connections carry on
            for gone in set(route.instances) - set(new) - set(route.active):
                del route.instances[gone]
            self._cond.notify_all()
        logger.info(
            "backends set",
            extra={"service_id": service_id, "backends": [str(b) for b in new]},
        )

    def backends(self, service_id: str) -> tuple[Backend, ...]:
        with self._cond:
            return self._route(service_id).backends

    def active_connections(self, service_id: str) -> dict[Backend, int]:
        """Open (or opening) connections per backend."""
        with self._cond:
            route = self._routes.get(service_id)
            return dict(route.active) if route else {}

    def drain(
        self, service_id: str, old_backends: Iterable[tuple[str, int]], timeout: float
    ) -> bool:
        """Wait until no connection of ``service_id`` to ``old_backends`` remains; ``False``
        if some are still open after ``timeout`` seconds."""
        old = {Backend(host, int(port)) for host, port in old_backends}

        def drained() -> bool:
            route = self._routes.get(service_id)
            return route is None or not any(route.active[b] for b in old)

        with self._cond:
            done = self._cond.wait_for(drained, timeout)
        if not done:
            logger.warning(
                "connections still open after the drain timeout",
                extra={"service_id": service_id, "timeout": timeout},
            )
        return done

    def _acquire(self, route: _Route, tried: set[Backend]) -> Backend | None:
        with self._cond:
            candidates = [b for b in route.backends if b not in tried]
            if route.closed or not candidates:
                return None
            backend = candidates[route.turn % len(candidates)]
            route.turn += 1
            route.active[backend] += 1
            return backend

    def _release(self, route: _Route, backend: Backend) -> None:
        with self._cond:
            route.active[backend] -= 1
            if route.active[backend] <= 0:
                del route.active[backend]
            self._cond.notify_all()

    # --- connections (loop thread) ------------------------------------------------------------

    async def _handle(
        self, route: _Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            route.tasks.add(task)
        try:
            await self._forward(route, reader, writer)
        finally:
            if task is not None:
                route.tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _forward(
        self, route: _Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        tried: set[Backend] = set()
        while (backend := self._acquire(route, tried)) is not None:
            try:
                try:
                    upstream = await asyncio.wait_for(
                        asyncio.open_connection(backend.host, backend.port), self._connect_timeout
                    )
                except (OSError, TimeoutError) as exc:
                    tried.add(backend)
                    logger.warning(
                        "backend did not accept a connection",
                        extra={
                            "service_id": route.service_id,
                            "backend": str(backend),
                            "error": type(exc).__name__,
                        },
                    )
                    continue
                with self._cond:
                    instance = route.instances.get(backend, "")
                await self._splice(reader, writer, *upstream, self._observer(route, instance))
                return
            finally:
                self._release(route, backend)
        await self._refuse(reader, writer, BAD_GATEWAY if tried else NO_BACKEND)

    def _observer(self, route: _Route, instance: str) -> HttpObserver | None:
        on_request = self._on_request
        if on_request is None:
            return None
        service_id = route.service_id

        def report(observed: ObservedRequest) -> None:
            try:
                on_request(service_id, dataclasses.replace(observed, instance=instance))
            except Exception:
                logger.exception("reporting a request failed", extra={"service_id": service_id})

        return HttpObserver(report)

    @staticmethod
    async def _splice(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        observer: HttpObserver | None = None,
    ) -> None:
        """Both directions until the backend is done. A client half-close is passed on and the
        answer still flows back; when the backend closes, the connection ends."""
        to_backend = asyncio.create_task(
            _pipe(reader, up_writer, observer.client_data if observer else None)
        )
        try:
            await _pipe(up_reader, writer, observer.backend_data if observer else None)
        finally:
            to_backend.cancel()
            await asyncio.gather(to_backend, return_exceptions=True)
            up_writer.close()

    async def _refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: bytes
    ) -> None:
        """Answer with ``response`` after reading the request head, then wait (briefly) for the
        client to hang up: closing with unread input would reset the answer away."""
        with contextlib.suppress(
            ConnectionError,
            OSError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._error_read_timeout)
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            writer.write(response)
            await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
            await asyncio.wait_for(self._discard(reader), self._error_read_timeout)

    @staticmethod
    async def _discard(reader: asyncio.StreamReader) -> None:
        while await reader.read(_CHUNK):
            pass
