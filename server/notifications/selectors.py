"""Notification reads: a user's notifications, the unread count, and the live groups their
socket joins."""

from django.db.models import QuerySet

from server.access import Action, roles_permit
from server.directory.models import Practitioner
from server.lib.events import coordinators_group, department_group, session_group, user_group
from server.notifications.models import Notification


def live_groups_for(*, user_id: int) -> tuple[str, ...]:
    """Every group the user's live socket joins: their own, their sessions', and the shared
    groups of their department queue (those who answer consults) and their consortium's consult
    centre (those who coordinate consults)."""
    groups = [user_group(user_id), session_group(user_id)]
    practitioner = (
        Practitioner.objects.filter(user_id=user_id, is_active=True)
        .select_related("institution")
        .first()
    )
    if practitioner is not None:
        roles = list(practitioner.roles.values_list("role", flat=True))
        if roles_permit(roles, Action.ANSWER_CONSULTS) and practitioner.department_id is not None:
            groups.append(department_group(practitioner.department_id))
        if roles_permit(roles, Action.COORDINATE_CONSULTS):
            groups.append(coordinators_group(practitioner.institution.consortium_id))
    return tuple(groups)


def unread_count(*, user_id: int) -> int:
    return Notification.objects.filter(recipient_id=user_id, read_at__isnull=True).count()


def notifications_for_user(*, user_id: int) -> QuerySet[Notification]:
    """The user's notifications, newest first."""
    return Notification.objects.filter(recipient_id=user_id).order_by("-created_at", "-pk")
