"""The access policy matrix: role x institution x resource x action, pinned row by row.

Every named action (`Action`, `ConsultAction`) has rows here; a test fails on one without."""

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from server.access import (
    Action,
    Actor,
    ConsultAction,
    ConsultFacts,
    NotFound,
    StudySubject,
    actor_for,
    actor_permits,
    consortium_permits,
    consult_permits,
    grant_holders,
    institution_permits,
    patient_permits,
    patients_visible_to,
    practitioners_permitted,
    roles_permit,
    study_permits,
)
from server.accounts.models import User
from server.audit.models import AuditEvent, AuditOutcome
from server.directory.models import (
    AccessGrant,
    Institution,
    InstitutionLevel,
    Patient,
    Practitioner,
    Role,
)
from server.directory.selectors import patient_get_for_user
from server.directory.services import access_grant_close, access_grant_open
from tests.factories import (
    ConsortiumFactory,
    InstitutionFactory,
    PatientFactory,
    PractitionerFactory,
    UserFactory,
)

ROLES = [Role.CLINIC_DOCTOR, Role.SPECIALIST, Role.COORDINATOR, Role.INSTITUTION_ADMIN]
PLACES = ["home", "sibling", "granted", "colleague_granted", "grant_ended", "foreign"]
C, S, K, A = ROLES  # short names for the table below

# Which roles may act, per place of the actor's institution relative to the patient.
#   home: the patient's home township        sibling: another township of the consortium
#   granted: a county hospital whose staff here hold an active grant (they are on an open
#       consult or referral)
#   colleague_granted: a county hospital where a colleague holds an active grant and the actor
#       does not (a cardiologist not on a radiology consult): a grant is the minimum necessary,
#       never the whole institution's
#   grant_ended: a county hospital whose grant has ended     foreign: another consortium
PATIENT_MATRIX: dict[Action, dict[str, set[Role]]] = {
    Action.VIEW: {
        "home": {C, S, K, A},
        "sibling": {K},
        "granted": {C, S, K, A},
        "colleague_granted": {K},
        "grant_ended": {K},
        "foreign": set(),
    },
    Action.UPDATE: {
        "home": {C, S, K, A},
        "sibling": {K},
        "granted": {K},
        "colleague_granted": {K},
        "grant_ended": {K},
        "foreign": set(),
    },
    Action.MERGE: {
        "home": {K},
        "sibling": {K},
        "granted": {K},
        "colleague_granted": {K},
        "grant_ended": {K},
        "foreign": set(),
    },
    Action.VIEW_ACCESS_LOG: {
        "home": {A},
        "sibling": set(),
        "granted": set(),
        "colleague_granted": set(),
        "grant_ended": set(),
        "foreign": set(),
    },
    # Only the clinicians of the patient's home institution invite a consult about them: a grant
    # another consult opened never lets its holders open one of their own (which would open a
    # grant of its own, and so on without end).
    Action.REQUEST_CONSULT: {
        "home": {C, S},
        "sibling": set(),
        "granted": set(),
        "colleague_granted": set(),
        "grant_ended": set(),
        "foreign": set(),
    },
}

# Institution-wide actions, on the actor's own institution and on another one.
INSTITUTION_MATRIX: dict[Action, dict[str, set[Role]]] = {
    Action.REGISTER_PATIENT: {"own": {C, S}, "other": set()},
    Action.VIEW_AUDIT: {"own": {A}, "other": set()},
    Action.REVIEW_DUPLICATES: {"own": {K}, "other": {K}},
    Action.TAKE_CONSULT_DUTY: {"own": {S}, "other": set()},
    Action.STORE_IMAGES: {"own": {C, S}, "other": set()},
    Action.MANAGE_STUDIES: {"own": {A}, "other": set()},
}

# Consortium-wide actions, on the actor's own consortium and on another one.
CONSORTIUM_MATRIX: dict[Action, dict[str, set[Role]]] = {
    Action.REVIEW_DUPLICATES: {"own": {K}, "other": set()},
    Action.COORDINATE_CONSULTS: {"own": {K}, "other": set()},
}

