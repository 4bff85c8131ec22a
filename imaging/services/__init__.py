"""Image archive writes: one ingest service for every door, resumable browser uploads, study
administration, audit of reads, previews. Callers import from here."""

from imaging.services.derivatives import (
    instance_lossy_frame,
    instance_lossy_frame_render,
    lossy_frame_storage_name,
    series_lossy_frames_request,
)
from imaging.services.ingest import instance_ingest, instances_ingest
from imaging.services.ingest_rules import IngestResult, IngestStatus
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
from imaging.services.studies import study_delete, study_patient_link, study_patient_match
from imaging.services.uploads import (
    upload_append,
    upload_create,
    upload_delete,
    uploads_expired_delete,
)
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
    "instance_lossy_frame",
    "instance_lossy_frame_render",
    "instances_ingest",
    "lossy_frame_storage_name",
    "preview_storage_name",
    "series_lossy_frames_request",
    "series_previews_render",
    "storage_name",
    "studies_read_record",
    "study_delete",
    "study_patient_link",
    "study_patient_match",
    "study_reads_record_for_ae",
    "study_viewing_record",
    "upload_append",
    "upload_create",
    "upload_delete",
    "uploads_expired_delete",
]
