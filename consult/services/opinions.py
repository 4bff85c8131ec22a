"""Opinions: drafts, MDT contributions, signing with the password again, amendments."""

import hashlib
import json
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext

from consult.audit import consult_audit
from consult.errors import InvalidTransition, NotQualified, OpinionFrozen, PasswordMismatch
from consult.lifecycle import parties_for
from consult.models import (
    OPINION_LABEL,
    ConsultRequest,
    Kind,
    Opinion,
    OpinionContribution,
    OpinionKeyImage,
    OpinionVersion,
    Status,
)
from consult.selectors import consult_get_for_user
from consult.services.eligibility import MIN_YEARS_OF_INDEPENDENT_PRACTICE
from consult.services.notices import consult_notification_subject
from consult.services.transitions import (
    consult_link,
    consult_publish_worklists,
    consult_transition,
)
from server.access import ConsultAction, actor_for
from server.accounts.models import User
from server.accounts.services import password_confirm
from server.audit.models import AuditAction
from server.directory.models import Practitioner
from server.notifications.models import NotificationKind
from server.notifications.services import notification_send

WRITING = frozenset({Status.ACCEPTED, Status.SCHEDULED, Status.UNDER_REVIEW, Status.IN_SESSION})
AMENDABLE = frozenset({Status.OPINION_SIGNED, Status.CLOSED})


@dataclass(frozen=True)
class OpinionSections:
    findings: str
    impression: str
    recommendations: str
    referral_advised: bool
    follow_up_advice: str


def _locked(consult_id: int) -> ConsultRequest:
    return ConsultRequest.objects.select_for_update(of=("self",)).get(pk=consult_id)