# The powers a role gives, wherever they apply (`actor_permits`, `practitioners_permitted`):
# what a page offers before a resource is chosen, and who is notified, invited or routed to.
ROLE_MATRIX: dict[Action, set[Role]] = {
    Action.MERGE: {K},
    Action.REGISTER_PATIENT: {C, S},
    Action.VIEW_AUDIT: {A},
    Action.REVIEW_DUPLICATES: {K},
    Action.STORE_IMAGES: {C, S},
    Action.MANAGE_STUDIES: {A},
    Action.TAKE_CONSULT_DUTY: {S},
    Action.VIEW_ACCESS_LOG: {A},
    Action.REQUEST_CONSULT: {C, S},
    Action.ANSWER_CONSULTS: {S},
    Action.COORDINATE_CONSULTS: {K},
    Action.RECONCILE_STUDIES: {K, A},
}

# Studies owned by the patient's home institution, matched to the patient or not yet, per place
# of the actor's institution (the places of PATIENT_MATRIX). UPDATE is reconciling (linking an
# unmatched study to a patient); MANAGE_STUDIES is deleting an erroneous study.
STUDY_MATRIX: dict[Action, dict[str, dict[str, set[Role]]]] = {
    Action.VIEW: {
        "matched": PATIENT_MATRIX[Action.VIEW],
        "unmatched": {
            "home": {C, S, K, A},
            "sibling": {K},
            "granted": {K},
            "colleague_granted": {K},
            "grant_ended": {K},
            "foreign": set(),
        },
    },
    Action.UPDATE: {
        "matched": {place: set() for place in PLACES},
        "unmatched": {
            "home": {K, A},
            "sibling": {K},
            "granted": {K},
            "colleague_granted": {K},
            "grant_ended": {K},
            "foreign": set(),
        },
    },
    Action.MANAGE_STUDIES: {
        kind: {
            "home": {A},
            "sibling": set(),
            "granted": set(),
            "colleague_granted": set(),
            "grant_ended": set(),
            "foreign": set(),
        }
        for kind in ("matched", "unmatched")
    },
}


@dataclass
class Scene:
    patient: Patient
    places: dict[str, Institution]
    users: dict[tuple[str, Role], User]


@pytest.fixture
def scene(db: None) -> Scene:
    consortium = ConsortiumFactory.create()
    places = {
        "home": InstitutionFactory.create(consortium=consortium),
        "sibling": InstitutionFactory.create(consortium=consortium),
        "granted": InstitutionFactory.create(consortium=consortium, level=InstitutionLevel.COUNTY),
        "colleague_granted": InstitutionFactory.create(
            consortium=consortium, level=InstitutionLevel.COUNTY
        ),
        "grant_ended": InstitutionFactory.create(
            consortium=consortium, level=InstitutionLevel.COUNTY
        ),
        "foreign": InstitutionFactory.create(),
    }
    patient = PatientFactory.create(home_institution=places["home"])
    users = {
        (place, role): PractitionerFactory.create(institution=institution, role_list=[role]).user
        for place, institution in places.items()
        for role in ROLES
    }
    # A consult's grant goes to each person on it, never to their whole institution.
    holders = [("granted", users[("granted", role)].pk, "1") for role in ROLES] + [
        ("grant_ended", users[("grant_ended", role)].pk, "2") for role in ROLES
    ]
    on_the_consult = PractitionerFactory.create(
        institution=places["colleague_granted"], role_list=[Role.SPECIALIST]
    )
    holders.append(("colleague_granted", on_the_consult.user_id, "5"))
    for place, user_id, consult in holders:
        access_grant_open(
            patient_id=patient.pk,
            institution_id=places[place].pk,
            user_id=user_id,
            source_type="consult",
            source_id=consult,
            reason=f"consult {consult}",
        )
    access_grant_close(source_type="consult", source_id="2")
    return Scene(patient=patient, places=places, users=users)


