"""The Content-Security-Policy as Chromium applies it (issue 15, item 8).

The browser tests of the viewer, the upload, the consult and review pages and the home pages
watch for refusals (`tests.lib.browser.watch_csp`) and fail on any; these tests show that the
policy is in force and that the watch sees what it refuses.
"""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import World
from tests.factories import PASSWORD
from tests.lib.browser import CHROMIUM, CHROMIUM_ARGS, screenshots_if_failed, watch_csp
from tests.lib.daphne import daphne_server
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]

EXPECT_TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with daphne_server(tmp_path_factory.mktemp("daphne") / "daphne.log") as url:
        yield url


@pytest.fixture
def tab(server: str, request: pytest.FixtureRequest) -> Iterator[tuple[Page, list[str]]]:
    """A Chromium tab and the list of what the policy refused in it."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", base_url=server)
        refused = watch_csp(context)
        page = context.new_page()
        page.set_default_timeout(EXPECT_TIMEOUT_MS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        with screenshots_if_failed(request, lambda: [page], lambda: refused):
            yield page, refused
        browser.close()


def test_an_injected_inline_script_is_refused_and_seen(tab: tuple[Page, list[str]]) -> None:
    page, refused = tab
    page.goto("/accounts/login/")

    with pytest.raises(PlaywrightError, match="Content Security Policy"):
        page.add_script_tag(content="window.injected = true;")

    page.wait_for_function("() => window.cspRefusals > 0")
    assert page.evaluate("() => window.injected === undefined")
    expect(page.locator("#id_username")).to_be_visible()
    assert any("script-src" in line for line in refused), refused


def test_the_api_docs_page_runs_under_the_policy(world: World, tab: tuple[Page, list[str]]) -> None:
    page, refused = tab
    page.goto("/accounts/login/?next=/api/docs/")
    page.locator("#id_username").fill(world.clinic_doctor.username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.form button[type=submit]").click()

    expect(page.locator("#swagger-ui .information-container")).to_be_visible()
    expect(page.locator("#swagger-ui .opblock").first).to_be_visible()
    assert refused == []
