"""The shared review of a consult's study: sessions, who is present, saved annotations."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from consult.models.requests import ConsultRequest
from server.directory.models import Practitioner


class ReviewSession(models.Model):
    """Participants of a consult looking at one of its studies together, following one lead."""

    consult = models.ForeignKey(
        ConsultRequest, on_delete=models.CASCADE, related_name="review_sessions"
    )
    study = models.ForeignKey("imaging.Study", on_delete=models.CASCADE, related_name="+")
    # Null while nobody is in the review; the first to join leads.
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consult", "study"], name="review_session_once")
        ]

    def __str__(self) -> str:
        return f"Review of study {self.study_id} in consult {self.consult_id}"


class ReviewPresence(models.Model):
    """One open socket in a review; a user with two tabs is present twice."""

    session = models.ForeignKey(ReviewSession, on_delete=models.CASCADE, related_name="presences")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=100, unique=True)
    joined_at = models.DateTimeField(default=timezone.now)
    # Refreshed by the socket's pings; a row not seen for a while is a socket whose server
    # process died without saying goodbye, and no longer counts as present.
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["joined_at", "pk"]

    def __str__(self) -> str:
        return f"{self.session_id}:{self.user_id}"


class ReviewAnnotation(models.Model):
    """A measurement or annotation drawn on a consult's study (Cornerstone's annotation JSON)."""

    consult = models.ForeignKey(
        ConsultRequest, on_delete=models.CASCADE, related_name="review_annotations"
    )
    study = models.ForeignKey("imaging.Study", on_delete=models.CASCADE, related_name="+")
    annotation_uid = models.CharField(max_length=64)
    series_instance_uid = models.CharField(max_length=64)
    sop_instance_uid = models.CharField(max_length=64)
    tool = models.CharField(max_length=32)
    data = models.JSONField()
    author = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["consult", "annotation_uid"], name="review_annotation_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.consult_id}:{self.tool}:{self.annotation_uid}"
