"""``imagedeploy serve``'s HTTP server: waitress running ``api.wsgi``, with request bodies
limited before they are read.

waitress reads a whole request body (into a temporary file past 512 KiB) before the app sees the
request, so the app's own checks come too late to protect the disk. Here the server itself:

- refuses a body over the API's limit (``wsgi.MAX_BODY``, API Gateway's) as soon as the
  ``Content-Length`` says so, or as soon as a chunked body passes it: a 413;
- asks the resolver, from the request head alone, whether the caller may send a large body
  (over ``SMALL_BODY``, or chunked): a valid API key on ``/v1``, the right key on a deploy hook
  (``ImagedeployResolver.admit_body``). When not, it answers at once (401, or the hook's 404)
  and closes the connection without reading the body.

Both answers are the API's JSON errors (``api.errors``). The head check runs on waitress's I/O
thread; it is one indexed store read, made only for large bodies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from waitress import create_server  # type: ignore[import-untyped]
from waitress.channel import HTTPChannel  # type: ignore[import-untyped]
from waitress.parser import HTTPRequestParser  # type: ignore[import-untyped]
from waitress.server import BaseWSGIServer  # type: ignore[import-untyped]
from waitress.utilities import Error, RequestEntityTooLarge  # type: ignore[import-untyped]

from imagedeploy.api import errors
from imagedeploy.api.app import SMALL_BODY
from imagedeploy.api.wsgi import MAX_BODY
from imagedeploy.domain.errors import ImagedeployError

# (path, query string, headers) -> None to read the body, else the error to answer
BodyGate = Callable[[str, str, Mapping[str, str]], ImagedeployError | None]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _JsonError(Error):  # type: ignore[misc]  # waitress is untyped
    """An answer waitress sends itself, as the API's ``{"id", "message"}`` JSON."""

    def __init__(self, response: errors.ErrorResponse) -> None:
        super().__init__(response.message)
        self.code = response.status
        self.reason = HTTPStatus(response.status).phrase
        self.response = response

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        headers = [("Content-Type", "application/json"), *self.response.headers.items()]
        return f"{self.code} {self.reason}", headers, json.dumps(self.response.body).encode()


def _gated_parser(gate: BodyGate) -> type[HTTPRequestParser]:
    class GatedParser(HTTPRequestParser):  # type: ignore[misc]  # waitress is untyped
        error: Error | None
        completed: bool
        expect_continue: bool

        def received(self, data: bytes) -> int:
            head_was_read = self.headers_finished
            consumed: int = super().received(data)
            if not head_was_read and self.headers_finished:
                self._check_head()
            if isinstance(self.error, RequestEntityTooLarge):
                self.error = _JsonError(errors.payload_too_large(MAX_BODY))
            return consumed

        def _check_head(self) -> None:
            if self.empty or (self.completed and self.error is None):
                return  # no body to protect
            if self.error is not None and not isinstance(self.error, RequestEntityTooLarge):
                return  # waitress's own 400 / 431 / 501
            if not (self.chunked or self.content_length > SMALL_BODY):
                return
            headers = {"authorization": self.headers.get("AUTHORIZATION", "")}
            refusal = gate(self.path, self.query, headers)
            if refusal is not None:
                self.error = _JsonError(errors.error_response(refusal))
                self.completed = True
                self.expect_continue = False  # and no "100 Continue" inviting the body

    return GatedParser


def api_server(app: WsgiApp, gate: BodyGate, *, host: str, port: int, threads: int) -> Any:
    """A waitress server (not yet running) for ``app``; ``run()`` serves, ``close()`` stops."""
    server = create_server(
        app, host=host, port=port, threads=threads, max_request_body_size=MAX_BODY + 1
    )
    channel = type("GatedChannel", (HTTPChannel,), {"parser_class": _gated_parser(gate)})
    # one listening socket: the server itself; several (a host name with two addresses): its map
    listeners = [server] if isinstance(server, BaseWSGIServer) else list(server.map.values())
    for listener in listeners:
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = channel
    return server


def stop_server(server: Any, timeout: float = 5.0) -> None:
    """Stop ``api_server``'s server: its task threads finish what they are writing (a log
    stream ends at its next poll once the streamer stops), then the sockets close. A single
    listener's ``close()`` alone closed the sockets under a thread still writing (EBADF)."""
    server.task_dispatcher.shutdown(timeout=timeout)
    server.close()