PATIENT_CASES = [
    (action, place, role) for action in PATIENT_MATRIX for place in PLACES for role in ROLES
]


@pytest.mark.parametrize(("action", "place", "role"), PATIENT_CASES)
def test_patient_access_matrix(scene: Scene, action: Action, place: str, role: Role) -> None:
    expected = role in PATIENT_MATRIX[action][place]
    actor = actor_for(scene.users[(place, role)])
    assert patient_permits(actor, action, scene.patient) is expected
    if action is Action.VIEW:
        assert patients_visible_to(actor).filter(pk=scene.patient.pk).exists() is expected


INSTITUTION_CASES = [
    (action, where, role)
    for action in INSTITUTION_MATRIX
    for where in ("own", "other")
    for role in ROLES
]


@pytest.mark.parametrize(("action", "where", "role"), INSTITUTION_CASES)
def test_institution_access_matrix(scene: Scene, action: Action, where: str, role: Role) -> None:
    actor = actor_for(scene.users[("home", role)])
    target = scene.places["home"] if where == "own" else scene.places["sibling"]
    assert institution_permits(actor, action, target) is (role in INSTITUTION_MATRIX[action][where])
    foreign_actor = actor_for(scene.users[("foreign", role)])
    assert institution_permits(foreign_actor, action, scene.places["home"]) is False


CONSORTIUM_CASES = [
    (action, where, role)
    for action in CONSORTIUM_MATRIX
    for where in ("own", "other")
    for role in ROLES
]


@pytest.mark.parametrize(("action", "where", "role"), CONSORTIUM_CASES)
def test_consortium_access_matrix(scene: Scene, action: Action, where: str, role: Role) -> None:
    actor = actor_for(scene.users[("home", role)])
    consortium_id = scene.places["home" if where == "own" else "foreign"].consortium_id
    expected = role in CONSORTIUM_MATRIX[action][where]
    assert consortium_permits(actor, action, consortium_id) is expected


@pytest.mark.parametrize(("action", "role"), [(a, r) for a in ROLE_MATRIX for r in ROLES])
def test_role_power_matrix(scene: Scene, action: Action, role: Role) -> None:
    expected = role in ROLE_MATRIX[action]
    assert actor_permits(actor_for(scene.users[("home", role)]), action) is expected
    assert roles_permit([role.value], action) is expected
    holders = Practitioner.objects.filter(
        practitioners_permitted(action), institution=scene.places["home"]
    )
    assert holders.filter(user=scene.users[("home", role)]).exists() is expected


def test_role_powers_leave_out_inactive_practitioners_and_actions_not_bound_to_a_role(
    scene: Scene,
) -> None:
    practitioner = scene.users[("home", Role.COORDINATOR)].practitioner
    practitioner.is_active = False
    practitioner.save()
    holders = Practitioner.objects.filter(practitioners_permitted(Action.REVIEW_DUPLICATES))
    assert not holders.filter(pk=practitioner.pk).exists()
    assert actor_permits(None, Action.REVIEW_DUPLICATES) is False
    for action in set(Action) - set(ROLE_MATRIX):
        with pytest.raises(ValueError, match="not bound to a role"):
            roles_permit([role.value for role in ROLES], action)


STUDY_CASES = [
    (action, kind, place, role)
    for action, kinds in STUDY_MATRIX.items()
    for kind in kinds
    for place in PLACES
    for role in ROLES
]


@pytest.mark.parametrize(("action", "kind", "place", "role"), STUDY_CASES)
def test_study_access_matrix(
    scene: Scene, action: Action, kind: str, place: str, role: Role
) -> None:
    owner = scene.places["home"]
    study = StudySubject(
        owner_institution_id=owner.pk,
        owner_consortium_id=owner.consortium_id,
        patient_id=scene.patient.pk if kind == "matched" else None,
    )
    expected = role in STUDY_MATRIX[action][kind][place]
    assert study_permits(actor_for(scene.users[(place, role)]), action, study) is expected


