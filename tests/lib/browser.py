"""How browser tests start Debian's Chromium: headless, and quiet on a machine with no network."""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking switches Chromium keeps trying hosts it cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def screenshots_if_failed(
    request: pytest.FixtureRequest,
    pages: Callable[[], Iterable[Page]],
    console: Callable[[], list[str]] | None = None,
) -> Iterator[None]:
    """Wrap a browser fixture's `yield`: when the test failed, save a screenshot of each page
    (and the console lines, if given) under test-artifacts/ for the CI log to point at."""
    # The call phase is reported before fixtures tear down, so a failure has been counted.
    failed_before = request.session.testsfailed
    try:
        yield
    finally:
        if request.session.testsfailed > failed_before:
            artifacts = Path(settings.BASE_DIR) / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            for number, page in enumerate(pages()):
                page.screenshot(
                    path=artifacts / f"{request.node.name}-{number}.png", full_page=True
                )
            if console is not None:
                (artifacts / f"{request.node.name}.console.txt").write_text("\n".join(console()))
