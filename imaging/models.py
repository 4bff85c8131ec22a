"""The image archive's index: studies, series and instances, and who has viewed what."""

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from server.access import StudySubject
from server.directory.models import Institution, Patient


class IngestSource(models.TextChoices):
    STOW = "stow", _("DICOMweb STOW-RS")
    DIMSE = "dimse", _("DICOM C-STORE")
    UPLOAD = "upload", _("Browser upload")


class UnmatchedReason(models.TextChoices):
    """Why ingest left a study without a patient. The same reason whether or not a patient the
    storer may not see has the card number, so it tells nothing about other institutions."""

    NO_PATIENT_ID = "no_patient_id", _("The study carries no patient ID.")
    OTHER_ISSUER = "other_issuer", _("The patient ID was issued outside the consortium.")
    NO_PATIENT = "no_patient", _("No patient the storer may see has this health card number.")
    SEVERAL_PATIENTS = (
        "several_patients",
        _("Several patients the storer may see have this health card number."),
    )
    NAME_DIFFERS = (
        "name_differs",
        _("The patient with this health card number has another name, or the study none."),
    )
    SEX_DIFFERS = "sex_differs", _("The patient with this health card number has another sex.")
    BIRTH_DATE_DIFFERS = (
        "birth_date_differs",
        _("The patient with this health card number has another birth date."),
    )


class Study(models.Model):
    """One DICOM study, owned by the institution that first stored it.

    `patient` is the consortium patient whose health card number is the PatientID, among the
    patients the storer may see, and whose name, sex and birth date agree with the study's;
    other studies stay unmatched, with `unmatched_reason`, for a coordinator to reconcile.
    """

    study_instance_uid = models.CharField(max_length=64, unique=True)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=8, choices=IngestSource.choices)
    # Why ingest matched no patient; empty once matched (or for studies older than the field).
    unmatched_reason = models.CharField(max_length=20, choices=UnmatchedReason.choices, blank=True)
    dicom_patient_id = models.CharField(max_length=64, blank=True)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    patient_name = models.CharField(max_length=400, blank=True)
    patient_birth_date = models.CharField(max_length=8, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    study_date = models.DateField(null=True, blank=True)
    study_time = models.TimeField(null=True, blank=True)
    accession_number = models.CharField(max_length=64, blank=True)
    study_id = models.CharField(max_length=64, blank=True)
    study_description = models.CharField(max_length=200, blank=True)
    referring_physician_name = models.CharField(max_length=400, blank=True)
    modalities_in_study = models.CharField(max_length=200, blank=True)
    series_count = models.PositiveIntegerField(default=0)
    instance_count = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveBigIntegerField(default=0)
    # Bumped on every change; the metadata ETag is built from it.
    revision = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("study")
        verbose_name_plural = _("studies")
        indexes = [
            models.Index(fields=["dicom_patient_id", "issuer_of_patient_id"]),
            models.Index(fields=["study_date", "study_time"]),
            models.Index(fields=["accession_number"]),
            models.Index(fields=["patient_name"]),
            models.Index(fields=["institution", "patient"]),
        ]

    def __str__(self) -> str:
        return f"Study {self.pk}"


def study_subject(study: Study) -> StudySubject:
    """The study as the access policy sees it (with its patient row, if already read)."""
    return StudySubject(
        owner_institution_id=study.institution_id,
        owner_consortium_id=study.institution.consortium_id,
        patient_id=study.patient_id,
        patient=study.patient if Study.patient.is_cached(study) else None,
    )


class PreviewState(models.TextChoices):
    NONE = "none", _("No preview")  # no image instance yet
    PENDING = "pending", _("Waiting for a worker")
    RENDERING = "rendering", _("Being rendered")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Could not be rendered")


class Series(models.Model):
    """One DICOM series, with the thumbnail and preview rendered for it at ingest."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, unique=True)
    modality = models.CharField(max_length=16, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    series_description = models.CharField(max_length=200, blank=True)
    body_part_examined = models.CharField(max_length=64, blank=True)
    instance_count = models.PositiveIntegerField(default=0)
    revision = models.PositiveIntegerField(default=0)
    preview_state = models.CharField(
        max_length=10, choices=PreviewState.choices, default=PreviewState.NONE
    )
    # When a worker claimed the rendering; a claim older than the task time limit is stale.
    preview_claimed_at = models.DateTimeField(null=True, blank=True)
    # Storage names (under content keys) of the rendered images, set once they are ready.
    thumbnail_name = models.CharField(max_length=200, blank=True)
    preview_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("series")
        verbose_name_plural = _("series")
        indexes = [models.Index(fields=["modality"])]

    def __str__(self) -> str:
        return f"Series {self.pk}"


class Instance(models.Model):
    """One stored SOP instance; its file is written once, under its SHA-256."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="instances")
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64)
    number_of_frames = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, db_index=True)
    # SHA-256 of the data set without the preamble and file meta, which differ between doors:
    # a re-send with the same data set is the same instance.
    dataset_sha256 = models.CharField(max_length=64, blank=True)
    storage_name = models.CharField(max_length=200)
    size_bytes = models.PositiveBigIntegerField()
    # The instance's DICOM JSON (bulk data as BulkDataURI), serialised once at ingest so
    # metadata requests only concatenate text.
    metadata = models.TextField()
    # For encapsulated pixel data: per frame, the [offset, length] of each of its fragments in
    # the stored file, so a frame is read without the rest. Empty when unknown (deflated files,
    # fragments that do not map to frames, rows older than the field).
    frame_fragments = models.JSONField(default=list, blank=True)
    # The diagnostic-quality lossy derivative of a large single-frame image (a JPEG 2000
    # irreversible codestream, imaging.lossy) and its compression ratio, for slow links; empty
    # and 0 until a worker has made it, and for images that get none.
    lossy_frame_name = models.CharField(max_length=200, blank=True)
    lossy_frame_ratio = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=8, choices=IngestSource.choices)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    stored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("instance")
        verbose_name_plural = _("instances")
        indexes = [models.Index(fields=["sop_class_uid"])]

    def __str__(self) -> str:
        return f"Instance {self.pk}"


