"""The log rules both homes share: Render's query parameters, filter syntax, paging, masking."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from devkit.log_lines import log_line, log_query
from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.log_masking import MASK, is_secret, masker
from imagedeploy.domain.logs import (
    LogDirection,
    LogLine,
    LogQuery,
    LogType,
    RequestFields,
    cut_page,
    detect_level,
    labels,
    parse_label,
    to_wire,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
SRV = "srv-00000000000000000001"


def query(**given: object) -> LogQuery:
    return log_query(NOW, **{"resources": [SRV], **given})


def line(seconds: float, message: str = "hello", **more: object) -> LogLine:
    return log_line(SRV, NOW - timedelta(seconds=seconds), message, **{"id": f"{seconds}", **more})


def test_defaults_are_renders() -> None:
    q = query()
    assert q.end == NOW and q.start == NOW - timedelta(hours=1)
    assert q.direction is LogDirection.BACKWARD and q.limit == 20


@pytest.mark.parametrize(
    ("given", "mentions"),
    [
        ({"owner_id": None}, "ownerId"),
        ({"resources": []}, "resource"),
        ({"direction": "sideways"}, "direction"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"start": NOW, "end": NOW - timedelta(seconds=1)}, "startTime"),
        ({"start": datetime(2026, 1, 1)}, "time zone"),
        ({"filters": {"text": ["/(unclosed/"]}}, "text"),
        ({"filters": {"level": ["/[/"]}}, "level"),
    ],
)
def test_bad_parameters_are_invalid_input_naming_them(
    given: dict[str, object], mentions: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        query(**given)
    assert mentions in caught.value.message


def test_label_must_be_one_of_renders() -> None:
    assert parse_label("instance") == "instance"
    with pytest.raises(InvalidInput, match="label must be one of"):
        parse_label("resource")


@pytest.mark.parametrize(
    ("texts", "message", "expected"),
    [
        (["Hello"], "say hello world", True),  # substring, case-insensitive
        (["bye"], "say hello world", False),
        (["hel*wor"], "say hello world", True),  # wildcard
        (["/h.l+o\\s+w/"], "say hello world", True),  # regular expression
        (["/^world/"], "say hello world", False),
        (["nope", "world"], "say hello world", True),  # several values: any
        (["a.c"], "abc", False),  # a literal dot is literal
    ],
)
def test_text_filter(texts: Sequence[str], message: str, expected: bool) -> None:
    assert query(filters={"text": texts}).matches(line(1, message)) is expected


def test_label_filters_match_whole_values_and_all_must_hold() -> None:
    request = RequestFields("GET", "/api/users", 404, "app.example.com", 12)
    req = line(1, "GET /api/users 404", type=LogType.REQUEST, request=request)
    assert query(filters={"method": ["GET"], "statusCode": ["4*"]}).matches(req)
    assert query(filters={"path": ["/api/*"], "host": ["/.*example.*/"]}).matches(req)
    assert not query(filters={"path": ["/api"]}).matches(req)  # whole value
    assert not query(filters={"method": ["GET"], "statusCode": ["5*"]}).matches(req)
    assert not query(filters={"method": ["GET"]}).matches(line(1))  # an app line has none
    assert query(filters={"type": ["app", "build"]}).matches(line(1))
    assert not query(filters={"type": ["request"]}).matches(line(1))
    assert not query(resources=["srv-other"]).matches(line(1))


def test_time_bounds_start_inclusive_end_exclusive() -> None:
    q = query(start=NOW - timedelta(seconds=10), end=NOW)
    assert q.matches(line(10)) and q.matches(line(0.000001)) and not q.matches(line(0))
    assert not q.matches(line(10.000001))


def test_pages_walk_backward_and_forward_without_loss_or_repeats() -> None:
    # 50 lines, several sharing a microsecond, newest first
    stamps = [i // 3 for i in range(50)]  # groups of three lines per second
    lines = [line(float(s), f"m{i}", id=str(i)) for i, s in enumerate(stamps)]
    for direction in ("backward", "forward"):
        start, end = NOW - timedelta(hours=1), NOW + timedelta(seconds=1)
        seen: list[str] = []
        for _ in range(50):
            q = query(start=start, end=end, direction=direction, limit=7)
            ordered = sorted(lines, key=lambda x: x.timestamp, reverse=direction == "backward")
            page = cut_page(q, ordered)
            seen += [x.id for x in page.lines]
            assert len(page.lines) <= 7
            if not page.has_more:
                break
            start, end = page.next_start, page.next_end
        assert sorted(seen, key=int) == [str(i) for i in range(50)], direction
        assert len(seen) == len(set(seen))


def test_a_page_all_in_one_microsecond_is_kept_whole() -> None:
    lines = [line(5, f"m{i}", id=str(i)) for i in range(5)] + [line(6, id="older")]
    page = cut_page(query(limit=2), lines)
    assert [x.id for x in page.lines] == ["0", "1", "2", "3", "4"] and page.has_more


def test_wire_shape_and_labels() -> None:
    request = RequestFields("POST", "/x", 201, "h.example.com", 5)
    wire = to_wire(line(1, "done", type=LogType.REQUEST, request=request))
    assert set(wire) == {"id", "labels", "message", "timestamp"}
    assert str(wire["timestamp"]).endswith("Z")
    names = {label["name"] for label in labels(line(1, type=LogType.REQUEST, request=request))}
    assert names == {
        "resource",
        "instance",
        "type",
        "level",
        "method",
        "path",
        "statusCode",
        "host",
    }


@pytest.mark.parametrize(
    ("message", "level"),
    [
        ("ERROR something broke", "error"),
        ('{"level":"warn","msg":"x"}', "warning"),
        ("level=debug msg=x", "debug"),
        ("panic: nil map", "fatal"),
        ("listening on :10000", "info"),
    ],
)
def test_level_detection(message: str, level: str) -> None:
    assert detect_level(message) == level


def test_masking_hides_secret_env_values_and_registry_tokens() -> None:
    env = {
        "DATABASE_PASSWORD": "hunter22",
        "API_TOKEN": "tok-123",
        "GENERATED": "c2VjcmV0LXZhbHVlLTEyMzQ1Njc4OTA=",
        "DATABASE_URL": "postgres://app:pw-9x@db:5432/app",
        "PORT": "10000",
        "ENV": "production",
        "RENDER_SERVICE_ID": "srv-00000000000000000001-long-enough-123",
    }
    mask = masker(env, ["glpat-registry-token"])
    text = (
        "pw=hunter22 tok=tok-123 gen=c2VjcmV0LXZhbHVlLTEyMzQ1Njc4OTA= "
        "url=postgres://app:pw-9x@db:5432/app reg=glpat-registry-token port=10000 env=production"
    )
    masked = mask.mask(text)
    for secret in ("hunter22", "tok-123", "c2VjcmV0", "pw-9x", "glpat-registry-token"):
        assert secret not in masked
    assert masked.count(MASK) == 5
    assert "port=10000" in masked and "env=production" in masked
    assert not is_secret("RENDER_SERVICE_ID", env["RENDER_SERVICE_ID"])


def test_a_secret_containing_another_is_masked_whole() -> None:
    mask = masker({"A_SECRET": "abcd", "B_SECRET": "abcdefgh"})
    assert mask.mask("x abcdefgh y abcd") == f"x {MASK} y {MASK}"


def test_cli_since_takes_durations_and_times() -> None:
    from imagedeploy.client.api import ClientError
    from imagedeploy.client.log_lines import parse_since

    assert parse_since("90s", NOW) == NOW - timedelta(seconds=90)
    assert parse_since("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_since("1d", NOW) == NOW - timedelta(days=1)
    assert parse_since("2026-01-01T00:00:00", NOW) == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ClientError, match="--since"):
        parse_since("yesterday", NOW)
