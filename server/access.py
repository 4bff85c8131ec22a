"""The one access policy: may this user do this action to this resource?

Every view, API, consumer and task that touches patient data asks here. Rules today:
staff of the patient's home institution; the people holding an active access grant for the
patient (a grant names one person: each person on an open consult or referral, a closed
consult's signer inside the amendment window; never a whole institution, and every grant
ends); coordinators across their consortium; nobody else. Callers that may not see an object
get `NotFound`, never a "forbidden", so its existence does not leak.

Roles are read here only: every other module asks for a named action (`Action`,
`ConsultAction`), never for a role; tests/server/test_access_boundary.py keeps it so, and
tests/server/test_access.py pins each action row by row.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy

from server import sql
from server.accounts.models import User
from server.directory.models import AccessGrant, Institution, Patient, PractitionerRole, Role
from server.lib.errors import DomainError, ErrorKind


class NotFound(DomainError):
    """The object does not exist, or the caller may not know that it does."""

    kind = ErrorKind.NOT_FOUND
    default_message = gettext_lazy("Not found.")


class Action(StrEnum):
    VIEW = "view"
    UPDATE = "update"
    MERGE = "merge"
    REGISTER_PATIENT = "register_patient"
    VIEW_AUDIT = "view_audit"
    REVIEW_DUPLICATES = "review_duplicates"
    STORE_IMAGES = "store_images"
    MANAGE_STUDIES = "manage_studies"
    TAKE_CONSULT_DUTY = "take_consult_duty"  # go on or off duty for automatically routed consults
    VIEW_ACCESS_LOG = "view_access_log"  # who accessed the patient's data (PIPL report)
    REQUEST_CONSULT = "request_consult"  # invite a consult about a patient of one's institution
    # Be invited to consults (named, routed, put on an MDT team) and claim them from one's
    # department queue.
    ANSWER_CONSULTS = "answer_consults"
    # The consult centre: see and route every consult of the consortium, correct them, and hear
    # of the unrouted and overdue ones.
    COORDINATE_CONSULTS = "coordinate_consults"
    RECONCILE_STUDIES = "reconcile_studies"  # link unmatched studies to their patients


@dataclass(frozen=True)
class Actor:
    """Who is asking, as far as the policy cares."""

    user_id: int
    practitioner_id: int
    institution_id: int
    consortium_id: int
    roles: frozenset[str]

    def has(self, role: Role) -> bool:
        """Only this module decides on roles; everyone else asks a `*_permits` function."""
        return role.value in self.roles

    def role_list(self) -> list[Role]:
        """The actor's roles in `Role` order, to show who they are (badges, the home page of the
        first); never to decide access, which is this module's."""
        return [role for role in Role if self.has(role)]


_ACTOR_CACHE_ATTR = "_yunzhen_actor"


def actor_for(user: User | AnonymousUser) -> Actor | None:
    """The user's practitioner identity, or None for anonymous users and non-practitioners."""
    if not user.is_authenticated or not user.is_active:
        return None
    cached: Actor | None = getattr(user, _ACTOR_CACHE_ATTR, None)
    if cached is not None:
        return cached
    # Every request that checks access starts here: one round trip, a statement written once.
    rows = sql.practitioner_roles(user.pk)
    if not rows:
        return None
    practitioner_id, institution_id, consortium_id, _ = rows[0]
    actor = Actor(
        user_id=user.pk,
        practitioner_id=practitioner_id,
        institution_id=institution_id,
        consortium_id=consortium_id,
        roles=frozenset(role for *_, role in rows if role),
    )
    setattr(user, _ACTOR_CACHE_ATTR, actor)
    return actor


def _active_grant_filter() -> Q:
    now = timezone.now()
    return Q(starts_at__lte=now, ends_at__gt=now)


def _grants_of(actor: Actor) -> QuerySet[AccessGrant]:
    """The actor's active grants. A grant names one person (the minimum necessary, PIPL art.
    28-29), and holds only while they work at the institution it was given in; rows naming no
    person (whole institutions, before issue 15) open nothing."""
    return AccessGrant.objects.filter(
        _active_grant_filter(), user_id=actor.user_id, institution_id=actor.institution_id
    )


def _granted_patient_ids(actor: Actor) -> QuerySet[AccessGrant, int]:
    return _grants_of(actor).values_list("patient_id", flat=True)


