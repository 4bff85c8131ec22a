"""Study access: whether a user may view a study or one of its instances, audited per session."""

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import BooleanField, Expression, F, Q, QuerySet

from imaging import sql
from imaging.models import Instance, Study, ViewingKind, study_subject
from imaging.services.viewings import study_viewing_record
from server.access import (
    Action,
    Actor,
    NotFound,
    StudyScope,
    actor_for,
    study_permits,
    study_scope,
)
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record


def _audit_denied(*, user: User | AnonymousUser, study: Study | None, study_uid: str) -> None:
    actor = actor_for(user)
    audit_record(
        user=user,
        action=AuditAction.READ,
        event="imaging.study.read",
        outcome=AuditOutcome.DENIED,
        actor_institution_id=actor.institution_id if actor else None,
        resource_type="Study",
        resource_id=study.pk if study else study_uid[:64],
        patient_id=study.patient_id if study else None,
        patient_institution_id=study.patient.home_institution_id
        if study and study.patient
        else None,
    )


def study_get_for_user(
    *, user: User | AnonymousUser, study_uid: str, session: str, kind: ViewingKind
) -> Study:
    """Return the study if the user may view it; the read is audited once per viewing session.

    Raises: NotFound for a missing study and for one the user may not see (audited as denied).
    """
    study = (
        Study.objects.select_related("institution", "patient")
        .filter(study_instance_uid=study_uid)
        .first()
    )
    if study is None or not study_permits(actor_for(user), Action.VIEW, study_subject(study)):
        _audit_denied(user=user, study=study, study_uid=study_uid)
        raise NotFound
    study_viewing_record(user=user, studies=[study], session=session, kind=kind)
    return study


def study_lock_for_user(*, user: User | AnonymousUser, study_uid: str) -> Study:
    """Lock the study, with its institution, if the user may view it: for a service that links
    to it or changes it, and audits what it does (the read itself is not audited).

    Raises: NotFound for a missing study and for one the user may not see.
    """
    study = (
        Study.objects.select_for_update()
        .select_related("institution")
        .filter(study_instance_uid=study_uid)
        .first()
    )
    if study is None or not study_permits(actor_for(user), Action.VIEW, study_subject(study)):
        raise NotFound
    return study


def instance_get_for_user(
    *,
    user: User | AnonymousUser,
    study_uid: str,
    series_uid: str,
    instance_uid: str,
    session: str,
    kind: ViewingKind,
) -> Instance:
    """Return the instance if the user may view its study, with the study, in one query; the
    read is audited as `study_get_for_user` audits it.

    Raises: NotFound for a missing instance and for one the user may not see.
    """
    # What every frame request needs, in one statement written once.
    instance = sql.instance_with_study(
        study_uid=study_uid, series_uid=series_uid, instance_uid=instance_uid
    )
    if instance is None:
        # The study decides what is audited: a denied read, or nothing missing in it.
        study_get_for_user(user=user, study_uid=study_uid, session=session, kind=kind)
        raise NotFound
    study = instance.study
    if not study_permits(actor_for(user), Action.VIEW, study_subject(study)):
        _audit_denied(user=user, study=study, study_uid=study_uid)
        raise NotFound
    study_viewing_record(user=user, studies=[study], session=session, kind=kind)
    return instance


def studies_visible_to(actor: Actor | None) -> QuerySet[Study]:
    """Every study the actor may view; mirrors the VIEW rule of `study_permits` as a query."""
    return Study.objects.filter(study_visible_q(actor))


class _InScope(Expression):
    """True for rows whose study is in the scope: the policy's condition, its column names
    resolved by the ORM (so a series or instance query joins its study as usual)."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, scope: StudyScope, prefix: str) -> None:
        super().__init__()
        self.scope = scope
        self.patient: Any = F(f"{prefix}patient_id")
        self.institution: Any = F(f"{prefix}institution_id")

    def get_source_expressions(self) -> list[Any]:
        return [self.patient, self.institution]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.patient, self.institution = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        patient, _ = compiler.compile(self.patient)
        institution, _ = compiler.compile(self.institution)
        return self.scope.sql.format(patient=patient, institution=institution), [*self.scope.params]


def study_visible_q(actor: Actor | None, prefix: str = "") -> Q:
    """The condition on rows whose study the actor may view; `prefix` leads from the queried
    model to its study ("study__" for series and instances)."""
    return Q(_InScope(study_scope(actor), prefix))
