"""``serve`` answers requests from many threads at once through one resolver: no request may
see another's path, query, body or workspace (powertools keeps the current request in shared
state; ``api.wsgi`` must serialize the resolver)."""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from devkit.apigw import API_KEY, Api
from devkit.world import IMAGE, OWNER
from imagedeploy.api.wsgi import wsgi_app
from imagedeploy.domain.accounts import ApiKey, Owner, hash_key

pytestmark = pytest.mark.unit

OTHER_OWNER = "tea-0000000000000000000b"
OTHER_KEY = "rnd_other_workspace_key_1"


def call(app: Any, method: str, path: str, key: str, query: str = "") -> tuple[int, Any]:
    status: list[str] = []
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_AUTHORIZATION": f"Bearer {key}",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "0",
        "wsgi.input": io.BytesIO(b""),
    }
    body = b"".join(app(environ, lambda s, h: status.append(s)))
    return int(status[0].split()[0]), json.loads(body) if body else None


def test_many_threads_each_get_their_own_answer(api: Api) -> None:
    world = api.world
    world.store.write(
        put=[
            Owner(OTHER_OWNER, "Other", "other@example.com"),
            ApiKey(
                "rnd-00000000000000000002", OTHER_OWNER, "k", hash_key(OTHER_KEY), datetime.now(UTC)
            ),
        ]
    )
    mine = world.create(image_path=f"{IMAGE}:1.0", name="mine").service.id
    app = wsgi_app(api.resolver)
    problems: list[str] = []
    barrier = threading.Barrier(16)

    def worker(n: int) -> None:
        try:
            requests(n)
        except Exception as exc:  # a thread's exception must fail the test, not just warn
            problems.append(repr(exc))

    def requests(n: int) -> None:
        barrier.wait()
        for _ in range(40):
            if n % 2:
                status, body = call(app, "GET", f"/v1/services/{mine}", API_KEY)
                if status != 200 or body["id"] != mine:
                    problems.append(f"own service: {status}")
            else:
                status, body = call(app, "GET", "/v1/owners", OTHER_KEY, "limit=5")
                if status != 200 or body[0]["owner"]["id"] != OTHER_OWNER:
                    problems.append(f"owners: {status} {body}")
                status, _ = call(app, "GET", f"/v1/services/{mine}", OTHER_KEY)
                if status != 404:  # another workspace's service stays invisible
                    problems.append(f"isolation: {status}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    assert OWNER != OTHER_OWNER