def opinion_draft_for(consult: ConsultRequest, *, amendment_reason: str) -> OpinionVersion:
    """The open draft of a locked consult's opinion, started if there is none.

    An amendment starts from the latest signed version, its key images included.
    Raises: OpinionFrozen when the opinion is signed and no amendment reason is given.
    """
    opinion, _ = Opinion.objects.get_or_create(consult=consult)
    draft = opinion.versions.filter(signed_at__isnull=True).first()
    if draft is not None:
        return draft
    latest = opinion.versions.order_by("-number").first()
    if latest is not None and not amendment_reason.strip():
        raise OpinionFrozen(
            gettext("The opinion is signed; say why you amend it."), field="amendment_reason"
        )
    number = (opinion.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    base = latest or OpinionVersion(
        findings="", impression="", recommendations="", follow_up_advice=""
    )
    draft = OpinionVersion.objects.create(
        opinion=opinion,
        number=number,
        findings=base.findings,
        impression=base.impression,
        recommendations=base.recommendations,
        referral_advised=base.referral_advised,
        follow_up_advice=base.follow_up_advice,
    )
    if latest is not None:
        OpinionKeyImage.objects.bulk_create(
            OpinionKeyImage(
                version=draft,
                study_instance_uid=k.study_instance_uid,
                sop_instance_uid=k.sop_instance_uid,
                caption=k.caption,
                file=k.file.name,
                sha256=k.sha256,
                size=k.size,
                width=k.width,
                height=k.height,
                added_by_id=k.added_by_id,
                added_at=k.added_at,
            )
            for k in latest.key_images.all()
        )
    return draft


@transaction.atomic
def opinion_draft_save(
    *,
    consult_id: int,
    actor_user: User,
    sections: OpinionSections,
    amendment_reason: str = "",
) -> OpinionVersion:
    """Write the lead's draft; after signing, the first save starts an amendment."""
    consult_get_for_user(
        user=actor_user, consult_id=consult_id, action=ConsultAction.SIGN, audit=False
    )
    consult = _locked(consult_id)
    if consult.status not in WRITING | AMENDABLE:
        raise InvalidTransition("The opinion cannot be written now.", field="status")
    draft = opinion_draft_for(consult, amendment_reason=amendment_reason)
    actor = actor_for(actor_user)
    assert actor is not None
    draft.findings = sections.findings.strip()
    draft.impression = sections.impression.strip()
    draft.recommendations = sections.recommendations.strip()
    draft.referral_advised = sections.referral_advised
    draft.follow_up_advice = sections.follow_up_advice.strip()
    if amendment_reason.strip():
        draft.amendment_reason = amendment_reason.strip()
    draft.edited_by_id = actor.practitioner_id
    draft.save()
    return draft


@transaction.atomic
def opinion_contribute(*, consult_id: int, actor_user: User, text: str) -> OpinionContribution:
    """An MDT member writes or rewrites their part before the lead signs."""
    consult_get_for_user(
        user=actor_user, consult_id=consult_id, action=ConsultAction.CONTRIBUTE, audit=False
    )
    consult = _locked(consult_id)
    if consult.kind != Kind.MDT:
        raise InvalidTransition("Only MDT discussions take contributions.", field="text")
    if consult.status not in WRITING:
        raise InvalidTransition("The discussion is not open.", field="status")
    if not text.strip():
        raise InvalidTransition("Write your contribution.", field="text")
    actor = actor_for(actor_user)
    assert actor is not None
    opinion, _ = Opinion.objects.get_or_create(consult=consult)
    contribution, _ = OpinionContribution.objects.update_or_create(
        opinion=opinion, practitioner_id=actor.practitioner_id, defaults={"text": text.strip()}
    )
    return contribution


def opinion_canonical(version: OpinionVersion) -> bytes:
    """The signed content as bytes: sorted-key JSON of every section, the key images' hashes,
    signer and time."""
    assert version.signed_at is not None
    content = {
        "label": OPINION_LABEL,
        "consult_id": version.opinion.consult_id,
        "version": version.number,
        "findings": version.findings,
        "impression": version.impression,
        "recommendations": version.recommendations,
        "referral_advised": version.referral_advised,
        "follow_up_advice": version.follow_up_advice,
        "amendment_reason": version.amendment_reason,
        "contributions": version.contributions,
        "signed_by": version.signed_by_id,
        "signed_at": version.signed_at.isoformat(timespec="microseconds"),
    }
    key_images = [
        {"sop_instance_uid": k.sop_instance_uid, "caption": k.caption, "sha256": k.sha256}
        for k in version.key_images.order_by("added_at", "pk")
    ]
    # Only when there are some, so versions signed before key images existed keep their hash.
    if key_images:
        content["key_images"] = key_images
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def opinion_version_intact(version: OpinionVersion) -> bool:
    """Whether a signed version still matches the hash taken when it was signed."""
    return hashlib.sha256(opinion_canonical(version)).hexdigest() == version.content_sha256


def opinion_sign(
    *,
    consult_id: int,
    actor_user: User,
    password: str,
    sections: OpinionSections | None = None,
    amendment_reason: str = "",
) -> OpinionVersion:
    """Sign and freeze the draft; the first signature completes the consult, later ones amend.

    With `sections`, the draft is first written with them in the same transaction, so what is
    signed is what the signer had on screen, and a refusal leaves the saved draft unchanged.
    Not atomic itself: the password is checked first, outside the signing transaction, so that
    a wrong one stays counted by the sign-in lock-out when the signature is refused.
    Raises: PasswordMismatch, AccountLocked, NotQualified, InvalidTransition, OpinionFrozen.
    """
    consult_get_for_user(
        user=actor_user, consult_id=consult_id, action=ConsultAction.SIGN, audit=False
    )
    if not password_confirm(user=actor_user, password=password):
        raise PasswordMismatch(gettext("The password is not correct."), field="password")
    return _opinion_sign(
        consult_id=consult_id,
        actor_user=actor_user,
        sections=sections,
        amendment_reason=amendment_reason,
    )


@transaction.atomic
def _opinion_sign(
    *,
    consult_id: int,
    actor_user: User,
    sections: OpinionSections | None,
    amendment_reason: str,
) -> OpinionVersion:
    if sections is not None:
        opinion_draft_save(
            consult_id=consult_id,
            actor_user=actor_user,
            sections=sections,
            amendment_reason=amendment_reason,
        )
    consult = _locked(consult_id)
    amendment = consult.status in AMENDABLE
    if not amendment and not parties_for(consult.status, Status.OPINION_SIGNED):
        raise InvalidTransition(
            f"An opinion cannot be signed while the consult is {consult.status}.", field="status"
        )
    actor = actor_for(actor_user)
    assert actor is not None
    signer = Practitioner.objects.get(pk=actor.practitioner_id)
    if signer.years_of_independent_practice < MIN_YEARS_OF_INDEPENDENT_PRACTICE:
        raise NotQualified(
            gettext("Signing needs %(years)d years of independent practice.")
            % {"years": MIN_YEARS_OF_INDEPENDENT_PRACTICE},
            field="password",
        )
    draft = OpinionVersion.objects.filter(opinion__consult=consult, signed_at__isnull=True).first()
    if draft is None:
        raise InvalidTransition(gettext("There is no draft to sign."), field="impression")
    if not draft.impression:
        raise InvalidTransition(gettext("Write the impression before signing."), field="impression")
    contributions = _contributions_for_signing(consult)
    draft.contributions = contributions
    draft.signed_by = signer
    draft.signed_at = timezone.now()
    draft.content_sha256 = hashlib.sha256(opinion_canonical(draft)).hexdigest()
    draft.save()
    consult_audit(
        user=actor_user,
        action=AuditAction.EXECUTE,
        event="consult.opinion_sign",
        consult=consult,
        resource_type="OpinionVersion",
        resource_id=draft.pk,
        detail={"consult_id": consult.pk, "version": draft.number, "sha256": draft.content_sha256},
    )
    if amendment:
        notification_send(
            recipient_ids=[consult.requester.user_id],
            kind=NotificationKind.CONSULT_OPINION_AMENDED,
            link=consult_link(consult.pk),
            subject=consult_notification_subject(consult),
        )
        consult_publish_worklists(consult, from_status=consult.status)
    else:
        consult_transition(consult_id=consult.pk, actor_user=actor_user, to=Status.OPINION_SIGNED)
    return draft


def _contributions_for_signing(consult: ConsultRequest) -> list[dict[str, object]]:
    """MDT: the lead signs last, once every other member has written their part."""
    if consult.kind != Kind.MDT:
        return []
    members = list(
        consult.participants.filter(ended_at__isnull=True)
        .select_related("practitioner")
        .order_by("practitioner_id")
    )
    written = {
        c.practitioner_id: c for c in OpinionContribution.objects.filter(opinion__consult=consult)
    }
    missing = [
        m.practitioner_id for m in members if not m.is_lead and m.practitioner_id not in written
    ]
    if missing:
        raise InvalidTransition(
            gettext("Every MDT member must contribute before the lead signs."),
            field="contributions",
        )
    return [
        {
            "practitioner_id": m.practitioner_id,
            "name": m.practitioner.display_name,
            "text": written[m.practitioner_id].text,
        }
        for m in members
        if m.practitioner_id in written
    ]
