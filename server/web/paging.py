"""Page numbers for listings fetched by offset and limit."""

from dataclasses import dataclass

# Far beyond any real listing; keeps a hand-typed ?page= from overflowing the SQL OFFSET.
MAX_PAGE_NUMBER = 100_000


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
