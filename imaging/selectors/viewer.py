"""Viewer reads: a patient's studies to open, and the series a study shows."""

from dataclasses import dataclass

from imaging.models import Series, Study
from imaging.selectors.access import studies_visible_to
from imaging.selectors.studies import StudyPage, study_page
from server.access import NotFound, actor_for
from server.accounts.models import User
from server.directory.models import Patient
from server.directory.selectors import patient_get_for_user


def series_to_view(*, study: Study) -> list[Series]:
    """The study's series that hold images, in viewing order, for the viewer's series list."""
    return list(
        Series.objects.filter(study=study, instances__number_of_frames__gt=0)
        .distinct()
        .order_by("series_number", "pk")
    )


@dataclass(frozen=True)
class PatientStudies:
    patient: Patient
    page: StudyPage


def study_page_of_patient(
    *, user: User, patient_id: int, offset: int, limit: int
) -> PatientStudies:
    """One page of a patient's studies the user may see, newest first, for opening the viewer;
    the page is audited.

    Raises: NotFound unless the user may see the patient (audited either way).
    """
    actor = actor_for(user)
    patient = patient_get_for_user(user=user, patient_id=patient_id)
    if actor is None:
        raise NotFound
    studies = (
        studies_visible_to(actor)
        .filter(patient=patient)
        .order_by("-study_date", "-created_at", "-pk")
    )
    page = study_page(
        user=user,
        actor=actor,
        studies=studies,
        offset=offset,
        limit=limit,
        event="imaging.study.list",
    )
    return PatientStudies(patient=patient, page=page)