class ViewingKind(models.TextChoices):
    SEARCH = "search", _("Found in a search")
    RETRIEVE = "retrieve", _("Images or metadata retrieved")


class StudyViewing(models.Model):
    """Marks that a user saw a study in one viewing session, so the read is audited once.

    A viewing session is the browser session (its key, hashed) or, for bearer tokens, the token
    and the hour: a viewer fetching hundreds of frames writes one audit event, not hundreds.
    """

    user_id = models.BigIntegerField()
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    session = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=ViewingKind.choices)
    first_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "study", "session", "kind"], name="study_viewing_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.study_id}:{self.kind}"


class CallingAETitle(models.Model):
    """A DICOM application entity (modality, workstation, PACS) registered to associate with
    the archive's SCP; it stores and finds images on behalf of its institution."""

    # PS3.5 AE: up to 16 printable ASCII characters, no backslash, no leading or trailing space.
    ae_title = models.CharField(
        _("AE title"),
        max_length=16,
        unique=True,
        validators=[RegexValidator(r"^[!-\[\]-~]([ -\[\]-~]{0,14}[!-\[\]-~])?$")],
    )
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="+", verbose_name=_("institution")
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("calling AE title")
        verbose_name_plural = _("calling AE titles")

    def __str__(self) -> str:
        return self.ae_title


class UploadState(models.TextChoices):
    RECEIVING = "receiving", _("Receiving the file")
    STORED = "stored", _("Stored in the archive")
    ALREADY_STORED = "already_stored", _("Already in the archive")
    REFUSED = "refused", _("Refused by the archive")


class Upload(models.Model):
    """One DICOM file sent from a browser in pieces (tus resumable upload), until it is ingested.

    The received bytes live in storage as one part per PATCH, named by offset; the row holds
    what the client declared (length, SHA-256) and, once the last byte arrived, the outcome.
    """

    # Random, so the upload URL does not reveal how many uploads exist.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(max_length=255, blank=True)
    length = models.PositiveBigIntegerField()
    offset = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    state = models.CharField(
        max_length=16, choices=UploadState.choices, default=UploadState.RECEIVING
    )
    # Why the file was refused: "checksum" or the name of the ingest's FailureReason.
    refusal_reason = models.CharField(max_length=40, blank=True)
    refusal_detail = models.TextField(blank=True)
    study_instance_uid = models.CharField(max_length=64, blank=True)
    series_instance_uid = models.CharField(max_length=64, blank=True)
    sop_instance_uid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "state"])]

    def __str__(self) -> str:
        return f"Upload {self.pk}"