def test_anonymous_and_non_practitioner_users_may_do_nothing(scene: Scene) -> None:
    for user in (AnonymousUser(), UserFactory.create()):
        actor = actor_for(user)
        assert actor is None
        for action in PATIENT_MATRIX:
            assert patient_permits(actor, action, scene.patient) is False
        assert not patients_visible_to(actor).exists()


def test_inactive_practitioner_loses_access(scene: Scene) -> None:
    user = scene.users[("home", Role.CLINIC_DOCTOR)]
    user.practitioner.is_active = False
    user.practitioner.save()
    user.refresh_from_db()
    assert patient_permits(actor_for(user), Action.VIEW, scene.patient) is False


def test_grant_starts_and_ends_with_its_source(scene: Scene) -> None:
    actor = actor_for(scene.users[("sibling", Role.SPECIALIST)])
    assert actor is not None
    assert not patient_permits(actor, Action.VIEW, scene.patient)
    access_grant_open(
        patient_id=scene.patient.pk,
        institution_id=actor.institution_id,
        user_id=actor.user_id,
        source_type="referral",
        source_id="7",
        reason="referral 7",
    )
    assert patient_permits(actor, Action.VIEW, scene.patient)
    assert access_grant_close(source_type="referral", source_id="7") == 1
    assert not patient_permits(actor, Action.VIEW, scene.patient)


def test_grant_scheduled_for_later_is_not_yet_active(scene: Scene) -> None:
    actor = actor_for(scene.users[("sibling", Role.CLINIC_DOCTOR)])
    assert actor is not None
    AccessGrant.objects.create(
        patient=scene.patient,
        institution_id=actor.institution_id,
        user_id=actor.user_id,
        source_type="consult",
        source_id="9",
        reason="later",
        starts_at=timezone.now() + timedelta(hours=1),
    )
    assert not patient_permits(actor, Action.VIEW, scene.patient)


def test_denied_and_missing_patients_look_the_same_and_both_are_audited(
    scene: Scene,
) -> None:
    stranger = scene.users[("sibling", Role.CLINIC_DOCTOR)]
    with pytest.raises(NotFound):
        patient_get_for_user(user=stranger, patient_id=scene.patient.pk)
    with pytest.raises(NotFound):
        patient_get_for_user(user=stranger, patient_id=scene.patient.pk + 1000)
    denied = AuditEvent.objects.filter(actor_id=stranger.pk, outcome=AuditOutcome.DENIED)
    assert sorted(denied.values_list("resource_id", flat=True)) == sorted(
        [str(scene.patient.pk), str(scene.patient.pk + 1000)]
    )
    assert denied.get(resource_id=str(scene.patient.pk)).patient_id == scene.patient.pk


# --- Consults: the shared review -----------------------------------------------------------
# Who may join the shared review of a consult's study, open (not declined, closed or ended) or
# not. Everyone here may view the consult; only the people working on it take part.
REVIEW_MATRIX: dict[str, dict[bool, bool]] = {
    "requester": {True: True, False: False},
    "lead": {True: True, False: False},
    "invited": {True: True, False: False},  # an MDT member who does not lead
    "requesters_colleague": {True: False, False: False},
    "coordinator": {True: False, False: False},
    "department_head": {True: False, False: False},
    "queue_specialist": {True: False, False: False},
}
_CONSORTIUM = 1
_INVITING, _COUNTY = 10, 20
_USERS = {
    "requester": (101, _INVITING, Role.CLINIC_DOCTOR),
    "lead": (102, _COUNTY, Role.SPECIALIST),
    "invited": (103, _COUNTY, Role.SPECIALIST),
    "requesters_colleague": (104, _INVITING, Role.CLINIC_DOCTOR),
    "coordinator": (105, _COUNTY, Role.COORDINATOR),
    "department_head": (106, _COUNTY, Role.SPECIALIST),
    "queue_specialist": (107, _COUNTY, Role.SPECIALIST),
}


