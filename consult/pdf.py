"""The signed opinion as a PDF: which version a user may export, and rendering it (A4, CJK)."""

import base64
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AnonymousUser
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext
from weasyprint import HTML, URLFetcher  # type: ignore[import-untyped]  # no type hints

from consult.audit import consult_audit
from consult.models import ConsultRequest, OpinionVersion
from consult.selectors import consult_get_for_user
from consult.services import opinion_version_intact
from server.access import NotFound
from server.accounts.models import User
from server.audit.models import AuditAction

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TEMPLATE = "consult/pdf/opinion.html"


@dataclass(frozen=True)
class OpinionPdf:
    filename: str
    content: bytes


def _shanghai(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return timezone.localtime(moment, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S (UTC+08:00)")


def _age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _signed_version(consult: ConsultRequest, number: int | None) -> OpinionVersion:
    signed = OpinionVersion.objects.filter(
        opinion__consult=consult, signed_at__isnull=False
    ).select_related("signed_by__institution")
    version = (
        signed.order_by("-number").first()
        if number is None
        else signed.filter(number=number).first()
    )
    if version is None:
        raise NotFound
    return version


def opinion_pdf_context(*, consult: ConsultRequest, version: OpinionVersion) -> dict[str, Any]:
    """What the PDF template shows: the patient, the request, the signed sections, the signer."""
    assert version.signed_at is not None
    assert version.signed_by is not None
    patient = consult.patient
    signer = version.signed_by
    latest = (
        OpinionVersion.objects.filter(opinion_id=version.opinion_id, signed_at__isnull=False)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )
    return {
        # The title in the reader's language; the signed content keeps OPINION_LABEL, which is
        # this title's Chinese.
        "label": gettext("Consult opinion (for reference)"),
        "consult": consult,
        "patient": patient,
        # The age when the opinion was signed: the document describes that moment.
        "patient_age": _age_on(
            patient.birth_date, timezone.localtime(version.signed_at, SHANGHAI).date()
        ),
        "requester": consult.requester,
        "version": version,
        "signer": signer,
        "signed_at": _shanghai(version.signed_at),
        "created_at": _shanghai(consult.created_at),
        "exported_at": _shanghai(timezone.now()),
        "superseded_by": latest if latest is not None and latest > version.number else None,
        "intact": opinion_version_intact(version),
    }


def _key_images(version: OpinionVersion) -> list[dict[str, str]]:
    """The version's key images, inlined as data: URIs so the PDF needs no other resource."""
    images = []
    for key_image in version.key_images.order_by("added_at", "pk"):
        with key_image.file.open("rb") as stored:
            encoded = base64.b64encode(stored.read()).decode("ascii")
        images.append(
            {
                "caption": key_image.caption,
                "sop_instance_uid": key_image.sop_instance_uid,
                "sha256": key_image.sha256,
                "src": f"data:image/png;base64,{encoded}",
            }
        )
    return images


def opinion_pdf_render(*, consult: ConsultRequest, version: OpinionVersion) -> bytes:
    """Render the version as an A4 PDF; fontconfig finds Noto Sans CJK SC and it is embedded."""
    context = opinion_pdf_context(consult=consult, version=version)
    html = render_to_string(TEMPLATE, {**context, "key_images": _key_images(version)})
    # The template is self-contained (key images are data: URIs); fetching nothing else keeps
    # rendering off the network and the disk.
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    content: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf()
    return content


def opinion_pdf_export(
    *, user: User | AnonymousUser, consult_id: int, number: int | None = None
) -> OpinionPdf:
    """The PDF of a signed version (the latest by default) of a consult the user may view.

    Both the consult read and the export are audited.
    Raises: NotFound for hidden consults and for missing or unsigned versions.
    """
    consult = consult_get_for_user(user=user, consult_id=consult_id)
    consult = ConsultRequest.objects.select_related(
        "patient__home_institution", "requester", "inviting_institution"
    ).get(pk=consult.pk)
    version = _signed_version(consult, number)
    content = opinion_pdf_render(consult=consult, version=version)
    consult_audit(
        user=user,
        action=AuditAction.READ,
        event="consult.opinion_pdf",
        consult=consult,
        resource_type="OpinionVersion",
        resource_id=version.pk,
        detail={"consult_id": consult.pk, "version": version.number},
    )
    logger.info("Opinion PDF of consult %d v%d exported", consult.pk, version.number)
    return OpinionPdf(
        filename=f"consult-{consult.pk}-opinion-v{version.number}.pdf", content=content
    )
