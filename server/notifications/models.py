"""In-app notifications shown behind the live badge."""

from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class NotificationKind(models.TextChoices):
    """Each kind is shown with its label, translated into the reader's language."""

    DUPLICATE_SUSPECTED = "duplicate_suspected", _("A new registration may duplicate a patient")
    AUDIT_CHAIN_BROKEN = "audit_chain_broken", _("The audit trail failed verification")
    CONSULT_ASSIGNED = "consult_assigned", _("A consult was assigned to you")
    CONSULT_QUEUED = "consult_queued", _("A consult is waiting in your department's queue")
    CONSULT_UNROUTED = "consult_unrouted", _("A consult found no eligible specialist")
    CONSULT_ACCEPTED = "consult_accepted", _("Your consult request was accepted")
    CONSULT_DECLINED = "consult_declined", _("Your consult request was declined")
    CONSULT_NEEDS_INFO = "consult_needs_info", _("The specialist asks for more information")
    CONSULT_INFO_ANSWERED = "consult_info_answered", _("The requester answered your question")
    CONSULT_SCHEDULED = "consult_scheduled", _("A live consult was scheduled")
    CONSULT_OPINION_SIGNED = "consult_opinion_signed", _("A consult opinion was signed")
    CONSULT_OPINION_AMENDED = "consult_opinion_amended", _("A signed consult opinion was amended")
    CONSULT_ACKNOWLEDGED = "consult_acknowledged", _("The requester acknowledged your opinion")
    CONSULT_WITHDRAWN = "consult_withdrawn", _("A consult was cancelled, expired or voided")
    CONSULT_ESCALATED = "consult_escalated", _("A consult missed its deadline")


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40, choices=NotificationKind.choices)
    link = models.CharField(max_length=300, blank=True)
    # What it is about, named for the reader (see `NotificationSubject`); blank when it is
    # about no patient.
    patient_name = models.CharField(max_length=100, blank=True)
    urgency = models.CharField(max_length=40, blank=True)  # English label, shown translated
    requester = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"

    @property
    def subject_text(self) -> str:
        """Patient · urgency · requester, in the active language; blank when about nobody."""
        return subject_text(
            NotificationSubject(
                patient_name=self.patient_name, urgency=self.urgency, requester=self.requester
            )
        )


@dataclass(frozen=True)
class NotificationSubject:
    """Who and what a notification is about, so the reader knows without opening it.

    `urgency` is the English label of the urgency (a translation source string), translated
    when shown; `requester` names the asking doctor with their institution.
    """

    patient_name: str
    urgency: str = ""
    requester: str = ""


def subject_text(subject: NotificationSubject) -> str:
    parts = [
        subject.patient_name,
        gettext(subject.urgency) if subject.urgency else "",
        subject.requester,
    ]
    return " · ".join(part for part in parts if part)
