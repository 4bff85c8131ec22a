"""The signed opinion as a PDF: Chinese renders as real text in an embedded CJK font, on A4."""

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from PIL import Image

from consult.models import ConsultRequest, Status
from consult.pdf import opinion_pdf_render
from consult.services import (
    OpinionSections,
    consult_start_review,
    opinion_draft_save,
    opinion_sign,
)
from server.audit.models import AuditEvent, AuditOutcome
from server.directory.models import AccessGrant
from tests.conftest import World
from tests.consult.conftest import make_consult, practitioner_of
from tests.factories import PASSWORD

SECTIONS = OpinionSections(
    findings="右下肺片状影",
    impression="社区获得性肺炎",
    recommendations="抗感染治疗",
    referral_advised=False,
    follow_up_advice="一周后复查胸片",
)
LABEL = "会诊意见（供参考）"  # noqa: RUF001 - the fullwidth brackets are the label
SIGNED_UTC = datetime(2026, 5, 6, 1, 30, tzinfo=UTC)


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: install Debian's poppler-utils (make services does)"
    return path


def _client(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


@pytest.fixture(autouse=True)
def _grants_outlast_the_signing_date(settings: object) -> None:
    """The opinions are signed at SIGNED_UTC, months ago: the grants the signature renewed then
    must still hold today."""
    settings.ACCESS_GRANT_DAYS = 3650  # type: ignore[attr-defined]  # pytest-django settings


def _signed(world: World) -> ConsultRequest:
    consult = make_consult(world, Status.ACCEPTED)
    consult_start_review(consult_id=consult.pk, actor_user=world.specialist)
    opinion_draft_save(consult_id=consult.pk, actor_user=world.specialist, sections=SECTIONS)
    # The signature is dated in the past: the specialist's grant has to hold by then.
    grants = AccessGrant.objects.filter(source_type="consult", source_id=str(consult.pk))
    grants.update(starts_at=SIGNED_UTC - timedelta(days=1))
    with time_machine.travel(SIGNED_UTC, tick=False):
        opinion_sign(consult_id=consult.pk, actor_user=world.specialist, password=PASSWORD)
    return consult


def _amend(world: World, consult: ConsultRequest) -> None:
    opinion_draft_save(
        consult_id=consult.pk,
        actor_user=world.specialist,
        sections=SECTIONS,
        amendment_reason="补充随访要求",
    )
    opinion_sign(consult_id=consult.pk, actor_user=world.specialist, password=PASSWORD)


def _pdf_url(consult: ConsultRequest, query: str = "") -> str:
    return reverse("consult:opinion-pdf", kwargs={"consult_id": consult.pk}) + query


def _text(pdf: Path) -> str:
    run = subprocess.run(
        [_poppler("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, check=True
    )
    return run.stdout.decode()


def _save(tmp_path: Path, content: bytes) -> Path:
    pdf = tmp_path / "opinion.pdf"
    pdf.write_bytes(content)
    return pdf


def test_signed_opinion_pdf_has_the_chinese_as_text_in_an_embedded_cjk_font_on_a4(
    world: World, tmp_path: Path
) -> None:
    consult = _signed(world)
    response = _client("clinic").get(_pdf_url(consult))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    assert f"consult-{consult.pk}-opinion-v1.pdf" in response["Content-Disposition"]
    pdf = _save(tmp_path, response.content)

    text = _text(pdf)
    signer = practitioner_of(world.specialist)
    sha256 = consult.opinion.versions.get().content_sha256
    for expected in [
        LABEL,
        "王秀英",  # patient
        "东乡卫生院",  # home and inviting institution
        "反复胸痛",  # reason
        "胸片示右下肺阴影",  # clinical summary
        "右下肺片状影",
        "社区获得性肺炎",
        "抗感染治疗",
        "一周后复查胸片",
        signer.display_name,
        "县医院",  # signer's institution
        "2026-05-06 09:30:00 (UTC+08:00)",  # signed time in Asia/Shanghai
        sha256,
    ]:
        assert expected in text, expected

    fonts = subprocess.run(
        [_poppler("pdffonts"), str(pdf)], capture_output=True, check=True, text=True
    ).stdout.splitlines()[2:]
    assert fonts
    assert all("Noto-Sans-CJK-SC" in line for line in fonts), fonts
    assert all(line.split()[-5] == "yes" for line in fonts), "every font is embedded"
    info = subprocess.run(
        [_poppler("pdfinfo"), str(pdf)], capture_output=True, check=True, text=True
    ).stdout
    assert "(A4)" in info
    pages_line = re.search(r"^Pages:\s+(\d+)$", info, re.MULTILINE)
    assert pages_line
    pages = int(pages_line[1])
    for number in range(1, pages + 1):
        assert re.search(rf"\b{number}\s*/\s*{pages}\b", text), f"page number {number}"

    page_one = ["-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile"]
    subprocess.run([_poppler("pdftoppm"), *page_one, str(pdf), str(tmp_path / "page1")], check=True)
    with Image.open(tmp_path / "page1.png") as page:
        grey = page.convert("L")
        dark = sum(grey.histogram()[:128])
        width, height = grey.size
    assert abs(height / width - 297 / 210) < 0.01  # A4 upright
    assert dark > 2000, "page 1 rendered blank"


def test_pdf_defaults_to_the_latest_signed_version_and_older_ones_say_they_are_replaced(
    world: World, tmp_path: Path
) -> None:
    consult = _signed(world)
    _amend(world, consult)
    clinic = _client("clinic")

    latest = _text(_save(tmp_path, clinic.get(_pdf_url(consult)).content))
    assert "补充随访要求" in latest  # the amendment's reason

    response = clinic.get(_pdf_url(consult, "?version=1"))
    assert "opinion-v1.pdf" in response["Content-Disposition"]
    first = _text(_save(tmp_path, response.content))
    assert "补充随访要求" not in first
    assert "第 2 版" in first  # "an amended version (2) replaces this one"


def test_export_is_audited_with_the_version_and_the_patient(world: World) -> None:
    consult = _signed(world)
    assert _client("clinic").get(_pdf_url(consult)).status_code == 200
    export = AuditEvent.objects.get(event="consult.opinion_pdf")
    assert (export.patient_id, export.outcome) == (world.patient.pk, AuditOutcome.SUCCESS)
    assert export.detail == {"consult_id": consult.pk, "version": 1}


def test_unrelated_township_gets_404_and_the_attempt_is_audited(world: World) -> None:
    consult = _signed(world)
    response = _client("other_clinic").get(_pdf_url(consult))
    assert response.status_code == 404
    assert AuditEvent.objects.filter(
        event="consult.view", outcome=AuditOutcome.DENIED, resource_id=str(consult.pk)
    ).exists()
    assert not AuditEvent.objects.filter(event="consult.opinion_pdf").exists()


def test_unsigned_and_missing_versions_are_404(world: World) -> None:
    consult = _signed(world)
    opinion_draft_save(
        consult_id=consult.pk,
        actor_user=world.specialist,
        sections=SECTIONS,
        amendment_reason="草稿",
    )
    specialist = _client("specialist")
    assert specialist.get(_pdf_url(consult, "?version=2")).status_code == 404
    assert specialist.get(_pdf_url(consult, "?version=7")).status_code == 404
    unsigned = make_consult(world, Status.ACCEPTED)
    assert specialist.get(_pdf_url(unsigned)).status_code == 404


# The last is a fullwidth digit, which str.isdigit() alone would accept.
@pytest.mark.parametrize("version", ["abc", "-1", "1.5", "\uff11"])
def test_a_version_that_is_not_a_number_is_a_400_naming_it(world: World, version: str) -> None:
    consult = _signed(world)
    response = _client("clinic").get(_pdf_url(consult), {"version": version})
    assert (response.status_code, list(response.json())) == (400, ["version"])


def test_a_client_asking_for_pdf_gets_it_and_refusals_stay_readable(world: World) -> None:
    consult = _signed(world)
    response = _client("clinic").get(_pdf_url(consult), HTTP_ACCEPT="application/pdf")
    assert (response.status_code, response.content[:5]) == (200, b"%PDF-")
    hidden = _client("other_clinic").get(_pdf_url(consult), HTTP_ACCEPT="application/pdf")
    assert hidden.status_code == 404
    assert b"detail" in hidden.content


def test_the_pdf_is_in_chinese_for_a_chinese_reader(world: World, tmp_path: Path) -> None:
    consult = _signed(world)
    response = _client("clinic").get(_pdf_url(consult), HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = _text(_save(tmp_path, response.content))
    # Born 1958-03-14 (the factory), so 68 when the opinion was signed on 2026-05-06.
    for label in ("患者", "会诊申请", "签名", "签署时间", "68 岁"):
        assert label in text, label


def test_the_pdf_names_the_patients_birth_date_and_health_card_number(
    world: World, tmp_path: Path
) -> None:
    world.patient.health_card_number = "HC-0042"
    world.patient.save(update_fields=["health_card_number"])
    consult = _signed(world)
    text = _text(_save(tmp_path, _client("clinic").get(_pdf_url(consult)).content))
    for expected in ("出生日期", "1958-03-14", "健康卡号", "HC-0042"):
        assert expected in text, expected


def _pages(pdf: Path) -> list[str]:
    info = subprocess.run(
        [_poppler("pdfinfo"), str(pdf)], capture_output=True, check=True, text=True
    ).stdout
    count = re.search(r"^Pages:\s+(\d+)$", info, re.MULTILINE)
    assert count
    return [
        subprocess.run(
            [_poppler("pdftotext"), "-f", str(n), "-l", str(n), str(pdf), "-"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        for n in range(1, int(count[1]) + 1)
    ]


def test_the_signature_stays_whole_and_with_the_end_of_the_last_section(
    world: World, tmp_path: Path
) -> None:
    consult = _signed(world)
    version = consult.opinion.versions.get()
    # Findings of these lengths end the follow-up advice near the foot of page 2, where the
    # signature alone (or part of it) used to go over to page 3.
    for lines in range(30, 44, 2):
        version.findings = "\n".join(f"第{n}行所见" for n in range(lines))
        pdf = _save(tmp_path, opinion_pdf_render(consult=consult, version=version))
        pages = _pages(pdf)
        signature = [page for page in pages if "签名" in page]
        assert len(signature) == 1, lines
        for part in ("签署人", "签署时间", "导出时间", "随访建议", "一周后复查胸片"):
            assert part in signature[0], (lines, part)


def test_the_english_pdf_has_an_english_title(world: World, tmp_path: Path) -> None:
    consult = _signed(world)
    response = _client("clinic").get(_pdf_url(consult), HTTP_ACCEPT_LANGUAGE="en")
    text = _text(_save(tmp_path, response.content))
    assert "Consult opinion (for reference)" in text
    assert LABEL not in text
    for label in ("Patient", "Birth date", "Signature"):
        assert label in text, label
