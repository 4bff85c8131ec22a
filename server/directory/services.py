"""Directory services: patient registration, duplicate review and access grants."""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from server.access import (
    Action,
    Actor,
    NotFound,
    actor_for,
    consortium_permits,
    institution_permits,
    patient_permits,
    practitioners_permitted,
)
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record
from server.directory.errors import (
    DuplicateAlreadyReviewed,
    NotAllowed,
    PatientAlreadyRegistered,
    PatientInvalid,
)
from server.directory.models import (
    AccessGrant,
    DuplicateReason,
    DuplicateStatus,
    Institution,
    Patient,
    PatientDuplicate,
    Practitioner,
    access_grant_default_end,
)
from server.lib.dates import EARLIEST_BIRTH_DATE, birth_date_possible
from server.notifications.models import NotificationKind
from server.notifications.services import notification_send


def national_id_hash(national_id: str) -> str:
    """Keyed hash of a national ID number, normalised (spaces dropped, check letter upper)."""
    normalised = "".join(national_id.split()).upper()
    key = settings.PATIENT_ID_HASH_KEY.encode()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Registration:
    patient: Patient
    duplicates: list[PatientDuplicate]


def _find_duplicates(patient: Patient) -> list[tuple[Patient, DuplicateReason]]:
    """Records that may be the same person; the same national ID is refused before this."""
    candidates = Patient.objects.filter(
        consortium_id=patient.consortium_id, merged_into__isnull=True
    ).exclude(pk=patient.pk)
    found: dict[int, tuple[Patient, DuplicateReason]] = {}
    matchers = [
        (
            Q(health_card_number=patient.health_card_number),
            DuplicateReason.SAME_HEALTH_CARD,
            bool(patient.health_card_number),
        ),
        (
            Q(name=patient.name, birth_date=patient.birth_date, sex=patient.sex),
            DuplicateReason.SAME_DEMOGRAPHICS,
            True,
        ),
    ]
    for condition, reason, applies in matchers:
        if not applies:
            continue
        for existing in candidates.filter(condition):
            found.setdefault(existing.pk, (existing, reason))
    return list(found.values())


# Merges never chain deeper than a few links; the bound only guards against a cycle.
_MAX_MERGE_LINKS = 16


def _registered_with_national_id(*, consortium_id: int, hashed: str) -> Patient | None:
    """The current record of the person with this national ID hash, following merges."""
    records = Patient.objects.select_related("home_institution").filter(
        consortium_id=consortium_id, national_id_hash=hashed
    )
    patient = records.filter(merged_into__isnull=True).first() or records.first()
    for _link in range(_MAX_MERGE_LINKS):
        if patient is None or patient.merged_into_id is None:
            break
        patient = (
            Patient.objects.select_related("home_institution")
            .filter(pk=patient.merged_into_id)
            .first()
        )
    return patient


def _refuse_registered(*, user: User, actor: Actor, existing: Patient) -> PatientAlreadyRegistered:
    """Audit the refused registration and say how much the user may know about the record."""
    audit_record(
        user=user,
        action=AuditAction.CREATE,
        event="patient.register",
        outcome=AuditOutcome.DENIED,
        actor_institution_id=actor.institution_id,
        resource_type="Patient",
        resource_id=existing.pk,
        patient_id=existing.pk,
        patient_institution_id=existing.home_institution_id,
        detail={"reason": DuplicateReason.SAME_NATIONAL_ID.value},
    )
    if patient_permits(actor, Action.VIEW, existing):
        return PatientAlreadyRegistered(
            _(
                "A patient with this national ID number is already registered in the "
                "consortium. Nothing new was registered: open the existing record."
            ),
            patient_id=existing.pk,
        )
    # Only that the person is registered: the caller holds their ID card, so this much is
    # theirs to know; which institution holds the record, and anything in it, is not.
    return PatientAlreadyRegistered(
        _(
            "A patient with this national ID number is already registered in the consortium, "
            "in a record you may not open. Nothing new was registered. To get access, ask a "
            "coordinator of the consortium: they can see every record and arrange access "
            "for you."
        ),
        patient_id=None,
    )


