"""``GET /v1/logs/subscribe`` as ``serve`` answers it: Server-Sent Events through the WSGI app,
new matching lines only, a bounded number of streams (one more is a 429), a refused request
answered as JSON before any stream opens."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from devkit.apigw import API_KEY, BASE, Api
from devkit.log_lines import log_line
from devkit.world import OWNER
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.log_stream import LogStreamer
from imagedeploy.api.wsgi import wsgi_app
from imagedeploy.domain.logs import LogLine
from tests.api.test_render_compat import wsgi_request

pytestmark = pytest.mark.unit


class Stream:
    def __init__(self, status: int, headers: dict[str, str], body: Iterable[bytes]) -> None:
        self.status, self.headers, self.body = status, headers, body
        self._chunks: Iterator[bytes] = iter(body)

    def next_chunk(self) -> str:
        return next(self._chunks).decode()

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


def subscribe(app: Any, query: dict[str, str], key: str = API_KEY) -> Stream:
    headers = {"Authorization": f"Bearer {key}"}
    return Stream(*wsgi_request(app, "GET", "/v1/logs/subscribe", urlencode(query), headers))


@pytest.fixture
def streaming(api: Api) -> tuple[Any, str, Api]:
    service_id = api.world.create().service.id
    assert api.logs is not None
    streamer = LogStreamer(
        ApiDeps(api.world.ports, BASE, log_reader=api.logs),
        api.logs,
        max_subscribers=1,
        poll_seconds=0.01,
    )
    return wsgi_app(api.resolver, streamer), service_id, api


def line(api: Api, service_id: str, message: str) -> LogLine:
    return log_line(service_id, api.world.clock.now() + timedelta(seconds=1), message)


def test_new_matching_lines_arrive_as_events(streaming: tuple[Any, str, Api]) -> None:
    app, service_id, api = streaming
    assert api.logs is not None
    api.logs.append([line(api, service_id, "old news")])
    stream = subscribe(app, {"ownerId": OWNER, "resource": service_id, "text": "wanted"})
    assert stream.status == 200 and stream.headers["content-type"] == "text/event-stream"
    assert stream.next_chunk().startswith(":")  # subscribed
    api.logs.append([line(api, service_id, "not this"), line(api, service_id, "wanted one")])
    chunk = stream.next_chunk()
    events = [e for e in chunk.split("\n\n") if e]
    assert len(events) == 1
    fields = dict(f.split(": ", 1) for f in events[0].split("\n"))
    assert fields["event"] == "log"
    assert json.loads(fields["data"])["message"] == "wanted one"
    stream.close()


def test_one_stream_too_many_is_429_until_one_closes(streaming: tuple[Any, str, Api]) -> None:
    app, service_id, _ = streaming
    query = {"ownerId": OWNER, "resource": service_id}
    first = subscribe(app, query)
    first.next_chunk()
    second = subscribe(app, query)
    assert second.status == 429
    assert json.loads(b"".join(second.body))["id"] == "rate_limited"
    first.close()
    third = subscribe(app, query)
    assert third.status == 200
    third.close()


def test_a_refused_request_is_json_and_opens_no_stream(streaming: tuple[Any, str, Api]) -> None:
    app, service_id, _ = streaming
    for query, status in (
        ({"ownerId": OWNER}, 400),
        ({"ownerId": OWNER, "resource": "srv-vvvvvvvvvvvvvvvvvvvv"}, 404),
    ):
        refused = subscribe(app, query)
        assert refused.status == status
        assert set(json.loads(b"".join(refused.body))) == {"id", "message"}
    assert subscribe(app, {"ownerId": OWNER, "resource": service_id}, key="rnd_nope").status == 401
    ok = subscribe(app, {"ownerId": OWNER, "resource": service_id})  # no slot was taken
    assert ok.status == 200
    ok.close()
