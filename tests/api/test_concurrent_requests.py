"""``serve`` answers requests from many threads at once through one resolver, with no lock
around it: no request may see another's path, query, body or workspace (powertools keeps the
current request on the resolver; ``api.app.ImagedeployResolver`` keeps it per thread)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from devkit.apigw import API_KEY, Api
from imagedeploy.api.wsgi import wsgi_app
from imagedeploy.domain.accounts import ApiKey, Owner, hash_key

pytestmark = pytest.mark.unit

OTHER_OWNER = "tea-0000000000000000000b"
OTHER_KEY = "rnd_other_workspace_key_1"
THREADS = 16
ROUNDS = 30


def call(
    app: Any, method: str, path: str, key: str, query: str = "", body: Any = None
) -> tuple[int, Any]:
    status: list[str] = []
    data = b"" if body is None else json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_AUTHORIZATION": f"Bearer {key}",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": io.BytesIO(data),
    }
    answer = b"".join(app(environ, lambda s, h: status.append(s)))
    return int(status[0].split()[0]), json.loads(answer) if answer else None


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
    mine = [world.create(name=f"web-{n}").service.id for n in range(THREADS)]
    app = wsgi_app(api.resolver)
    problems: list[str] = []
    barrier = threading.Barrier(THREADS)

    def expect(n: int, what: str, ok: Callable[[int, Any], bool], reply: tuple[int, Any]) -> None:
        if not ok(*reply):
            problems.append(f"thread {n}, {what}: {reply[0]} {str(reply[1])[:200]}")

    def requests(n: int) -> None:
        service = mine[n]
        barrier.wait()
        for round_ in range(ROUNDS):
            # a different path, query, body and workspace in every thread, every round
            match (n + round_) % 5:
                case 0:
                    expect(
                        n,
                        "own service",
                        lambda s, b: s == 200 and b["id"] == service,
                        call(app, "GET", f"/v1/services/{service}", API_KEY),
                    )
                case 1:
                    value = f"thread-{n}-round-{round_}"
                    expect(
                        n,
                        "env var echo",
                        lambda s, b, v=value: s == 200 and b == {"key": "WHO", "value": v},
                        call(
                            app,
                            "PUT",
                            f"/v1/services/{service}/env-vars/WHO",
                            API_KEY,
                            body={"value": value},
                        ),
                    )
                case 2:
                    limit = 1 + n % 7
                    expect(
                        n,
                        f"list limit={limit}",
                        lambda s, b, k=limit: s == 200 and len(b) == k,
                        call(app, "GET", "/v1/services", API_KEY, f"limit={limit}"),
                    )
                case 3:
                    expect(
                        n,
                        "the other workspace's owners",
                        lambda s, b: s == 200 and [o["owner"]["id"] for o in b] == [OTHER_OWNER],
                        call(app, "GET", "/v1/owners", OTHER_KEY),
                    )
                case _:
                    expect(
                        n,
                        "isolation",
                        lambda s, b: s == 404 and service in b["message"],
                        call(app, "GET", f"/v1/services/{service}", OTHER_KEY),
                    )

    def worker(n: int) -> None:
        try:
            requests(n)
        except Exception as exc:  # a thread's exception must fail the test, not just warn
            problems.append(f"thread {n}: {exc!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