def grant_holders(*, source_type: str, source_id: str) -> frozenset[int]:
    """The users holding an active grant from the source: the people on an open consult, the
    signer of a closed one inside the amendment window. A fact for
    `ConsultFacts.grant_holder_user_ids`."""
    return frozenset(
        AccessGrant.objects.filter(
            _active_grant_filter(),
            source_type=source_type,
            source_id=source_id,
            user__isnull=False,
        ).values_list("user_id", flat=True)
    )


def grant_sources(actor: Actor, *, source_type: str) -> list[str]:
    """The sources (e.g. consult ids) of the actor's active grants."""
    return list(
        AccessGrant.objects.filter(
            _active_grant_filter(), source_type=source_type, user_id=actor.user_id
        ).values_list("source_id", flat=True)
    )


# --- Powers that come with a role -------------------------------------------------------------
# The roles each role-bound action needs, wherever it applies; the rules below add where (which
# patient, institution, study or consult). Pages ask `actor_permits` what to offer before a
# resource is chosen, and queries for the people holding a power (those to notify, invite or
# route to) filter with `practitioners_permitted`.
_CLINICIANS = frozenset({Role.CLINIC_DOCTOR, Role.SPECIALIST})
_POWERS: dict[Action, frozenset[Role]] = {
    Action.MERGE: frozenset({Role.COORDINATOR}),
    Action.REGISTER_PATIENT: _CLINICIANS,
    Action.VIEW_AUDIT: frozenset({Role.INSTITUTION_ADMIN}),
    Action.REVIEW_DUPLICATES: frozenset({Role.COORDINATOR}),
    Action.STORE_IMAGES: _CLINICIANS,
    Action.MANAGE_STUDIES: frozenset({Role.INSTITUTION_ADMIN}),
    Action.TAKE_CONSULT_DUTY: frozenset({Role.SPECIALIST}),
    Action.VIEW_ACCESS_LOG: frozenset({Role.INSTITUTION_ADMIN}),
    Action.REQUEST_CONSULT: _CLINICIANS,
    Action.ANSWER_CONSULTS: frozenset({Role.SPECIALIST}),
    Action.COORDINATE_CONSULTS: frozenset({Role.COORDINATOR}),
    Action.RECONCILE_STUDIES: frozenset({Role.COORDINATOR, Role.INSTITUTION_ADMIN}),
}


def _roles_for(action: Action) -> frozenset[Role]:
    needed = _POWERS.get(action)
    if needed is None:
        raise ValueError(f"{action} is not bound to a role; ask its resource's rule")
    return needed


def roles_permit(roles: Iterable[str], action: Action) -> bool:
    """Whether holding these roles gives the power to do the action somewhere: for a
    practitioner other than the actor (one to invite, one whose socket joins a queue).

    Raises: ValueError for an action that is not bound to a role (VIEW, UPDATE).
    """
    needed = _roles_for(action)
    return any(role in needed for role in roles)


def actor_permits(actor: Actor | None, action: Action) -> bool:
    """Whether the actor's roles allow the action somewhere: what a page offers before a
    resource is chosen. The resource's own rule still decides each case."""
    return actor is not None and roles_permit(actor.roles, action)


def practitioners_permitted(action: Action) -> Q:
    """`actor_permits` as a filter on practitioners: the active ones whose roles allow the
    action. The caller narrows it (the consortium, a department, a specialty)."""
    return Q(
        is_active=True,
        pk__in=PractitionerRole.objects.filter(role__in=_roles_for(action)).values(
            "practitioner_id"
        ),
    )