def patient_register(
    *,
    user: User,
    name: str,
    sex: str,
    birth_date: date,
    national_id: str = "",
    health_card_number: str = "",
    phone: str = "",
) -> Registration:
    """Register a patient at the user's institution and flag suspected duplicates for review.

    Raises: NotAllowed if the user may not register patients; PatientInvalid for a birth date
    outside a life; PatientAlreadyRegistered if a current record has the same national ID
    number (the refusal is audited and kept).
    """
    if not birth_date_possible(birth_date):
        raise PatientInvalid(
            _("The birth date must lie between %(earliest)s and today.")
            % {"earliest": EARLIEST_BIRTH_DATE.isoformat()},
            field="birth_date",
        )
    actor = actor_for(user)
    institution = Institution.objects.filter(pk=actor.institution_id).first() if actor else None
    if (
        actor is None
        or institution is None
        or not institution_permits(actor, Action.REGISTER_PATIENT, institution)
    ):
        raise NotAllowed("Only clinicians can register patients at their own institution.")
    hashed = national_id_hash(national_id) if national_id.strip() else ""
    existing = (
        _registered_with_national_id(consortium_id=institution.consortium_id, hashed=hashed)
        if hashed
        else None
    )
    if existing is None:
        try:
            return _patient_create(
                user=user,
                actor=actor,
                institution=institution,
                national_id_hash=hashed,
                health_card_number=health_card_number.strip(),
                name=name.strip(),
                sex=sex,
                birth_date=birth_date,
                phone=phone.strip(),
            )
        except IntegrityError:
            # A concurrent registration of the same person committed first.
            existing = (
                _registered_with_national_id(consortium_id=institution.consortium_id, hashed=hashed)
                if hashed
                else None
            )
            if existing is None:
                raise
    # Outside the creating transaction, so the refusal stays in the audit trail.
    raise _refuse_registered(user=user, actor=actor, existing=existing)


@transaction.atomic
def _patient_create(
    *,
    user: User,
    actor: Actor,
    institution: Institution,
    national_id_hash: str,
    health_card_number: str,
    name: str,
    sex: str,
    birth_date: date,
    phone: str,
) -> Registration:
    patient = Patient.objects.create(
        consortium_id=institution.consortium_id,
        home_institution=institution,
        national_id_hash=national_id_hash,
        health_card_number=health_card_number,
        name=name,
        sex=sex,
        birth_date=birth_date,
        phone=phone,
        registered_by_id=actor.practitioner_id,
    )
    duplicates = [
        PatientDuplicate.objects.create(
            consortium_id=patient.consortium_id,
            new_patient=patient,
            existing_patient=existing,
            reason=reason,
        )
        for existing, reason in _find_duplicates(patient)
    ]
    audit_record(
        user=user,
        action=AuditAction.CREATE,
        event="patient.register",
        actor_institution_id=actor.institution_id,
        resource_type="Patient",
        resource_id=patient.pk,
        patient_id=patient.pk,
        patient_institution_id=institution.pk,
        detail={"suspected_duplicates": [d.existing_patient_id for d in duplicates]},
    )
    if duplicates:
        coordinators = Practitioner.objects.filter(
            practitioners_permitted(Action.REVIEW_DUPLICATES),
            institution__consortium_id=patient.consortium_id,
        ).values_list("user_id", flat=True)
        notification_send(
            recipient_ids=list(coordinators),
            kind=NotificationKind.DUPLICATE_SUSPECTED,
            link=f"/duplicates/#duplicate-{duplicates[0].pk}",
        )
    return Registration(patient=patient, duplicates=duplicates)


