"""``domain.paging``: the page rule both stores read by."""

from collections.abc import Iterator

import pytest

from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.listing import ALL_TIMES, ANY_RUN, DeployFilter, TimeRange
from imagedeploy.domain.paging import MAX_LIMIT, page_read, take_page

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("limit", [0, MAX_LIMIT + 1, True, 1.0, "5"])
def test_a_page_size_out_of_range_is_invalid(limit: object) -> None:
    with pytest.raises(InvalidInput, match="limit must be an integer"):
        page_read(limit, None)  # type: ignore[arg-type]


def test_an_unfiltered_list_reads_its_whole_range_unchecked() -> None:
    assert page_read(1, None) == (ALL_TIMES, None)
    assert page_read(MAX_LIMIT, ANY_RUN) == (ALL_TIMES, None)


def test_a_filter_gives_its_key_range_and_its_check() -> None:
    where = DeployFilter(created=TimeRange(None, None), statuses=frozenset())
    span, matches = page_read(10, where)
    assert span == where.key_range
    assert matches == where.matches


def test_take_page_stops_reading_at_one_match_past_the_page() -> None:
    read: list[int] = []

    def rows() -> Iterator[tuple[int, str]]:
        for n in range(100):
            read.append(n)
            yield n, f"key{n}"

    items, after = take_page(rows(), 3, lambda n: n % 2 == 0)
    assert items == [0, 2, 4]
    assert after == "key4"
    assert read == list(range(7))  # 6 is the fourth match: there is a next page


def test_take_page_of_the_last_items_has_no_next_page() -> None:
    assert take_page(iter([(1, "a"), (2, "b")]), 2, None) == ([1, 2], None)
    assert take_page(iter([]), 2, None) == ([], None)
