"""Template context of every page: who is signed in, what they may open, unread count."""

from dataclasses import dataclass

from django.http import HttpRequest

from server.access import Action, actor_for, actor_permits, institution_permits
from server.accounts.models import User
from server.directory.models import Practitioner
from server.directory.selectors import practitioner_for_user
from server.notifications.selectors import unread_count


@dataclass(frozen=True)
class Navigation:
    practitioner: Practitioner | None
    role_labels: list[str]
    unread_count: int
    can_register: bool
    can_review_duplicates: bool
    can_view_audit: bool
    can_manage_studies: bool
    can_reconcile_studies: bool


def navigation(request: HttpRequest) -> dict[str, Navigation | None]:
    """`nav` for the page header; None when nobody is signed in."""
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated:
        return {"nav": None}
    practitioner = practitioner_for_user(user=user)
    actor = actor_for(user)
    institution = practitioner.institution if practitioner else None

    def permits(action: Action) -> bool:
        return institution is not None and institution_permits(actor, action, institution)

    return {
        "nav": Navigation(
            practitioner=practitioner,
            role_labels=[str(role.label) for role in actor.role_list()] if actor else [],
            unread_count=unread_count(user_id=user.pk),
            can_register=permits(Action.REGISTER_PATIENT),
            can_review_duplicates=permits(Action.REVIEW_DUPLICATES),
            can_view_audit=permits(Action.VIEW_AUDIT),
            can_manage_studies=permits(Action.MANAGE_STUDIES),
            can_reconcile_studies=actor_permits(actor, Action.RECONCILE_STUDIES),
        )
    }
