"""Image archive writes: one ingest service for every door, study administration, audit of
reads, previews. Callers import from here."""

from imaging.services.ingest import IngestResult, IngestStatus, instance_ingest, study_subject
from imaging.services.previews import (
    PREVIEW_MEDIA_TYPE,
    PREVIEW_QUALITY,
    PREVIEW_RENDERER_VERSION,
    PREVIEW_VIEWPORT,
    THUMBNAIL_VIEWPORT,
    preview_storage_name,
    series_previews_render,
)
from imaging.services.storage import storage_name
from imaging.services.studies import study_delete, study_patient_link
from imaging.services.viewings import (
    studies_read_record,
    study_reads_record_for_ae,
    study_viewing_record,
)

__all__ = [
    "PREVIEW_MEDIA_TYPE",
    "PREVIEW_QUALITY",
    "PREVIEW_RENDERER_VERSION",
    "PREVIEW_VIEWPORT",
    "THUMBNAIL_VIEWPORT",
    "IngestResult",
    "IngestStatus",
    "instance_ingest",
    "preview_storage_name",
    "series_previews_render",
    "storage_name",
    "studies_read_record",
    "study_delete",
    "study_patient_link",
    "study_reads_record_for_ae",
    "study_subject",
    "study_viewing_record",
]