def _review_facts(*, is_open: bool) -> ConsultFacts:
    on_it = ("lead", "invited", "queue_specialist", "department_head")
    return ConsultFacts(
        consortium_id=_CONSORTIUM,
        patient_id=1,
        patient_home_institution_id=_INVITING,
        inviting_institution_id=_INVITING,
        requester_user_id=_USERS["requester"][0],
        invited_user_ids=frozenset({_USERS["lead"][0], _USERS["invited"][0]}),
        lead_user_id=_USERS["lead"][0],
        queue_user_ids=frozenset({_USERS["queue_specialist"][0]}),
        department_head_user_ids=frozenset({_USERS["department_head"][0]}),
        is_open=is_open,
        # The consult's grant for its patient, held by each person on it (while it is open, or
        # queued again after a decline).
        grant_holder_user_ids=frozenset(_USERS[who][0] for who in on_it),
    )


def _actor(who: str) -> Actor:
    user_id, institution_id, role = _USERS[who]
    return Actor(
        user_id=user_id,
        practitioner_id=user_id,
        institution_id=institution_id,
        consortium_id=_CONSORTIUM,
        roles=frozenset({role.value}),
    )


# Who may do what to an open consult awaiting its invited doctors' work (the queue specialist's
# department queue still holds it).
_EVERYONE = set(_USERS)
CONSULT_MATRIX: dict[ConsultAction, set[str]] = {
    ConsultAction.VIEW: _EVERYONE,
    ConsultAction.REQUEST: {"requester"},
    ConsultAction.ROUTE: {"coordinator", "department_head"},
    ConsultAction.CLAIM: {"queue_specialist"},
    ConsultAction.RESPOND: {"lead"},
    ConsultAction.CONTRIBUTE: {"lead", "invited"},
    ConsultAction.ATTACH_STUDY: {"requester", "lead", "invited"},
    ConsultAction.SIGN: {"lead"},
    ConsultAction.CORRECT: {"requester", "coordinator"},
    ConsultAction.REVIEW: {"requester", "lead", "invited"},
}


@pytest.mark.parametrize(("action", "who"), [(a, w) for a in CONSULT_MATRIX for w in _USERS])
def test_consult_access_matrix(action: ConsultAction, who: str) -> None:
    facts = _review_facts(is_open=True)
    assert consult_permits(_actor(who), action, facts) is (who in CONSULT_MATRIX[action])


def test_claiming_from_a_queue_takes_a_specialist() -> None:
    facts = replace(
        _review_facts(is_open=True), queue_user_ids=frozenset({_USERS["queue_specialist"][0]})
    )
    doctor = replace(_actor("queue_specialist"), roles=frozenset({Role.CLINIC_DOCTOR.value}))
    assert not consult_permits(doctor, ConsultAction.CLAIM, facts)


@pytest.mark.parametrize(
    ("who", "is_open"), [(who, is_open) for who in REVIEW_MATRIX for is_open in (True, False)]
)
def test_consult_review_matrix(who: str, is_open: bool) -> None:
    user_id, institution_id, role = _USERS[who]
    actor = Actor(
        user_id=user_id,
        practitioner_id=user_id,
        institution_id=institution_id,
        consortium_id=_CONSORTIUM,
        roles=frozenset({role.value}),
    )
    facts = _review_facts(is_open=is_open)
    assert consult_permits(actor, ConsultAction.VIEW, facts)
    assert consult_permits(actor, ConsultAction.REVIEW, facts) is REVIEW_MATRIX[who][is_open]


def test_nobody_outside_the_consortium_or_signed_out_joins_a_review() -> None:
    requester_id = _USERS["requester"][0]
    foreign = Actor(
        user_id=requester_id,
        practitioner_id=requester_id,
        institution_id=_INVITING,
        consortium_id=_CONSORTIUM + 1,
        roles=frozenset({Role.CLINIC_DOCTOR.value}),
    )
    facts = _review_facts(is_open=True)
    assert not consult_permits(foreign, ConsultAction.REVIEW, facts)
    assert not consult_permits(None, ConsultAction.REVIEW, facts)


