"""DIMSE reads: a calling AE title acts for its institution (C-FIND and C-GET)."""

from dataclasses import dataclass

from imaging.models import CallingAETitle, Instance, Series, Study, study_subject
from imaging.qido import Level, Query
from imaging.selectors.search import qido_matches
from server.access import Action, Actor, study_permits


def calling_ae_get(*, ae_title: str) -> CallingAETitle | None:
    """The active registration of a calling AE title, with its institution and consortium."""
    return (
        CallingAETitle.objects.select_related("institution__consortium")
        .filter(ae_title=ae_title.strip(), active=True)
        .first()
    )


def dimse_search(*, actor: Actor, query: Query) -> list[Study] | list[Series]:
    """Every study or series (QIDO matching, no paging) the AE's institution may see."""
    rows = qido_matches(actor=actor, query=query)
    if query.level is Level.STUDY:
        return [row for row in rows if isinstance(row, Study)]
    return [row for row in rows if isinstance(row, Series)]


@dataclass(frozen=True)
class Retrieval:
    instances: list[Instance]
    denied: list[Study]  # named studies the AE may not see (reported as not found)


def instances_for_retrieve(
    *,
    actor: Actor,
    study_uids: list[str],
    series_uids: list[str] | None = None,
    sop_uids: list[str] | None = None,
) -> Retrieval:
    """The instances of the named studies (series, instances) the AE may see, in viewing order."""
    studies = list(
        Study.objects.select_related("institution", "patient").filter(
            study_instance_uid__in=study_uids
        )
    )
    allowed = [s for s in studies if study_permits(actor, Action.VIEW, study_subject(s))]
    instances = Instance.objects.filter(study__in=[s.pk for s in allowed]).select_related(
        "study__patient"
    )
    if series_uids:
        instances = instances.filter(series__series_instance_uid__in=series_uids)
    if sop_uids:
        instances = instances.filter(sop_instance_uid__in=sop_uids)
    ordered = instances.order_by(
        "study_id", "series__series_number", "series_id", "instance_number", "pk"
    )
    return Retrieval(instances=list(ordered), denied=[s for s in studies if s not in allowed])
