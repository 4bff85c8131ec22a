"""A per-process budget of memory for decoding pixel data (no Django).

Each decode is capped on its own (imaging.render.DecodeTooLarge); the budget caps their sum, so
a burst of concurrent requests cannot together decode more than the process may hold.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# How long an admitted response's next decode waits for memory before the response fails.
HOLD_WAIT_SECONDS = 30.0
# What a refused client is told to wait: about one decode's time.
RETRY_AFTER_SECONDS = 2


class BudgetSpent(Exception):
    """The process's decode budget is spent for now (503 with Retry-After)."""


class MemoryBudget:
    """Bytes held by decodes in flight, across the process's threads."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held = 0
        self._changed = threading.Condition()

    def fits(self, cost: int) -> bool:
        """Whether a decode of `cost` bytes would be admitted now (nothing is reserved)."""
        with self._changed:
            return self.held + min(cost, self.capacity) <= self.capacity

    @contextmanager
    def hold(self, cost: int, *, wait: float = 0.0) -> Iterator[None]:
        """Hold `cost` bytes while the block runs, waiting up to `wait` seconds for them.

        A cost above the capacity holds the whole capacity (it runs alone) rather than never
        running. Raises: BudgetSpent when the bytes are not free in time.
        """
        cost = min(cost, self.capacity)
        with self._changed:
            if not self._changed.wait_for(lambda: self.held + cost <= self.capacity, wait):
                raise BudgetSpent
            self.held += cost
        try:
            yield
        finally:
            with self._changed:
                self.held -= cost
                self._changed.notify_all()


_budgets: dict[int, MemoryBudget] = {}
_budgets_lock = threading.Lock()


def process_budget(capacity: int) -> MemoryBudget:
    """The process's one budget of this capacity (a new capacity, as in tests, gets its own)."""
    with _budgets_lock:
        budget = _budgets.get(capacity)
        if budget is None:
            budget = _budgets[capacity] = MemoryBudget(capacity)
        return budget
