"""Send notifications and mark them read; each change is pushed to the user's live socket."""

from django.db import transaction
from django.utils import timezone

from server.accounts.models import User
from server.lib.events import publish_on_commit, user_group
from server.notifications.events import NotificationCreated, UnreadCountChanged
from server.notifications.models import (
    Notification,
    NotificationKind,
    NotificationSubject,
    subject_text,
)
from server.notifications.selectors import unread_count


@transaction.atomic
def notification_send(
    *,
    recipient_ids: list[int],
    kind: NotificationKind,
    link: str = "",
    subject: NotificationSubject | None = None,
) -> list[Notification]:
    """Create one notification per recipient and push it live after commit."""
    about = subject or NotificationSubject(patient_name="")
    notifications = [
        Notification.objects.create(
            recipient_id=user_id,
            kind=kind,
            link=link,
            patient_name=about.patient_name[:100],
            urgency=about.urgency[:40],
            requester=about.requester[:300],
        )
        for user_id in dict.fromkeys(recipient_ids)
    ]
    about_text = subject_text(about)
    for notification in notifications:
        publish_on_commit(
            user_group(notification.recipient_id),
            NotificationCreated(
                notification_id=notification.pk,
                kind=notification.kind,
                text=f"{kind.label}: {about_text}" if about_text else str(kind.label),
                link=link,
                unread_count=unread_count(user_id=notification.recipient_id),
            ),
        )
    return notifications


@transaction.atomic
def notifications_mark_read(*, user: User, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when no ids are given)."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    changed = unread.update(read_at=timezone.now())
    publish_on_commit(
        user_group(user.pk), UnreadCountChanged(unread_count=unread_count(user_id=user.pk))
    )
    return changed