def patient_permits(actor: Actor | None, action: Action, patient: Patient) -> bool:
    """Decide one action on one patient."""
    if actor is None or patient.consortium_id != actor.consortium_id:
        return False
    coordinator = actor.has(Role.COORDINATOR)
    if action is Action.MERGE:
        return actor_permits(actor, action)
    if action is Action.VIEW_ACCESS_LOG:
        # The home institution's administrators answer the patient's request, as they keep
        # its audit trail.
        return actor_permits(actor, action) and patient.home_institution_id == actor.institution_id
    if action is Action.UPDATE:
        return coordinator or patient.home_institution_id == actor.institution_id
    if action is Action.VIEW:
        return (
            coordinator
            or patient.home_institution_id == actor.institution_id
            or _grants_of(actor).filter(patient=patient).exists()
        )
    if action is Action.REQUEST_CONSULT:
        # Only the patient's own institution (or a coordinator) invites a consult about them:
        # the holder of another consult's grant would otherwise open a grant of its own, and
        # keep the patient for ever.
        return actor_permits(actor, action) and (
            coordinator or patient.home_institution_id == actor.institution_id
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
    """Decide an institution-wide action (registering patients, storing images, the audit,
    duplicate review, taking consult duty for the institution)."""
    if actor is None or institution.consortium_id != actor.consortium_id:
        return False
    if action is Action.REVIEW_DUPLICATES:
        return consortium_permits(actor, action, institution.consortium_id)
    if action in (
        Action.REGISTER_PATIENT,
        Action.VIEW_AUDIT,
        Action.STORE_IMAGES,
        Action.MANAGE_STUDIES,
        Action.TAKE_CONSULT_DUTY,
    ):
        return institution.pk == actor.institution_id and actor_permits(actor, action)
    return False


def consortium_permits(actor: Actor | None, action: Action, consortium_id: int) -> bool:
    """Decide a consortium-wide action: reviewing its suspected duplicates, coordinating its
    consults."""
    if actor is None or consortium_id != actor.consortium_id:
        return False
    if action in (Action.REVIEW_DUPLICATES, Action.COORDINATE_CONSULTS):
        return actor_permits(actor, action)
    return False


# --- Imaging studies ----------------------------------------------------------------------------
# A study matched to a patient is visible exactly when the patient is: the home institution's
# staff, coordinators, and the people holding an active grant for the patient (a consult opens
# one for each person on it and closes it when their part or the consult ends). An
# unmatched study is visible only to its owning institution's staff and the consortium's
# coordinators. Coordinators and the owning institution's admins reconcile an unmatched study
# (UPDATE); only the owning institution's admins delete an erroneous study (MANAGE_STUDIES).
# The policy sees studies as plain ids; it never imports imaging.


@dataclass(frozen=True)
class StudySubject:
    """A stored study as the policy sees it."""

    owner_institution_id: int
    owner_consortium_id: int
    patient_id: int | None
    # The patient's row when the caller has read it already (with the study); else it is read.
    patient: Patient | None = None


def study_permits(actor: Actor | None, action: Action, study: StudySubject) -> bool:
    """Decide one action on one study (VIEW covers search, retrieval and adding instances)."""
    if actor is None:
        return False
    own = study.owner_institution_id == actor.institution_id
    if action is Action.MANAGE_STUDIES:
        return own and actor_permits(actor, action)
    if action is Action.UPDATE:
        # Reconciling: a coordinator across the consortium, an admin in its own institution.
        return (
            study.patient_id is None
            and study.owner_consortium_id == actor.consortium_id
            and actor_permits(actor, Action.RECONCILE_STUDIES)
            and (own or actor.has(Role.COORDINATOR))
        )
    if action is not Action.VIEW:
        return False
    if study.patient_id is not None:
        patient = study.patient or Patient.objects.filter(pk=study.patient_id).first()
        return patient is not None and patient_permits(actor, Action.VIEW, patient)
    if study.owner_consortium_id != actor.consortium_id:
        return False
    return actor.has(Role.COORDINATOR) or own


@dataclass(frozen=True)
class StudyScope:
    """Which studies an actor may see, as an SQL condition on a study row: the studies of the
    patients the actor may view, and the unmatched studies its institution (a coordinator's:
    the consortium's institutions) owns. `{patient}` and `{institution}` in `sql` stand for the
    study's patient and owning-institution columns; `params` fill its placeholders in order.

    SQL rather than querysets: every search filters with it, and building and compiling its
    subqueries cost more than the database takes to run them (bench/README.md, "Issue 14: raw
    SQL vs ORM"). The conditions are written in `server/sql.py`; tests/imaging/test_study_scope.py
    pins them to `study_permits`.
    """

    sql: str
    params: list[object]


def study_scope(actor: Actor | None) -> StudyScope:
    """The studies the actor may view; mirrors the VIEW rule of `study_permits` (and of
    `patients_visible_to` for matched studies) as the condition an imaging selector filters
    with."""
    if actor is None:
        return StudyScope(sql="1 = 0", params=[])
    if actor.has(Role.COORDINATOR):
        condition, params = sql.study_scope_of_coordinator(consortium_id=actor.consortium_id)
    else:
        condition, params = sql.study_scope_of_staff(
            consortium_id=actor.consortium_id,
            institution_id=actor.institution_id,
            user_id=actor.user_id,
            now=timezone.now(),
        )
    return StudyScope(sql=condition, params=params)


def studies_reconcilable_by(actor: Actor | None, *, owner: str) -> Q:
    """Which of the unmatched studies the actor may view it may also link to a patient; mirrors
    the UPDATE rule of `study_permits` as a condition on the study's owning-institution column
    `owner`: a coordinator all of them, an institution admin its own institution's."""
    if actor is None or not actor_permits(actor, Action.RECONCILE_STUDIES):
        return Q(pk__in=[])
    if actor.has(Role.COORDINATOR):
        return Q()
    return Q(**{owner: actor.institution_id})


def institution_actor(institution: Institution) -> Actor:
    """The institution itself, for a device acting for it (a modality's registered AE title).

    It has no user and no role, so it sees what any of the institution's staff see and never a
    coordinator's consortium-wide view.
    """
    return Actor(
        user_id=0,
        practitioner_id=0,
        institution_id=institution.pk,
        consortium_id=institution.consortium_id,
        roles=frozenset(),
    )


# --- Consults ---------------------------------------------------------------------------------
# The policy sees a consult only as plain facts, gathered by the consult app; it never imports
# consult models. `consult.selectors.consults_visible_to` mirrors the VIEW rule as a queryset.


class ConsultAction(StrEnum):
    VIEW = "view"
    REQUEST = "request"  # the inviting doctor's side: submit, answer, cancel, acknowledge
    ROUTE = "route"  # assign to specialists
    CLAIM = "claim"  # take a consult from one's department queue
    RESPOND = "respond"  # the lead invited doctor: accept, decline, ask for information
    CONTRIBUTE = "contribute"  # any invited doctor: write into the opinion draft
    ATTACH_STUDY = "attach_study"  # the requester and any invited doctor: add an archive study
    SIGN = "sign"  # sign the opinion, or amend it (once closed: inside the amendment window)
    CORRECT = "correct"  # mark entered-in-error
    REVIEW = "review"  # open the consult's studies together, annotate them


@dataclass(frozen=True)
class ConsultFacts:
    """What the policy needs to know about one consult."""

    consortium_id: int
    patient_id: int
    patient_home_institution_id: int
    inviting_institution_id: int
    requester_user_id: int
    invited_user_ids: frozenset[int]
    lead_user_id: int | None
    queue_user_ids: frozenset[int]  # specialists of the target department queue
    department_head_user_ids: frozenset[int]  # heads of the target or assignees' departments
    is_open: bool  # not declined, closed or ended: its participants still work on it
    is_closed: bool = False  # acknowledged by the requester
    # The people holding the consult's live grant for its patient: those on it while it is open
    # (participants, the queue while it is queued, department heads), the signer inside the
    # amendment window once it is closed. The invited side reads the consult only through it.
    grant_holder_user_ids: frozenset[int] = frozenset()


def consult_permits(actor: Actor | None, action: ConsultAction, facts: ConsultFacts) -> bool:
    """Decide one action on one consult."""
    if actor is None or facts.consortium_id != actor.consortium_id:
        return False
    coordinator = actor_permits(actor, Action.COORDINATE_CONSULTS)
    user_id = actor.user_id
    # The requesting side is the patient's home institution, which owns the patient and keeps
    # the consult. A consult requested from elsewhere (possible before issue 15) gives its
    # requesting side nothing.
    home_side = (
        actor.institution_id == facts.inviting_institution_id == facts.patient_home_institution_id
    )
    requester = user_id == facts.requester_user_id and (home_side or coordinator)
    # The invited side (invited doctors, the department queue, department heads) reads the
    # consult only while it holds the consult's grant for the patient: once the grant ends (the
    # consult ended or closed, the person left it, the grant ran out) nothing of it is theirs,
    # but for the signer inside the amendment window.
    holder = user_id in facts.grant_holder_user_ids
    invited = holder and user_id in facts.invited_user_ids
    lead = user_id == facts.lead_user_id and invited
    queued = holder and user_id in facts.queue_user_ids
    head = holder and user_id in facts.department_head_user_ids and not facts.is_closed
    if action is ConsultAction.VIEW:
        return coordinator or home_side or invited or queued or head
    if action is ConsultAction.REQUEST:
        return requester
    if action is ConsultAction.ROUTE:
        return coordinator or head
    if action is ConsultAction.CLAIM:
        return queued and actor_permits(actor, Action.ANSWER_CONSULTS)
    if action in (ConsultAction.RESPOND, ConsultAction.SIGN):
        return lead
    if action is ConsultAction.CONTRIBUTE:
        return invited
    if action is ConsultAction.ATTACH_STUDY:
        return requester or invited
    if action is ConsultAction.CORRECT:
        return coordinator or requester
    if action is ConsultAction.REVIEW:
        # Only the people working on the consult; coordinators and department heads, who may
        # view it, do not join the shared review of its images.
        return facts.is_open and (requester or invited)
    return False
