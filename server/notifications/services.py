"""Send notifications and mark them read; each change is pushed to the user's live socket."""

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from server.accounts.models import User
from server.directory.models import Practitioner, Role
from server.lib.events import (
    coordinators_group,
    department_group,
    publish_on_commit,
    session_group,
    user_group,
)
from server.notifications.events import NotificationCreated, UnreadCountChanged
from server.notifications.models import (
    Notification,
    NotificationKind,
    NotificationSubject,
    subject_text,
)


def live_groups_for(*, user_id: int) -> tuple[str, ...]:
    """Every group the user's live socket joins: their own, their sessions', and the shared
    groups of their department queue (specialists) and consortium boards (coordinators)."""
    groups = [user_group(user_id), session_group(user_id)]
    practitioner = (
        Practitioner.objects.filter(user_id=user_id, is_active=True)
        .select_related("institution")
        .first()
    )
    if practitioner is not None:
        roles = set(practitioner.roles.values_list("role", flat=True))
        if Role.SPECIALIST in roles and practitioner.department_id is not None:
            groups.append(department_group(practitioner.department_id))
        if Role.COORDINATOR in roles:
            groups.append(coordinators_group(practitioner.institution.consortium_id))
    return tuple(groups)


def unread_count(*, user_id: int) -> int:
    return Notification.objects.filter(recipient_id=user_id, read_at__isnull=True).count()


def notifications_for_user(*, user_id: int) -> QuerySet[Notification]:
    """The user's notifications, newest first."""
    return Notification.objects.filter(recipient_id=user_id).order_by("-created_at", "-pk")


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
