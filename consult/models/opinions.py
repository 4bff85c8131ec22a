"""Opinions: the written answer to a consult, its versions, MDT contributions and key images."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consult.models.requests import ConsultRequest
from server.directory.models import Practitioner

OPINION_LABEL = "会诊意见（供参考）"  # noqa: RUF001 - the fullwidth brackets are the label


class Opinion(models.Model):
    """The written answer to a consult; its content lives in versions."""

    consult = models.OneToOneField(ConsultRequest, on_delete=models.CASCADE, related_name="opinion")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Opinion on {self.consult_id}"


class OpinionVersion(models.Model):
    """One version: a draft being written, or a signed and frozen one (amendments add more)."""

    opinion = models.ForeignKey(Opinion, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    findings = models.TextField(_("findings"), blank=True)
    impression = models.TextField(_("impression / diagnosis"), blank=True)
    recommendations = models.TextField(_("recommendations"), blank=True)
    referral_advised = models.BooleanField(_("referral advised"), default=False)
    follow_up_advice = models.TextField(_("follow-up advice"), blank=True)
    amendment_reason = models.TextField(blank=True)
    # MDT members' contributions as signed: [{"practitioner_id", "name", "text"}].
    contributions = models.JSONField(default=list)
    edited_by = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, null=True, related_name="+"
    )
    signed_by = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["opinion", "number"], name="opinion_version_once"),
            models.UniqueConstraint(
                fields=["opinion"],
                condition=Q(signed_at__isnull=True),
                name="opinion_one_draft",
            ),
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True)
                | (Q(signed_by__isnull=False) & ~Q(content_sha256="")),
                name="opinion_signed_has_hash",
            ),
        ]

    def __str__(self) -> str:
        return f"Opinion {self.opinion_id} v{self.number}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class OpinionContribution(models.Model):
    """An MDT member's part of the discussion, editable until the lead signs."""

    opinion = models.ForeignKey(Opinion, on_delete=models.CASCADE, related_name="contributions")
    practitioner = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["opinion", "practitioner"], name="contribution_once_per_member"
            )
        ]

    def __str__(self) -> str:
        return f"{self.opinion_id}:{self.practitioner_id}"


def _key_image_path(instance: "OpinionKeyImage", filename: str) -> str:
    # Named by content: the same picture kept by an amendment is stored once.
    return f"consult/{instance.version.opinion.consult_id}/key-images/{instance.sha256}.png"


class OpinionKeyImage(models.Model):
    """An image of the study, drawn with its annotations, chosen to illustrate the opinion.

    It belongs to one version: added to the draft, frozen (and hashed) when it is signed.
    """

    version = models.ForeignKey(OpinionVersion, on_delete=models.CASCADE, related_name="key_images")
    study_instance_uid = models.CharField(max_length=64)
    sop_instance_uid = models.CharField(max_length=64)
    caption = models.CharField(_("caption"), max_length=200, blank=True)
    file = models.FileField(upload_to=_key_image_path, max_length=200)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    added_by = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added_at", "pk"]

    def __str__(self) -> str:
        return f"{self.version_id}:key image {self.pk}"
