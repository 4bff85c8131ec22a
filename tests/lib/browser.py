"""How browser tests start Debian's Chromium (headless, and quiet on a machine with no network),
and how they see what the Content-Security-Policy refused."""

import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

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


# Each refusal as a console error that names itself, in the page and in each frame, counted in
# `window.cspRefusals` for a test to wait on. Chromium
# logs its own "Refused to ..." line too, in pages and in workers; both are collected.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.effectiveDirective} refused ${event.blockedURI}`
    + ` (${event.sourceFile}:${event.lineNumber})`);
  window.cspRefusals = (window.cspRefusals ?? 0) + 1;
});
"""
_CSP_WORDS = ("CSP violation", "Content Security Policy")
_violations: "weakref.WeakKeyDictionary[BrowserContext, list[str]]" = weakref.WeakKeyDictionary()


def watch_csp(context: BrowserContext) -> list[str]:
    """Record what the Content-Security-Policy refuses in every page (and worker) of `context`.

    Call it before the context opens a page; the returned list fills as refusals happen.
    """
    found: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if any(words in message.text for words in _CSP_WORDS):
            found.append(f"{message.text} at {message.location}")

    context.add_init_script(script=_REPORT_CSP_VIOLATIONS)
    context.on("console", seen)
    _violations[context] = found
    return found


def csp_violations(browser: Browser) -> list[str]:
    """What the policy refused in the watched contexts of `browser` that are still open."""
    return [found for context in browser.contexts for found in _violations.get(context, [])]


def until(page: Page, condition: Callable[[], bool], *, seconds: float = 5) -> bool:
    """Let the page run, and Playwright's event handlers with it, until the condition holds or
    `seconds` of real time have passed (a page's fake clock does not stop this); whether it
    holds."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    return condition()
