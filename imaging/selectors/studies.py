"""Study administration reads: the institution's study pages, unmatched studies to reconcile."""

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from imaging.models import PreviewState, Series, Study, study_subject
from imaging.selectors.access import studies_visible_to
from imaging.services.viewings import studies_read_record
from server.access import (
    Action,
    Actor,
    NotFound,
    actor_for,
    actor_permits,
    institution_permits,
    studies_reconcilable_by,
    study_permits,
)
from server.accounts.models import User
from server.directory.models import Institution


def studies_unmatched_for_user(*, user: User | AnonymousUser) -> QuerySet[Study]:
    """Unmatched studies awaiting reconciliation that the user may see, newest first."""
    return (
        studies_visible_to(actor_for(user))
        .filter(patient__isnull=True)
        .select_related("institution")
        .order_by("-created_at", "-pk")
    )


def studies_to_reconcile(*, user: User | AnonymousUser) -> QuerySet[Study]:
    """Unmatched studies the user may link to a patient, newest first.

    Mirrors `study_permits(actor, Action.UPDATE, ...)` as a queryset: a coordinator's whole
    consortium, an institution admin's own institution, nobody else.
    """
    return studies_unmatched_for_user(user=user).filter(
        studies_reconcilable_by(actor_for(user), owner="institution_id")
    )


def study_for_reconcile(*, user: User, study_id: int) -> Study:
    """An unmatched study the user may link to a patient.

    Raises: NotFound for a missing, already matched, or someone else's study.
    """
    study = studies_to_reconcile(user=user).filter(pk=study_id).first()
    if study is None:
        raise NotFound
    return study


def study_for_manager(*, user: User, study_uid: str) -> Study:
    """A study the user may manage (delete).

    Raises: NotFound for a missing study and one the user may not manage.
    """
    study = (
        Study.objects.select_related("institution", "patient")
        .filter(study_instance_uid=study_uid)
        .first()
    )
    if study is None or not study_permits(
        actor_for(user), Action.MANAGE_STUDIES, study_subject(study)
    ):
        raise NotFound
    return study


_PREVIEW_PRECEDENCE = [
    PreviewState.FAILED,
    PreviewState.RENDERING,
    PreviewState.PENDING,
    PreviewState.READY,
]


def study_preview_states(*, study_ids: list[int]) -> dict[int, PreviewState]:
    """One preview state per study, from its series: a failure or pending work shows first."""
    states: dict[int, set[str]] = {}
    rows = Series.objects.filter(study_id__in=study_ids).values_list("study_id", "preview_state")
    for study_id, state in rows:
        states.setdefault(study_id, set()).add(state)
    summary: dict[int, PreviewState] = {}
    for study_id in study_ids:
        found = states.get(study_id, set())
        summary[study_id] = next(
            (state for state in _PREVIEW_PRECEDENCE if state in found), PreviewState.NONE
        )
    return summary


@dataclass(frozen=True)
class StudyRow:
    study: Study
    preview_state: PreviewState


@dataclass(frozen=True)
class StudyPage:
    rows: list[StudyRow]
    total: int


def study_page(
    *, user: User, actor: Actor, studies: QuerySet[Study], offset: int, limit: int, event: str
) -> StudyPage:
    """One page of a study listing, with preview states; showing it is a read of the studies'
    patient data, audited as one `event`."""
    page = list(studies.select_related("institution", "patient")[offset : offset + limit])
    if page:
        studies_read_record(user=user, actor=actor, studies=page, event=event)
    states = study_preview_states(study_ids=[s.pk for s in page])
    rows = [StudyRow(study=s, preview_state=states[s.pk]) for s in page]
    return StudyPage(rows=rows, total=studies.count())


def study_page_for_manager(*, user: User, offset: int, limit: int) -> StudyPage:
    """One page of the studies of the user's institution, newest first, for its admins; the page
    is audited.

    Raises: NotFound unless the user may manage the institution's studies.
    """
    actor = actor_for(user)
    if actor is None:
        raise NotFound
    institution = Institution.objects.get(pk=actor.institution_id)
    if not institution_permits(actor, Action.MANAGE_STUDIES, institution):
        raise NotFound
    studies = Study.objects.filter(institution=institution).order_by("-created_at", "-pk")
    return study_page(
        user=user,
        actor=actor,
        studies=studies,
        offset=offset,
        limit=limit,
        event="imaging.study.list",
    )


def study_page_to_reconcile(*, user: User, offset: int, limit: int) -> StudyPage:
    """One page of the unmatched studies the user may link to a patient, newest first; the page
    is audited.

    Raises: NotFound for users who reconcile nothing (neither coordinator nor admin).
    """
    actor = actor_for(user)
    if actor is None or not actor_permits(actor, Action.RECONCILE_STUDIES):
        raise NotFound
    return study_page(
        user=user,
        actor=actor,
        studies=studies_to_reconcile(user=user),
        offset=offset,
        limit=limit,
        event="imaging.study.reconcile_list",
    )
