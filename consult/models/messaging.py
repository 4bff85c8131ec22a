"""Outbound SMS/WeChat messages about a consult."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from consult.models.requests import ConsultRequest


class MessageReason(models.TextChoices):
    CRITICAL_ASSIGNED = "critical_assigned", _("Critical consult assigned")
    CRITICAL_ESCALATED = "critical_escalated", _("Critical consult missed a deadline")


class MessageState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    NO_PHONE = "no_phone", _("Not sent: no mobile phone on file")


class OutboundMessage(models.Model):
    """An SMS/WeChat message about a consult; the unique key makes it one message, however
    often it is queued or its task retried."""

    key = models.CharField(max_length=100, unique=True)
    consult = models.ForeignKey(ConsultRequest, on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    reason = models.CharField(max_length=24, choices=MessageReason.choices)
    # Ids only: the text never names the patient, since it leaves the system.
    text = models.CharField(max_length=300)
    state = models.CharField(
        max_length=10, choices=MessageState.choices, default=MessageState.PENDING
    )
    channel = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
