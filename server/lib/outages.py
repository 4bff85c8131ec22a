"""Per process, the services that failed a moment ago, so requests stop waiting on them."""

import threading
import time
from collections.abc import Hashable


class RecentFailures:
    """Services (a channel layer, a broker URL) that failed within the last `seconds`.

    Work sent after a commit is best effort or has an outbox behind it, so once a service has
    failed, the next requests skip it for a while instead of each waiting out its timeouts.
    Keyed by the service, so a process that switches to another one tries that at once.
    """

    def __init__(self, *, seconds: float) -> None:
        self.seconds = seconds
        self._failed_at: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def recent(self, service: Hashable) -> bool:
        with self._lock:
            failed_at = self._failed_at.get(service)
        return failed_at is not None and time.monotonic() - failed_at < self.seconds

    def record(self, service: Hashable) -> None:
        now = time.monotonic()
        with self._lock:
            # Forget the old ones, so the map stays as small as the services a process uses.
            self._failed_at = {
                key: at for key, at in self._failed_at.items() if now - at < self.seconds
            }
            self._failed_at[service] = now
