"""The one access policy: may this user do this action to this resource?

Every view, API, consumer and task that touches patient data asks here. Rules today:
staff of the patient's home institution; staff of institutions holding an active access grant
for the patient (opened and closed by consults and referrals); coordinators across their
consortium; nobody else. Callers that may not see an object get `NotFound`, never a
"forbidden", so its existence does not leak.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from server.accounts.models import User
from server.directory.models import AccessGrant, Institution, Patient, Practitioner, Role


class NotFound(Exception):
    """The object does not exist, or the caller may not know that it does."""


class Action(StrEnum):
    VIEW = "view"
    UPDATE = "update"
    MERGE = "merge"
    REGISTER_PATIENT = "register_patient"
    VIEW_AUDIT = "view_audit"
    REVIEW_DUPLICATES = "review_duplicates"


@dataclass(frozen=True)
class Actor:
    """Who is asking, as far as the policy cares."""

    user_id: int
    practitioner_id: int
    institution_id: int
    consortium_id: int
    roles: frozenset[str]

    def has(self, role: Role) -> bool:
        return role.value in self.roles


_ACTOR_CACHE_ATTR = "_yunzhen_actor"


def actor_for(user: User | AnonymousUser) -> Actor | None:
    """The user's practitioner identity, or None for anonymous users and non-practitioners."""
    if not user.is_authenticated or not user.is_active:
        return None
    cached: Actor | None = getattr(user, _ACTOR_CACHE_ATTR, None)
    if cached is not None:
        return cached
    practitioner = (
        Practitioner.objects.select_related("institution")
        .filter(user_id=user.pk, is_active=True)
        .first()
    )
    if practitioner is None:
        return None
    actor = Actor(
        user_id=user.pk,
        practitioner_id=practitioner.pk,
        institution_id=practitioner.institution_id,
        consortium_id=practitioner.institution.consortium_id,
        roles=frozenset(practitioner.roles.values_list("role", flat=True)),
    )
    setattr(user, _ACTOR_CACHE_ATTR, actor)
    return actor


def _active_grant_filter() -> Q:
    now = timezone.now()
    return Q(starts_at__lte=now) & (Q(ends_at__isnull=True) | Q(ends_at__gt=now))


def _granted_patient_ids(actor: Actor) -> QuerySet[AccessGrant, int]:
    return AccessGrant.objects.filter(
        _active_grant_filter(), institution_id=actor.institution_id
    ).values_list("patient_id", flat=True)


def patient_permits(actor: Actor | None, action: Action, patient: Patient) -> bool:
    """Decide one action on one patient."""
    if actor is None or patient.consortium_id != actor.consortium_id:
        return False
    coordinator = actor.has(Role.COORDINATOR)
    if action is Action.MERGE:
        return coordinator
    if action is Action.UPDATE:
        return coordinator or patient.home_institution_id == actor.institution_id
    if action is Action.VIEW:
        return (
            coordinator
            or patient.home_institution_id == actor.institution_id
            or AccessGrant.objects.filter(
                _active_grant_filter(), institution_id=actor.institution_id, patient=patient
            ).exists()
        )
    return False


def patients_visible_to(actor: Actor | None) -> QuerySet[Patient]:
    """Every patient the actor may view, as a queryset to filter further."""
    if actor is None:
        return Patient.objects.none()
    patients = Patient.objects.filter(consortium_id=actor.consortium_id)
    if actor.has(Role.COORDINATOR):
        return patients
    return patients.filter(
        Q(home_institution_id=actor.institution_id) | Q(pk__in=_granted_patient_ids(actor))
    )


def institution_permits(actor: Actor | None, action: Action, institution: Institution) -> bool:
    """Decide an institution-wide action (registering patients, audit, duplicate review)."""
    if actor is None or institution.consortium_id != actor.consortium_id:
        return False
    if action is Action.REGISTER_PATIENT:
        return institution.pk == actor.institution_id and (
            actor.has(Role.CLINIC_DOCTOR) or actor.has(Role.SPECIALIST)
        )
    if action is Action.VIEW_AUDIT:
        return institution.pk == actor.institution_id and actor.has(Role.INSTITUTION_ADMIN)
    if action is Action.REVIEW_DUPLICATES:
        return actor.has(Role.COORDINATOR)
    return False