@transaction.atomic
def patient_duplicate_resolve(*, user: User, duplicate_id: int, merge: bool) -> PatientDuplicate:
    """Merge the newly registered record into the existing one, or dismiss the suspicion.

    Raises: NotFound if the caller may not review it; DuplicateAlreadyReviewed.
    """
    actor = actor_for(user)
    duplicate = (
        PatientDuplicate.objects.select_for_update()
        .select_related("new_patient", "existing_patient")
        .filter(pk=duplicate_id)
        .first()
    )
    if (
        actor is None
        or duplicate is None
        or not consortium_permits(actor, Action.REVIEW_DUPLICATES, duplicate.consortium_id)
    ):
        raise NotFound
    if duplicate.status != DuplicateStatus.OPEN:
        raise DuplicateAlreadyReviewed
    duplicate.status = DuplicateStatus.MERGED if merge else DuplicateStatus.DISMISSED
    duplicate.reviewed_by_id = actor.practitioner_id
    duplicate.reviewed_at = timezone.now()
    duplicate.save()
    if merge:
        source = duplicate.new_patient
        source.merged_into = duplicate.existing_patient
        source.save(update_fields=["merged_into"])
    audit_record(
        user=user,
        action=AuditAction.UPDATE,
        event="patient.merge" if merge else "patient.duplicate_dismiss",
        actor_institution_id=actor.institution_id,
        resource_type="Patient",
        resource_id=duplicate.new_patient_id,
        patient_id=duplicate.new_patient_id,
        patient_institution_id=duplicate.new_patient.home_institution_id,
        detail={"existing_patient_id": duplicate.existing_patient_id},
    )
    return duplicate


def _grant_renew(
    *,
    patient_id: int,
    institution_id: int,
    user_id: int,
    source_type: str,
    source_id: str,
    reason: str,
    ends_at: datetime,
    now: datetime,
) -> AccessGrant:
    grant = AccessGrant.objects.filter(
        source_type=source_type,
        source_id=source_id,
        institution_id=institution_id,
        user_id=user_id,
        patient_id=patient_id,
    ).first()
    if grant is None:
        return AccessGrant.objects.create(
            source_type=source_type,
            source_id=source_id,
            institution_id=institution_id,
            user_id=user_id,
            patient_id=patient_id,
            reason=reason,
            starts_at=now,
            ends_at=ends_at,
        )
    if grant.ends_at <= now:
        # Opened again after it ended: the gap between stays on record as no access.
        grant.starts_at = now
    grant.reason, grant.ends_at = reason, ends_at
    grant.save(update_fields=["starts_at", "reason", "ends_at"])
    return grant


@transaction.atomic
def access_grant_open(
    *,
    patient_id: int,
    institution_id: int,
    user_id: int,
    source_type: str,
    source_id: str,
    reason: str,
    ends_at: datetime | None = None,
) -> AccessGrant:
    """Give one person of an institution access to a patient from now until `ends_at`
    (by default ACCESS_GRANT_DAYS from now), or until the source closes it; opening it again
    renews it."""
    now = timezone.now()
    return _grant_renew(
        patient_id=patient_id,
        institution_id=institution_id,
        user_id=user_id,
        source_type=source_type,
        source_id=source_id,
        reason=reason,
        ends_at=ends_at or access_grant_default_end(),
        now=now,
    )


@transaction.atomic
def access_grants_sync(
    *,
    patient_id: int,
    source_type: str,
    source_id: str,
    holders: Mapping[int, int],
    reason: str,
    ends_at: datetime | None = None,
) -> None:
    """Make the source's active grants exactly `holders` (user id -> the institution they
    work at), each renewed until `ends_at` (by default ACCESS_GRANT_DAYS from now); end
    everyone else's."""
    now = timezone.now()
    active = AccessGrant.objects.filter(
        source_type=source_type, source_id=source_id, ends_at__gt=now
    )
    for grant in active:
        held = grant.user_id is not None and holders.get(grant.user_id) == grant.institution_id
        if not held or grant.patient_id != patient_id:
            grant.ends_at = now
            grant.save(update_fields=["ends_at"])
    for user_id, institution_id in holders.items():
        _grant_renew(
            patient_id=patient_id,
            institution_id=institution_id,
            user_id=user_id,
            source_type=source_type,
            source_id=source_id,
            reason=reason,
            ends_at=ends_at or access_grant_default_end(),
            now=now,
        )


@transaction.atomic
def access_grant_close(*, source_type: str, source_id: str) -> int:
    """End every grant the source opened that is still active, those with a later end too;
    returns how many were."""
    now = timezone.now()
    return AccessGrant.objects.filter(
        source_type=source_type, source_id=source_id, ends_at__gt=now
    ).update(ends_at=now)
