"""What a consult carries: uploaded files and attached archive studies."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from consult.models.requests import ConsultRequest
from server.directory.models import Practitioner


class AttachmentKind(models.TextChoices):
    PHOTO = "photo", _("Photo")
    DOCUMENT = "document", _("Document")
    ECG = "ecg", _("ECG tracing")
    CONSENT_FORM = "consent_form", _("Scanned consent form")


def _attachment_path(instance: "ConsultAttachment", filename: str) -> str:
    # Stored under its content hash: the uploaded name may carry the patient's name.
    return f"consult/{instance.consult_id}/{instance.sha256}{instance.extension}"


class ConsultAttachment(models.Model):
    """A file sent with the request; type and size are checked in consult/files.py."""

    consult = models.ForeignKey(
        ConsultRequest, on_delete=models.CASCADE, related_name="attachments"
    )
    kind = models.CharField(max_length=16, choices=AttachmentKind.choices)
    file = models.FileField(upload_to=_attachment_path, max_length=200)
    content_type = models.CharField(max_length=64)
    extension = models.CharField(max_length=8)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=200)
    uploaded_by = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return f"{self.consult_id}:{self.kind}:{self.pk}"


class ConsultStudy(models.Model):
    """An archive study attached to a consult (FHIR ServiceRequest.supportingInfo): its
    participants may see it for as long as the consult is open."""

    consult = models.ForeignKey(ConsultRequest, on_delete=models.CASCADE, related_name="studies")
    study = models.ForeignKey("imaging.Study", on_delete=models.CASCADE, related_name="+")
    attached_by = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    attached_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["attached_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["consult", "study"], name="consult_study_once"),
        ]

    def __str__(self) -> str:
        return f"{self.consult_id}:study {self.study_id}"
