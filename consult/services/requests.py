"""Creating consult requests: the invitation, its consent and its attachments."""

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict, Unpack

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consult import files
from consult.audit import consult_audit
from consult.errors import ConsultError, InvalidAttachment, NotEditable
from consult.lifecycle import ATTACHABLE, TERMINAL
from consult.models import (
    ConsultAttachment,
    ConsultRequest,
    Kind,
    Status,
    TargetKind,
    Urgency,
)
from consult.selectors import consult_facts, consult_get_for_user
from consult.services.eligibility import Ineligible, ineligibility
from server.access import Action, ConsultAction, actor_for, consult_permits, patient_permits
from server.accounts.models import User
from server.audit.models import AuditAction
from server.directory.errors import NotAllowed
from server.directory.models import Department, Patient, Practitioner
from server.lib.dates import MOMENT_RANGE_MESSAGE, moment_plausible

# Why a named specialist cannot take the consult, in words; the other reasons share the last.
TARGET_REFUSALS: dict[str, Promise] = {
    Ineligible.SPECIALTY: gettext_lazy(
        "This specialist does not practise the specialty asked for: choose one who does, or "
        "send the request to the consult centre."
    ),
    Ineligible.TITLE: gettext_lazy("This specialist does not hold the minimum title asked for."),
}
TARGET_REFUSAL = gettext_lazy(
    "This specialist cannot take the consult: check the specialty, title and years of "
    "independent practice asked for."
)


@dataclass(frozen=True)
class ConsultDraft:
    """What the inviting doctor fills in."""

    patient_id: int
    kind: str
    mode: str
    urgency: str
    reason: str
    purpose: str
    clinical_summary: str
    wanted_specialty: str
    minimum_title: str
    target_kind: str
    target_practitioner_id: int | None = None
    target_department_id: int | None = None
    preferred_start: datetime | None = None
    preferred_end: datetime | None = None
    consent_signer: str = ""
    consent_relation: str = ""
    consent_method: str = ""
    emergency_waiver: bool = False
    waiver_reason: str = ""


class ConsultDraftChanges(TypedDict, total=False):
    """Fields of a ConsultDraft to change; the ones left out keep their value."""

    patient_id: int
    kind: str
    mode: str
    urgency: str
    reason: str
    purpose: str
    clinical_summary: str
    wanted_specialty: str
    minimum_title: str
    target_kind: str
    target_practitioner_id: int | None
    target_department_id: int | None
    preferred_start: datetime | None
    preferred_end: datetime | None
    consent_signer: str
    consent_relation: str
    consent_method: str
    emergency_waiver: bool
    waiver_reason: str


DRAFT_FIELDS = frozenset(f.name for f in dataclasses.fields(ConsultDraft))


def _draft_of(consult: ConsultRequest) -> ConsultDraft:
    return ConsultDraft(
        patient_id=consult.patient_id,
        kind=consult.kind,
        mode=consult.mode,
        urgency=consult.urgency,
        reason=consult.reason,
        purpose=consult.purpose,
        clinical_summary=consult.clinical_summary,
        wanted_specialty=consult.wanted_specialty,
        minimum_title=consult.minimum_title,
        target_kind=consult.target_kind,
        target_practitioner_id=consult.target_practitioner_id,
        target_department_id=consult.target_department_id,
        preferred_start=consult.preferred_start,
        preferred_end=consult.preferred_end,
        consent_signer=consult.consent_signer,
        consent_relation=consult.consent_relation,
        consent_method=consult.consent_method,
        emergency_waiver=consult.emergency_waiver,
        waiver_reason=consult.waiver_reason,
    )


def _apply_draft(consult: ConsultRequest, draft: ConsultDraft) -> None:
    """Copy the draft's fields onto the row; `_check_draft` then sets the targets it names."""
    consult.kind = draft.kind
    consult.mode = draft.mode
    consult.urgency = draft.urgency
    consult.reason = draft.reason.strip()
    consult.purpose = draft.purpose.strip()
    consult.clinical_summary = draft.clinical_summary.strip()
    consult.wanted_specialty = draft.wanted_specialty
    consult.minimum_title = draft.minimum_title
    consult.preferred_start = draft.preferred_start
    consult.preferred_end = draft.preferred_end
    consult.target_kind = draft.target_kind
    consult.target_practitioner = None
    consult.target_department = None
    consult.consent_signer = draft.consent_signer.strip()
    consult.consent_relation = draft.consent_relation
    consult.consent_method = draft.consent_method
    consult.emergency_waiver = draft.emergency_waiver
    consult.waiver_reason = draft.waiver_reason.strip()
    consult.consent_follow_up_due = draft.emergency_waiver and not consult.consent_signer


