"""Image archive reads: studies a user may see, QIDO searches, retrieval and metadata. Callers
import from here."""

from imaging.selectors.access import (
    instance_get_for_user,
    studies_visible_to,
    study_get_for_user,
    study_lock_for_user,
)
from imaging.selectors.dimse import (
    Retrieval,
    calling_ae_get,
    dimse_search,
    instances_for_retrieve,
)
from imaging.selectors.instances import (
    Metadata,
    instances_of,
    metadata_of,
    series_for_thumbnail,
    series_of_study,
    series_preview_source,
    transcode_costs,
)
from imaging.selectors.search import (
    SearchPage,
    first_instance_attributes,
    qido_search,
)
from imaging.selectors.studies import (
    StudyPage,
    StudyRow,
    studies_to_reconcile,
    studies_unmatched_for_user,
    study_for_manager,
    study_for_reconcile,
    study_page_for_manager,
    study_page_to_reconcile,
    study_preview_states,
)
from imaging.selectors.uploads import upload_get_for_owner
from imaging.selectors.viewer import PatientStudies, series_to_view, study_page_of_patient

__all__ = [
    "Metadata",
    "PatientStudies",
    "Retrieval",
    "SearchPage",
    "StudyPage",
    "StudyRow",
    "calling_ae_get",
    "dimse_search",
    "first_instance_attributes",
    "instance_get_for_user",
    "instances_for_retrieve",
    "instances_of",
    "metadata_of",
    "qido_search",
    "series_for_thumbnail",
    "series_of_study",
    "series_preview_source",
    "series_to_view",
    "studies_to_reconcile",
    "studies_unmatched_for_user",
    "studies_visible_to",
    "study_for_manager",
    "study_for_reconcile",
    "study_get_for_user",
    "study_lock_for_user",
    "study_page_for_manager",
    "study_page_of_patient",
    "study_page_to_reconcile",
    "study_preview_states",
    "transcode_costs",
    "upload_get_for_owner",
]
