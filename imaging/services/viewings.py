"""Audit of study reads: once per user, study and viewing session, or per DIMSE request."""

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from imaging import sql
from imaging.models import CallingAETitle, Study, ViewingKind
from server.access import Actor, actor_for
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record

# Viewing marks this process knows are in the database: (user id, session, kind, study id).
# A viewer asks for the same study hundreds of times a session (frames, metadata, searches);
# a mark once recorded never goes away, so the question need not reach the database again.
_recorded: set[tuple[int, str, str, int]] = set()
_RECORDED_LIMIT = 100_000


def _remember(marks: set[tuple[int, str, str, int]]) -> None:
    if len(_recorded) + len(marks) > _RECORDED_LIMIT:
        _recorded.clear()  # a bounded memory: forgetting only costs a query
    _recorded.update(marks)


def study_viewing_record(
    *,
    user: User | AnonymousUser,
    studies: list[Study],
    session: str,
    kind: ViewingKind,
) -> None:
    """Audit the studies this viewing session had not yet seen in this way; once each."""
    actor = actor_for(user)
    if not studies or actor is None:
        return
    marks = {s.pk: (actor.user_id, session, kind.value, s.pk) for s in studies}
    unknown = [s for s in studies if marks[s.pk] not in _recorded]
    if not unknown:
        return
    with transaction.atomic():
        fresh_ids = _viewings_insert(
            user_id=actor.user_id, session=session, kind=kind, study_ids=[s.pk for s in unknown]
        )
        # Remembered once committed: a mark that a rollback takes away is not recorded.
        transaction.on_commit(lambda: _remember({marks[s.pk] for s in unknown}))
        fresh = [s for s in unknown if s.pk in fresh_ids]
        if not fresh:
            return
        event = "imaging.study.search" if kind is ViewingKind.SEARCH else "imaging.study.read"
        if len(fresh) == 1:
            study = fresh[0]
            audit_record(
                user=user,
                action=AuditAction.READ,
                event=event,
                actor_institution_id=actor.institution_id,
                resource_type="Study",
                resource_id=study.pk,
                patient_id=study.patient_id,
                patient_institution_id=study.patient.home_institution_id if study.patient else None,
            )
        else:
            studies_read_record(user=user, actor=actor, studies=fresh, event=event)


def _viewings_insert(
    *, user_id: int, session: str, kind: ViewingKind, study_ids: list[int]
) -> set[int]:
    """Mark the studies seen; return those not marked before. The insert is the check, so two
    requests of one session racing over a study audit it once."""
    return sql.viewings_insert(
        user_id=user_id, session=session, kind=kind, study_ids=study_ids, now=timezone.now()
    )


def study_reads_record_for_ae(
    *,
    calling_ae: CallingAETitle,
    studies: list[Study],
    kind: ViewingKind,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
) -> None:
    """Audit studies a calling AE title found or retrieved (or was refused) in one request.

    The DIMSE door passes each study once per association, as the web passes it once per
    viewing session.
    """
    if not studies:
        return
    event = "imaging.study.search" if kind is ViewingKind.SEARCH else "imaging.study.read"
    single = studies[0] if len(studies) == 1 else None
    audit_record(
        user=None,
        action=AuditAction.READ,
        event=event,
        outcome=outcome,
        actor_institution_id=calling_ae.institution_id,
        resource_type="Study",
        resource_id=single.pk if single else "",
        patient_id=single.patient_id if single else None,
        patient_institution_id=single.patient.home_institution_id
        if single and single.patient
        else None,
        detail={
            "calling_ae_title": calling_ae.ae_title,
            **(
                {}
                if single
                else {
                    "study_ids": [s.pk for s in studies],
                    "patient_ids": sorted({s.patient_id for s in studies if s.patient_id}),
                }
            ),
        },
    )


def studies_read_record(
    *, user: User | AnonymousUser, actor: Actor, studies: list[Study], event: str
) -> None:
    """Audit one read of several studies at once, naming them and their patients."""
    audit_record(
        user=user,
        action=AuditAction.READ,
        event=event,
        actor_institution_id=actor.institution_id,
        resource_type="Study",
        detail={
            "study_ids": [s.pk for s in studies],
            "patient_ids": sorted({s.patient_id for s in studies if s.patient_id}),
        },
    )
