"""The service's logs page, its live instances and its one-off jobs in the dashboard, over the
real resolver and SQLite stores (fake runtime), without a browser."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qsl

import pytest

from devkit.dashboard import FormClient
from devkit.world import World
from imagedeploy.adapters.local.log_store import SqliteLogStore
from imagedeploy.domain.logs import LogLine, LogType

pytestmark = pytest.mark.integration


def _live_service(world: World, name: str) -> str:
    # the page asks for the last hour of wall-clock time, as ``serve`` does with one clock
    world.clock.current = datetime.now(UTC)
    created = world.create(name=name, num_instances=1)
    world.go_live(created.deploy.id)
    return created.service.id


def _log(world: World, sid: str, messages: list[str]) -> None:
    """``messages`` oldest first, one second apart, ending a second ago."""
    now = datetime.now(UTC)
    store = SqliteLogStore(world.store.path.parent / "logs.sqlite")
    store.append(
        [
            LogLine(
                id="",
                timestamp=now - timedelta(seconds=len(messages) - n),
                resource=sid,
                instance=f"{sid}-abcde",
                type=LogType.APP,
                level="info",
                message=message,
            )
            for n, message in enumerate(messages)
        ]
    )
    store.close()


def test_the_logs_page_shows_lines_escaped_newest_first_and_searches(
    client: FormClient, world: World
) -> None:
    sid = _live_service(world, "talker")
    _log(world, sid, ["booting", "<script>alert(1)</script>", "payment 7 failed"])
    client.sign_in()
    assert f'href="/dashboard/services/{sid}/logs"' in client.get(f"/dashboard/services/{sid}").text
    page = client.get(f"/dashboard/services/{sid}/logs")
    assert page.status == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text
    messages = re.findall(r'<code class="log-line">([^<]*)</code>', page.text)
    assert [unescape(m) for m in messages] == [
        "payment 7 failed",
        "<script>alert(1)</script>",
        "booting",
    ]
    assert f"{sid}-abcde" in page.text and "data-poll" not in page.text
    found = client.get(f"/dashboard/services/{sid}/logs", query={"text": "payment"}).text
    assert re.findall(r'<code class="log-line">([^<]*)</code>', found) == ["payment 7 failed"]
    assert 'value="payment"' in found
    live = client.get(f"/dashboard/services/{sid}/logs", query={"live": "1"}).text
    assert 'id="log-lines" data-poll="3000"' in live


def test_the_logs_page_pages_older_lines_with_next_end_time(
    client: FormClient, world: World
) -> None:
    sid = _live_service(world, "chatty")
    _log(world, sid, [f"line {n:03}" for n in range(130)])
    client.sign_in()
    first = client.get(f"/dashboard/services/{sid}/logs").text
    shown = re.findall(r'<code class="log-line">([^<]*)</code>', first)
    assert shown[0] == "line 129" and len(shown) == 100
    (older,) = re.findall(r'<a href="\?([^"]+)">Older lines', first)
    query = dict(parse_qsl(unescape(older)))
    assert query["endTime"] and query["range"] == "1h"
    rest = client.get(f"/dashboard/services/{sid}/logs", query=query).text
    assert re.findall(r'<code class="log-line">([^<]*)</code>', rest) == [
        f"line {n:03}" for n in range(29, -1, -1)
    ]
    assert "Older lines" not in rest


def test_the_logs_of_another_workspaces_service_are_not_found(client: FormClient) -> None:
    client.sign_in()
    assert client.get("/dashboard/services/srv-nope/logs").status == 404


def test_jobs_run_and_cancel_through_the_api_and_need_the_csrf_token(
    client: FormClient, world: World
) -> None:
    sid = _live_service(world, "jobber")
    page_url = f"/dashboard/services/{sid}"
    client.sign_in()
    page = client.get(page_url).text
    assert "Live instances" in page and "No jobs yet." in page
    refused = client.post(f"{page_url}/run-job", {"command": "echo hi"}, with_csrf=False)
    assert refused.status == 403
    assert "No jobs yet." in client.get(page_url).text
    blank = client.post(f"{page_url}/run-job", {"command": ""})
    assert blank.status == 400 and 'role="alert"' in blank.text
    made = client.post(f"{page_url}/run-job", {"command": "echo <hi>"})
    assert made.status == 303 and made.headers["location"] == page_url
    page = client.get(page_url).text
    assert "<code>echo &lt;hi&gt;</code>" in page
    (job_id,) = re.findall(r'name="job_id" value="([^"]+)"', page)
    assert 'data-poll="3000"' in page  # an unfinished job refreshes the page
    cancel = client.post(f"{page_url}/cancel-job", {"job_id": job_id})
    assert cancel.status == 303, cancel.text[-600:]
    world.drain()
    page = client.get(page_url).text
    assert "canceled" in page and 'name="job_id"' not in page
