"""`consults_visible_to` (a queryset) agrees with `consult_permits` for every consult and user."""

from django.contrib.auth.models import AnonymousUser

from consult.models import ConsultParticipant, ConsultRequest, Kind, Status, TargetKind
from consult.selectors import consult_facts, consults_visible_to
from consult.services import consult_grants_sync
from server.access import ConsultAction, actor_for, consult_permits
from server.accounts.models import User
from server.directory.models import Specialty
from tests.conftest import World
from tests.consult.conftest import add_specialist, make_consult, practitioner_of
from tests.factories import DepartmentFactory, PractitionerFactory, UserFactory


def _scene(world: World) -> tuple[list[ConsultRequest], list[User | AnonymousUser]]:
    """Consults in every shape the VIEW rule distinguishes, and people on every side of it."""
    radiology = DepartmentFactory.create(
        institution=world.county, name="放射科", specialty=Specialty.RADIOLOGY
    )
    cardiology = DepartmentFactory.create(
        institution=world.county, name="心内科", specialty=Specialty.CARDIOLOGY
    )
    head = add_specialist(world, "radiology_head", department=radiology)
    radiology.head = head
    radiology.save()
    cardio_head = add_specialist(
        world, "cardiology_head", specialty=Specialty.CARDIOLOGY, department=cardiology
    )
    cardiology.head = cardio_head
    cardiology.save()
    queue_member = add_specialist(world, "queue_member", department=radiology)
    cardiologist = add_specialist(
        world, "cardiologist", specialty=Specialty.CARDIOLOGY, department=cardiology
    )
    specialist = practitioner_of(world.specialist)
    specialist.department = radiology
    specialist.save()

    def queued(status: Status) -> ConsultRequest:
        return make_consult(
            world,
            status,
            target_kind=TargetKind.DEPARTMENT,
            target_department=radiology,
            target_practitioner=None,
        )

    consults = [
        make_consult(world),  # draft, named specialist
        make_consult(world, Status.ASSIGNED),
        make_consult(world, Status.CLOSED),
        queued(Status.SUBMITTED),
        queued(Status.DECLINED),
        queued(Status.ACCEPTED),  # left the queue
        make_consult(
            world,
            Status.SUBMITTED,
            target_kind=TargetKind.CONSULT_CENTRE,
            target_practitioner=None,
        ),
        make_consult(
            world, Status.ASSIGNED, inviting_institution=world.other_township
        ),  # another township's request about our patient
    ]
    mdt = make_consult(
        world,
        Status.ACCEPTED,
        kind=Kind.MDT,
        target_kind=TargetKind.CONSULT_CENTRE,
        target_practitioner=None,
    )
    ConsultParticipant.objects.create(consult=mdt, practitioner=cardiologist)
    consult_grants_sync(consult=mdt)  # as assigning them would
    ended = make_consult(world, Status.DECLINED)
    ended.participants.update(ended_at=mdt.created_at)
    consults += [mdt, ended]

    stranger_specialist = add_specialist(world, "elsewhere", institution=world.other_township)
    no_practitioner = UserFactory.create(username="no_practitioner")
    inactive = PractitionerFactory.create(
        institution=world.township, user__username="inactive", is_active=False
    ).user
    users: list[User | AnonymousUser] = [
        world.clinic_doctor,
        world.other_clinic_doctor,
        world.specialist,
        world.coordinator,
        world.institution_admin,
        world.foreign_doctor,
        head.user,
        cardio_head.user,
        queue_member.user,
        cardiologist.user,
        stranger_specialist.user,
        no_practitioner,
        inactive,
        AnonymousUser(),
    ]
    return consults, users


def test_visible_queryset_agrees_with_the_policy_for_every_consult_and_user(
    world: World,
) -> None:
    consults, users = _scene(world)
    facts = {c.pk: consult_facts(consult=c) for c in consults}
    seen_by_someone: set[int] = set()
    for user in users:
        actor = actor_for(user)
        visible = set(consults_visible_to(actor).values_list("pk", flat=True))
        allowed = {pk for pk, f in facts.items() if consult_permits(actor, ConsultAction.VIEW, f)}
        assert visible == allowed, getattr(user, "username", "anonymous")
        seen_by_someone |= visible
    # The matrix is not vacuous: every consult is visible to someone and hidden from someone.
    assert seen_by_someone == set(facts)
    assert set(consults_visible_to(actor_for(world.foreign_doctor))) == set()