def _check_draft(draft: ConsultDraft, consult: ConsultRequest) -> None:
    for name in ("preferred_start", "preferred_end"):
        moment = getattr(draft, name)
        if moment is not None and not moment_plausible(moment):
            raise ConsultError(MOMENT_RANGE_MESSAGE, field=name)
    if (
        draft.preferred_start
        and draft.preferred_end
        and draft.preferred_end <= draft.preferred_start
    ):
        raise ConsultError(_("The window must end after it starts."), field="preferred_end")
    if draft.emergency_waiver:
        if draft.urgency == Urgency.ROUTINE:
            raise ConsultError(
                _("Consent can be waived only for critical or urgent consults."),
                field="emergency_waiver",
            )
        if not draft.waiver_reason.strip():
            raise ConsultError(
                _("Give the reason consent cannot be obtained."), field="waiver_reason"
            )
    if draft.kind == Kind.MDT and draft.target_kind == TargetKind.SPECIALIST:
        raise ConsultError(
            _("An MDT team is chosen by the consult centre or a department head."),
            field="target_kind",
        )
    if draft.target_kind == TargetKind.SPECIALIST:
        named = (
            Practitioner.objects.select_related("institution")
            .prefetch_related("roles")
            .filter(pk=draft.target_practitioner_id or 0)
            .first()
        )
        problem = (
            "is unknown" if named is None else ineligibility(practitioner=named, consult=consult)
        )
        if problem or named is None:
            raise ConsultError(
                TARGET_REFUSALS.get(problem, TARGET_REFUSAL),
                field="target_practitioner_id",
                code=Ineligible(problem).name.lower() if problem in set(Ineligible) else "",
            )
        consult.target_practitioner = named
    if draft.target_kind == TargetKind.DEPARTMENT:
        department = Department.objects.filter(
            pk=draft.target_department_id or 0,
            institution__consortium_id=consult.consortium_id,
        ).first()
        if department is None:
            raise ConsultError("No such department.", field="target_department_id")
        consult.target_department = department


@transaction.atomic
def consult_request_create(*, actor_user: User, draft: ConsultDraft) -> ConsultRequest:
    """Create a draft invitation about a patient the doctor may see.

    Raises: NotAllowed for non-clinicians; ConsultError naming the field at fault.
    """
    actor = actor_for(actor_user)
    if actor is None:
        raise NotAllowed("Only practitioners can request consults.")
    patient = Patient.objects.filter(pk=draft.patient_id, merged_into__isnull=True).first()
    if patient is None or not patient_permits(actor, Action.REQUEST_CONSULT, patient):
        # The same answer for missing and hidden patients, so neither leaks.
        raise ConsultError(_("No such patient."), field="patient_id")
    consult = ConsultRequest(
        consortium_id=patient.consortium_id,
        patient=patient,
        inviting_institution_id=actor.institution_id,
        requester_id=actor.practitioner_id,
    )
    _apply_draft(consult, draft)
    consult.consent_recorded_at = timezone.now() if consult.consent_signer else None
    _check_draft(draft, consult)
    consult.save()
    consult_audit(
        user=actor_user, action=AuditAction.CREATE, event="consult.create", consult=consult
    )
    return consult


