"""Archive studies attached to a consult."""

from django.db import transaction
from django.utils.translation import gettext as _

from consult.audit import consult_audit
from consult.errors import ConsultError
from consult.lifecycle import ATTACHABLE
from consult.models import ConsultRequest, ConsultStudy
from consult.selectors import consult_facts
from imaging.errors import StudyMatchRefused
from imaging.selectors import study_lock_for_user
from imaging.services import study_patient_match
from server.access import ConsultAction, NotFound, actor_for, consult_permits
from server.accounts.models import User
from server.audit.models import AuditAction


@transaction.atomic
def consult_study_attach(
    *, consult_id: int, study_instance_uid: str, actor_user: User
) -> ConsultStudy:
    """Attach a study the user may see to a consult they take part in.

    The requester and the invited doctors attach, until the consult is over. The study must be
    the consult's patient's; an unmatched study of the user's own institution (one just sent
    from the clinic's modality or browser) is matched to the consult's patient by attaching it,
    through imaging's `study_patient_match`, which decides who may and audits the match.
    Attaching the same study twice returns the existing link.
    Raises: NotFound when the consult or study is not the user's; ConsultError naming `study`.
    """
    actor = actor_for(actor_user)
    consult = (
        ConsultRequest.objects.select_for_update()
        .select_related("patient")
        .filter(pk=consult_id)
        .first()
    )
    if consult is None:
        raise NotFound
    facts = consult_facts(consult=consult)
    if not consult_permits(actor, ConsultAction.ATTACH_STUDY, facts):
        raise NotFound
    assert actor is not None  # consult_permits refuses anonymous users
    study = study_lock_for_user(user=actor_user, study_uid=study_instance_uid)
    if consult.status not in ATTACHABLE:
        raise ConsultError(_("The consult is over; nothing more can be attached."), field="study")
    existing = ConsultStudy.objects.filter(consult=consult, study=study).first()
    if existing is not None:
        return existing
    matched = study.patient_id is None
    if matched:
        try:
            study = study_patient_match(
                user=actor_user, study_id=study.pk, patient=consult.patient, consult_id=consult.pk
            )
        except StudyMatchRefused:
            raise ConsultError(
                _(
                    "This study is not matched to a patient yet; only its own institution's "
                    "doctors can attach it, or a coordinator can match it first."
                ),
                field="study",
            ) from None
    elif study.patient_id != consult.patient_id:
        raise ConsultError(_("This study belongs to another patient."), field="study")
    # The consult row's lock makes the check above and this insert one step.
    link = ConsultStudy.objects.create(
        consult=consult, study=study, attached_by_id=actor.practitioner_id
    )
    consult_audit(
        user=actor_user,
        action=AuditAction.CREATE,
        event="consult.study_attach",
        consult=consult,
        resource_type="ConsultStudy",
        resource_id=link.pk,
        detail={
            "consult_id": consult.pk,
            "study_instance_uid": study_instance_uid,
            "matched_to_patient": matched,
        },
    )
    return link