# --- Consults: the invited side reads a consult only through its live grant -----------------
# Once a person's grant from the consult has ended (the consult ended for them, or the grant
# ran out), nothing of it is theirs any more, open or not: neither its clinical text nor any
# action on it. The requesting side and coordinators are unaffected.
@pytest.mark.parametrize("who", ["lead", "invited", "queue_specialist", "department_head"])
def test_the_invited_side_loses_the_consult_with_its_grant(who: str) -> None:
    facts = replace(_review_facts(is_open=True), grant_holder_user_ids=frozenset())
    for action in ConsultAction:
        assert consult_permits(_actor(who), action, facts) is False, action
    for keeps in ("requester", "requesters_colleague", "coordinator"):
        assert consult_permits(_actor(keeps), ConsultAction.VIEW, facts)


# A consult requested from an institution that is not the patient's home (before issue 15 a
# holder of another consult's grant could request one): its requesting side owns nothing of the
# patient, so neither the requester nor their colleagues read or move it; coordinators do.
OUTSIDE_REQUEST_MATRIX: dict[str, bool] = {
    "requester": False,
    "requesters_colleague": False,
    "coordinator": True,
    "lead": True,
}


@pytest.mark.parametrize("who", list(OUTSIDE_REQUEST_MATRIX))
def test_a_consult_requested_from_outside_the_patients_home(who: str) -> None:
    facts = replace(_review_facts(is_open=True), patient_home_institution_id=_INVITING + 1)
    expected = OUTSIDE_REQUEST_MATRIX[who]
    assert consult_permits(_actor(who), ConsultAction.VIEW, facts) is expected
    assert consult_permits(_actor(who), ConsultAction.REQUEST, facts) is False
    for action in (ConsultAction.ATTACH_STUDY, ConsultAction.REVIEW):
        assert consult_permits(_actor(who), action, facts) is (who == "lead")
    assert consult_permits(_actor(who), ConsultAction.CORRECT, facts) is (who == "coordinator")


def test_every_grant_has_an_end(scene: Scene, settings: object) -> None:
    settings.ACCESS_GRANT_DAYS = 7  # type: ignore[attr-defined]  # pytest-django settings
    holder = scene.users[("sibling", Role.SPECIALIST)]
    before = timezone.now()
    opened = access_grant_open(
        patient_id=scene.patient.pk,
        institution_id=scene.places["sibling"].pk,
        user_id=holder.pk,
        source_type="referral",
        source_id="8",
        reason="referral 8",
    )
    created = AccessGrant.objects.create(
        patient=scene.patient,
        institution=scene.places["sibling"],
        user=holder,
        source_type="referral",
        source_id="9",
        reason="referral 9",
    )
    for grant in (opened, created):
        grant.refresh_from_db()
        assert before + timedelta(days=7) <= grant.ends_at <= timezone.now() + timedelta(days=7)
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1), tick=False):
        assert not patient_permits(actor_for(holder), Action.VIEW, scene.patient)


def test_a_grant_row_naming_no_person_opens_the_patient_to_nobody(scene: Scene) -> None:
    """Rows from before issue 15 gave a whole institution the patient; none does any more."""
    AccessGrant.objects.create(
        patient=scene.patient,
        institution=scene.places["sibling"],
        source_type="consult",
        source_id="6",
        reason="consult 6",
        ends_at=timezone.now() + timedelta(days=1),
    )
    for role in ROLES:
        actor = actor_for(scene.users[("sibling", role)])
        assert patient_permits(actor, Action.VIEW, scene.patient) is (role == Role.COORDINATOR)


# --- Consults: after closing, the amendment window ------------------------------------------
# Once the requester closes a consult, the invited side keeps it only as its signer (the lead),
# and only inside the amendment window: reading it and amending (SIGN); department heads lose
# it too. The requester's side and coordinators keep reading it.
CLOSED_MATRIX: dict[str, dict[bool, tuple[bool, bool]]] = {
    # who: {inside the window: (VIEW, SIGN)}
    "lead": {True: (True, True), False: (False, False)},
    "invited": {True: (False, False), False: (False, False)},
    "requester": {True: (True, False), False: (True, False)},
    "requesters_colleague": {True: (True, False), False: (True, False)},
    "coordinator": {True: (True, False), False: (True, False)},
    "department_head": {True: (False, False), False: (False, False)},
    "queue_specialist": {True: (False, False), False: (False, False)},
}


