"""Page numbers for listings fetched by offset and limit, and the bounds of every listing.

Every door that pages (the pages' `?page=`, the JSON API's `offset`/`limit`, QIDO-RS) stays
within `MAX_OFFSET` and `MAX_LIMIT`: beyond them a value is no real request, and one past
PostgreSQL's bigint would end in a 500.
"""

from dataclasses import dataclass

# Far beyond any real listing; keeps a hand-typed ?page= from overflowing the SQL OFFSET.
MAX_PAGE_NUMBER = 100_000
MAX_OFFSET = 10_000_000
MAX_LIMIT = 1000


class OffsetInvalid(ValueError):
    """An offset or limit that is not a whole number within the bounds, in words."""


def offset_parse(raw: str | None, *, name: str = "offset", maximum: int = MAX_OFFSET) -> int:
    """A non-negative offset from its text (0 when absent), at most `maximum`.

    Raises: OffsetInvalid for anything else.
    """
    if raw is None or raw == "":
        return 0
    if not raw.isascii() or not raw.isdigit():
        raise OffsetInvalid(f"{name} must be a non-negative integer.")
    if len(raw) > len(str(maximum)) or int(raw) > maximum:
        raise OffsetInvalid(f"{name} must be at most {maximum}.")
    return int(raw)


def page_number(raw: str | None) -> int:
    """The page asked for by a `?page=` value; anything unreadable means the first page."""
    if raw is None or not raw.isdigit():
        return 1
    return min(max(int(raw), 1), MAX_PAGE_NUMBER)


@dataclass(frozen=True)
class Pager:
    """Where page `number` sits in a listing of `total` items."""

    number: int
    per_page: int
    total: int

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def previous_number(self) -> int:
        return self.number - 1

    @property
    def next_number(self) -> int:
        return self.number + 1


def page_offset(number: int, per_page: int) -> int:
    return (number - 1) * per_page