@transaction.atomic
def consult_draft_update(
    *, actor_user: User, consult_id: int, **changes: Unpack[ConsultDraftChanges]
) -> ConsultRequest:
    """Change a draft invitation before it is submitted, checked as on creation.

    Raises: NotFound for consults the user may not see; NotAllowed for anyone but the
    requester; NotEditable once it is submitted; ConsultError naming the field at fault (the
    patient is one: consent and attachments are the patient's, so it cannot change).
    """
    unknown = sorted(set(changes) - DRAFT_FIELDS)
    if unknown:
        raise ConsultError("This field cannot be changed.", field=unknown[0])
    consult_get_for_user(user=actor_user, consult_id=consult_id, audit=False)
    consult = ConsultRequest.objects.select_for_update().get(pk=consult_id)
    actor = actor_for(actor_user)
    if not consult_permits(actor, ConsultAction.REQUEST, consult_facts(consult=consult)):
        raise NotAllowed("Only the requesting doctor may edit the draft.")
    assert actor is not None  # consult_permits allowed the actor
    if consult.status != Status.DRAFT:
        raise NotEditable
    before = _draft_of(consult)
    draft = dataclasses.replace(before, **changes)
    if draft.patient_id != before.patient_id:
        # Consent and attachments belong to the patient; a new patient is a new request.
        raise ConsultError(
            _("The patient cannot be changed; cancel the draft and request again."),
            field="patient_id",
        )
    signer_before = consult.consent_signer
    _apply_draft(consult, draft)
    _check_draft(draft, consult)
    if consult.consent_signer != signer_before:
        consult.consent_recorded_at = timezone.now() if consult.consent_signer else None
    consult.save()
    changed = sorted(
        f.name
        for f in dataclasses.fields(draft)
        if getattr(draft, f.name) != getattr(before, f.name)
    )
    consult_audit(
        user=actor_user,
        action=AuditAction.UPDATE,
        event="consult.draft_update",
        consult=consult,
        # Names only: the values are clinical text.
        detail={"fields": changed},
    )
    return consult


@transaction.atomic
def consult_consent_record(
    *, consult_id: int, actor_user: User, signer: str, relation: str, method: str
) -> ConsultRequest:
    """Record the patient's consent, also after an emergency waiver (ends its follow-up)."""
    consult = consult_get_for_user(
        user=actor_user, consult_id=consult_id, action=ConsultAction.REQUEST, audit=False
    )
    if consult.status in TERMINAL:
        raise ConsultError("The consult is over.", field="consult")
    if not signer.strip():
        raise ConsultError("Name who signed the consent.", field="signer")
    ConsultRequest.objects.filter(pk=consult.pk).update(
        consent_signer=signer.strip(),
        consent_relation=relation,
        consent_method=method,
        consent_recorded_at=timezone.now(),
        consent_follow_up_due=False,
    )
    consult.refresh_from_db()
    return consult


@transaction.atomic
def consult_attachment_add(
    *, consult_id: int, actor_user: User, kind: str, upload: UploadedFile
) -> ConsultAttachment:
    """Attach a file to the request after checking its real type and its size.

    Raises: InvalidAttachment naming the `file` field.
    """
    consult = consult_get_for_user(
        user=actor_user, consult_id=consult_id, action=ConsultAction.REQUEST, audit=False
    )
    if consult.status not in ATTACHABLE:
        raise ConsultError("The consult is over; nothing more can be attached.", field="file")
    upload.seek(0)
    head = upload.read(16)
    checked = files.check(kind=kind, head=head, size=upload.size or 0)
    if isinstance(checked, str):
        raise InvalidAttachment(checked, field="file")
    broken = files.structure_problem(checked, upload, upload.size or 0)
    if broken is not None:
        raise InvalidAttachment(broken, field="file")
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    actor = actor_for(actor_user)
    assert actor is not None  # consult_get_for_user allowed the actor
    attachment = ConsultAttachment(
        consult=consult,
        kind=kind,
        content_type=checked.content_type,
        extension=checked.extension,
        size=upload.size or 0,
        sha256=digest.hexdigest(),
        original_name=(upload.name or "")[:200],
        uploaded_by_id=actor.practitioner_id,
    )
    attachment.file.save(f"{attachment.sha256}{checked.extension}", upload, save=False)
    attachment.save()
    consult_audit(
        user=actor_user,
        action=AuditAction.CREATE,
        event="consult.attachment_add",
        consult=consult,
        resource_type="ConsultAttachment",
        resource_id=attachment.pk,
        detail={"consult_id": consult.pk, "kind": kind, "size": attachment.size},
    )
    return attachment
