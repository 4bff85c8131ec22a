"""What a consult's notifications say it is about: the patient, the urgency, who asked."""

from django.utils import translation

from consult.models import ConsultRequest, Urgency
from server.notifications.models import NotificationSubject


def consult_notification_subject(consult: ConsultRequest) -> NotificationSubject:
    """Name the consult for its notifications, so a reader knows it without opening it."""
    # The English label is the translation source string; each reader sees it translated.
    with translation.override(None):
        urgency = str(Urgency(consult.urgency).label)
    requester = consult.requester
    return NotificationSubject(
        patient_name=consult.patient.name,
        urgency=urgency,
        requester=f"{consult.inviting_institution.name} {requester.display_name}",
    )
