"""The opinion editor in headless Chromium: autosave, and signing what is on the screen."""

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from consult.models import ConsultRequest, OpinionVersion, Status
from consult.services import OpinionSections, opinion_draft_save
from tests.conftest import World
from tests.consult import test_browser
from tests.consult.conftest import make_consult
from tests.consult.test_browser import _in_thread, _tab
from tests.factories import PASSWORD
from tests.integration.test_celery_worker import WAIT_SECONDS
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]

# The daphne server and the Chromium of the consult path's browser tests.
server = test_browser.server
browser = test_browser.browser

EMPTY = OpinionSections(
    findings="", impression="", recommendations="", referral_advised=False, follow_up_advice=""
)


@pytest.fixture
def under_review(world: World) -> ConsultRequest:
    """A consult under review whose draft was once saved empty (as adding a key image does)."""
    consult = make_consult(world, Status.UNDER_REVIEW)
    opinion_draft_save(consult_id=consult.pk, actor_user=world.specialist, sections=EMPTY)
    return consult


def _editor(browser: Browser, server: str, consult: ConsultRequest) -> Page:
    tab = _tab(browser, server, "specialist")
    tab.goto(f"/consults/{consult.pk}/opinion/edit/")
    return tab


def _write(tab: Page) -> None:
    tab.locator("#id_findings").fill("右下肺斑片状高密度影")
    tab.locator("#id_impression").fill("右下肺炎")
    tab.locator("#id_recommendations").fill("经验性抗感染治疗")
    tab.locator("#id_follow_up_advice").fill("两周后复查胸片")


def _wait_for_draft(consult: ConsultRequest, done: Callable[[OpinionVersion], bool]) -> None:
    """Until the saved draft is as `done` wants it, or fail at the deadline."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        draft = _in_thread(lambda: OpinionVersion.objects.get(opinion__consult=consult))
        if done(draft):
            return
        assert time.monotonic() < deadline, f"the draft stayed {draft.impression!r}"
        # The browser saves on its own schedule; look again once its page has had a turn.
        time.sleep(0.1)


def _sign(tab: Page, password: str) -> None:
    tab.locator("#id_password").fill(password)
    tab.get_by_role("button", name="签署意见").click()


def test_signing_without_saving_first_signs_the_text_on_screen(
    under_review: ConsultRequest, server: str, browser: Browser
) -> None:
    tab = _editor(browser, server, under_review)
    _write(tab)

    _sign(tab, PASSWORD)

    expect(tab).to_have_url(re.compile(rf"/consults/{under_review.pk}/opinion/$"))
    expect(tab.locator(".opinion")).to_contain_text("右下肺炎")
    expect(tab.locator(".opinion")).to_contain_text("经验性抗感染治疗")
    signed = _in_thread(lambda: OpinionVersion.objects.get(opinion__consult=under_review))
    assert (signed.impression, signed.signed_at is not None) == ("右下肺炎", True)


def test_a_wrong_password_keeps_every_typed_field(
    under_review: ConsultRequest, server: str, browser: Browser
) -> None:
    tab = _editor(browser, server, under_review)
    _write(tab)

    _sign(tab, "not-the-password")

    expect(tab.locator("[role=alert]")).to_contain_text("密码")
    expect(tab.locator("#id_findings")).to_have_value("右下肺斑片状高密度影")
    expect(tab.locator("#id_impression")).to_have_value("右下肺炎")
    expect(tab.locator("#id_recommendations")).to_have_value("经验性抗感染治疗")
    expect(tab.locator("#id_follow_up_advice")).to_have_value("两周后复查胸片")
    draft = _in_thread(lambda: OpinionVersion.objects.get(opinion__consult=under_review))
    assert (draft.impression, draft.signed_at) == ("右下肺炎", None)


def test_the_draft_saves_itself_and_says_when(
    under_review: ConsultRequest, server: str, browser: Browser
) -> None:
    tab = _editor(browser, server, under_review)

    _write(tab)

    expect(tab.locator("#draft-status")).to_have_text(re.compile(r"^已保存 \d\d:\d\d$"))
    _wait_for_draft(under_review, lambda d: d.follow_up_advice == "两周后复查胸片")
    tab.reload()
    expect(tab.locator("#id_impression")).to_have_value("右下肺炎")
    expect(tab.locator("#id_follow_up_advice")).to_have_value("两周后复查胸片")


def test_a_failed_autosave_says_so_and_keeps_the_text(
    under_review: ConsultRequest, server: str, browser: Browser
) -> None:
    tab = _editor(browser, server, under_review)

    def unreachable(route: Route) -> None:
        route.abort("connectionrefused")

    tab.route(re.compile(r"/api/v1/consults/\d+/opinion/draft/$"), unreachable)
    _write(tab)

    status = tab.locator("#draft-status")
    expect(status).to_contain_text("保存失败")
    expect(status).to_contain_text("无法连接服务器")
    expect(tab.locator("#id_impression")).to_have_value("右下肺炎")
    draft = _in_thread(lambda: OpinionVersion.objects.get(opinion__consult=under_review))
    assert draft.impression == ""

    # Once the server answers again, the next change saves everything typed.
    tab.unroute(re.compile(r"/api/v1/consults/\d+/opinion/draft/$"))
    tab.locator("#id_impression").press_sequentially("？")  # noqa: RUF001 - Chinese mark
    expect(status).to_have_text(re.compile(r"^已保存 \d\d:\d\d$"))
    _wait_for_draft(
        under_review,
        lambda d: (d.impression, d.findings) == ("右下肺炎？", "右下肺斑片状高密度影"),  # noqa: RUF001
    )
