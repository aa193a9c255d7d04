"""How a store reads one page of a list, decided once for both stores (SQLite and DynamoDB):
the page sizes accepted, which key range is read and what is checked per item
(``domain.listing``'s filters), when reading stops and where the next page starts. The stores
only turn these into their own reads and cursors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from imagedeploy.domain.errors import InvalidInput
from imagedeploy.domain.listing import ALL_TIMES, ListFilter, TimeRange

T = TypeVar("T")
K = TypeVar("K")

MAX_LIMIT = 100  # the most items a page holds (Render's)


def check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")


def page_read(
    limit: int, where: ListFilter[Any] | None
) -> tuple[TimeRange, Callable[[Any], bool] | None]:
    """What a store reads for a page of ``limit`` items (``InvalidInput`` for a size out of
    1..``MAX_LIMIT``): the range of the list's sort key (an empty one: no read, an empty page)
    and the check each item read must pass (None: every item of the range matches, so reading
    ``limit`` + 1 items tells whether there is a next page)."""
    check_limit(limit)
    if where is None:
        return ALL_TIMES, None
    return where.key_range, None if where.unfiltered else where.matches


def take_page(
    rows: Iterable[tuple[T, K]], limit: int, matches: Callable[[T], bool] | None
) -> tuple[list[T], K | None]:
    """The first ``limit`` items of ``rows`` (item, its sort key, in list order) that
    ``matches``, and the sort key the next page starts after (None: this is the last page).
    Stops reading ``rows`` at the ``limit`` + 1st match: a page is never short because
    non-matching items came first."""
    page: list[tuple[T, K]] = []
    for item, key in rows:
        if matches is None or matches(item):
            page.append((item, key))
            if len(page) > limit:
                break
    after = page[limit - 1][1] if len(page) > limit else None
    return [item for item, _ in page[:limit]], after
