"""What a long-running server process does once it has loaded, before it serves anything."""

import gc
from importlib import import_module

from django.conf import settings


def process_ready() -> None:
    """Load what the first request would otherwise load, and keep start-up objects out of GC.

    The URL modules import every view and the libraries behind them (about a second): at
    start-up, not in the first request or the first stored image. What start-up created then
    lives as long as the process, so it is frozen out of garbage collection, which would
    otherwise walk it again and again while requests build many small objects.
    """
    import_module(settings.ROOT_URLCONF)
    gc.freeze()