@pytest.mark.parametrize(
    ("who", "inside"), [(who, inside) for who in CLOSED_MATRIX for inside in (True, False)]
)
def test_closed_consult_matrix(who: str, inside: bool) -> None:
    user_id, institution_id, role = _USERS[who]
    actor = Actor(
        user_id=user_id,
        practitioner_id=user_id,
        institution_id=institution_id,
        consortium_id=_CONSORTIUM,
        roles=frozenset({role.value}),
    )
    facts = replace(
        _review_facts(is_open=False),
        queue_user_ids=frozenset(),  # a queue holds only consults awaiting routing
        is_closed=True,
        grant_holder_user_ids=frozenset({_USERS["lead"][0]}) if inside else frozenset(),
    )
    view, sign = CLOSED_MATRIX[who][inside]
    assert consult_permits(actor, ConsultAction.VIEW, facts) is view
    assert consult_permits(actor, ConsultAction.SIGN, facts) is sign
    assert consult_permits(actor, ConsultAction.CONTRIBUTE, facts) is (who == "lead" and inside)


# The patient of a closed consult through the grant kept for its signer: the signer alone of
# their institution, and only until the window ends.
PERSONAL_GRANT_MATRIX: dict[tuple[str, str], bool] = {
    ("signer", "inside"): True,
    ("colleague", "inside"): False,
    ("signer", "after"): False,
    ("colleague", "after"): False,
}


@pytest.mark.parametrize(("who", "window"), list(PERSONAL_GRANT_MATRIX))
def test_personal_grant_matrix(scene: Scene, who: str, window: str) -> None:
    signer = scene.users[("sibling", Role.SPECIALIST)]
    colleague = PractitionerFactory.create(
        institution=scene.places["sibling"], role_list=[Role.SPECIALIST]
    ).user
    now = timezone.now()
    access_grant_open(
        patient_id=scene.patient.pk,
        institution_id=scene.places["sibling"].pk,
        user_id=signer.pk,
        source_type="consult",
        source_id="3",
        reason="consult 3: amendment window",
        ends_at=now + timedelta(days=1) if window == "inside" else now - timedelta(seconds=1),
    )
    actor = actor_for(signer if who == "signer" else colleague)
    expected = PERSONAL_GRANT_MATRIX[(who, window)]
    assert patient_permits(actor, Action.VIEW, scene.patient) is expected
    assert patients_visible_to(actor).filter(pk=scene.patient.pk).exists() is expected
    assert patient_permits(actor, Action.UPDATE, scene.patient) is False
    assert grant_holders(source_type="consult", source_id="3") == (
        frozenset({signer.pk}) if window == "inside" else frozenset()
    )


def test_closing_the_source_ends_its_personal_grant_too(scene: Scene) -> None:
    signer = scene.users[("sibling", Role.SPECIALIST)]
    access_grant_open(
        patient_id=scene.patient.pk,
        institution_id=scene.places["sibling"].pk,
        user_id=signer.pk,
        source_type="consult",
        source_id="4",
        reason="consult 4: amendment window",
        ends_at=timezone.now() + timedelta(days=30),
    )
    assert access_grant_close(source_type="consult", source_id="4") == 1
    assert not patient_permits(actor_for(signer), Action.VIEW, scene.patient)


def test_every_named_action_has_a_row_in_the_matrix() -> None:
    covered = (
        set(PATIENT_MATRIX)
        | set(INSTITUTION_MATRIX)
        | set(CONSORTIUM_MATRIX)
        | set(ROLE_MATRIX)
        | set(STUDY_MATRIX)
    )
    assert set(Action) - covered == set()
    assert set(ConsultAction) - set(CONSULT_MATRIX) == set()
