"""The study scope searches filter with agrees with `study_permits`, study by study: the VIEW
rule's SQL form (`server/sql.py`) pinned to its Python form (`server/access.py`)."""

from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from imaging.models import IngestSource, Study, study_subject
from imaging.selectors import studies_visible_to
from server.access import Action, actor_for, study_permits
from server.accounts.models import User
from server.directory.models import AccessGrant, InstitutionLevel, Role
from server.directory.services import access_grant_close, access_grant_open
from server.lib.rows import Aliased, fetch
from server.sql import study_scope_of_coordinator, study_scope_of_staff
from tests.factories import (
    ConsortiumFactory,
    InstitutionFactory,
    PatientFactory,
    PractitionerFactory,
    UserFactory,
)

ROLES = [Role.CLINIC_DOCTOR, Role.SPECIALIST, Role.COORDINATOR, Role.INSTITUTION_ADMIN]


def test_the_searched_scope_is_exactly_the_studies_each_user_may_view(db: None) -> None:
    consortium = ConsortiumFactory.create()
    home, sibling = (InstitutionFactory.create(consortium=consortium) for _ in range(2))
    granted, grant_ended = (
        InstitutionFactory.create(consortium=consortium, level=InstitutionLevel.COUNTY)
        for _ in range(2)
    )
    foreign = InstitutionFactory.create()
    patient = PatientFactory.create(home_institution=home)
    stranger = PatientFactory.create(home_institution=foreign)
    staff = {
        (place.pk, role): PractitionerFactory.create(institution=place, role_list=[role]).user
        for place in (home, sibling, granted, grant_ended, foreign)
        for role in ROLES
    }
    # A consult's grant goes to the person on it, not to their colleagues (the minimum
    # necessary): the specialists of the granted hospitals hold one, their colleagues do not.
    for place, consult in ((granted, "1"), (grant_ended, "2")):
        access_grant_open(
            patient_id=patient.pk,
            institution_id=place.pk,
            user_id=staff[(place.pk, Role.SPECIALIST)].pk,
            source_type="consult",
            source_id=consult,
            reason=f"consult {consult}",
        )
    access_grant_close(source_type="consult", source_id="2")
    # A closed consult's signer at another county hospital, inside the amendment window (a
    # grant to them alone), their colleague, and a signer whose window has ended.
    signers_place = InstitutionFactory.create(consortium=consortium, level=InstitutionLevel.COUNTY)
    signer, colleague, late_signer = (
        PractitionerFactory.create(institution=signers_place, role_list=[Role.SPECIALIST]).user
        for _ in range(3)
    )
    for holder, ends_at in (
        (signer, timezone.now() + timedelta(days=30)),
        (late_signer, timezone.now() - timedelta(seconds=1)),
    ):
        access_grant_open(
            patient_id=patient.pk,
            institution_id=signers_place.pk,
            user_id=holder.pk,
            source_type="consult",
            source_id=f"3-{holder.pk}",
            reason="amendment window",
            ends_at=ends_at,
        )
    owners_and_patients = [
        (home, patient),
        (granted, patient),  # sent by the county hospital, matched to the township's patient
        (home, None),
        (sibling, None),
        (granted, None),
        (foreign, None),
        (foreign, stranger),
    ]
    studies = [
        Study.objects.create(
            study_instance_uid=f"1.2.826.0.1.{index}",
            institution=owner,
            patient=matched,
            source=IngestSource.STOW,
        )
        for index, (owner, matched) in enumerate(owners_and_patients)
    ]
    users: list[User | AnonymousUser] = list(staff.values())
    users += [signer, colleague, late_signer]
    users += [AnonymousUser(), UserFactory.create()]  # signed out; not a practitioner
    seen_by_anyone = set()
    for user in users:
        actor = actor_for(user)
        allowed = {
            study.pk
            for study in Study.objects.select_related("institution", "patient")
            if study_permits(actor, Action.VIEW, study_subject(study))
        }
        assert set(studies_visible_to(actor).values_list("pk", flat=True)) == allowed
        if user in (signer, colleague, late_signer):
            assert bool(allowed) is (user == signer)
        if user in [staff[(granted.pk, role)] for role in ROLES]:
            matched = {study.pk for study in studies if study.patient_id == patient.pk}
            holds = user in (
                staff[(granted.pk, Role.SPECIALIST)],
                staff[(granted.pk, Role.COORDINATOR)],
            )
            assert (matched <= allowed) is holds
        seen_by_anyone |= allowed
    assert seen_by_anyone == {study.pk for study in studies}  # the foreign study: its coordinator


def _in_scope(condition: str, params: list[object]) -> set[int]:
    """The studies a scope's condition lets through, run as the statement it is."""
    st = Aliased(Study, "st")
    where = condition.format(patient=st["patient"], institution=st["institution"])
    return {pk for (pk,) in fetch(f"SELECT {st['id']} FROM {st} WHERE {where}", params)}  # noqa: S608  # names from the models


def test_the_staff_scope_holds_a_grant_from_its_start_until_its_end(db: None) -> None:
    consortium = ConsortiumFactory.create()
    home, granted = (InstitutionFactory.create(consortium=consortium) for _ in range(2))
    patient = PatientFactory.create(home_institution=home)
    starts_at = timezone.now()
    ends_at = starts_at + timedelta(hours=1)
    holder, colleague = (PractitionerFactory.create(institution=granted).user for _ in range(2))
    AccessGrant.objects.create(
        patient=patient,
        institution=granted,
        user=holder,
        source_type="consult",
        source_id="1",
        reason="consult 1",
        starts_at=starts_at,
        ends_at=ends_at,
    )
    matched, theirs, ours = (
        Study.objects.create(
            study_instance_uid=f"1.2.826.0.2.{index}",
            institution=owner,
            patient=with_patient,
            source=IngestSource.STOW,
        )
        for index, (owner, with_patient) in enumerate(
            ((home, patient), (home, None), (granted, None))
        )
    )
    for now, seen in (
        (starts_at - timedelta(microseconds=1), {ours.pk}),
        (starts_at, {ours.pk, matched.pk}),
        (ends_at - timedelta(microseconds=1), {ours.pk, matched.pk}),
        (ends_at, {ours.pk}),
    ):
        assert (
            _in_scope(
                *study_scope_of_staff(
                    consortium_id=consortium.pk,
                    institution_id=granted.pk,
                    user_id=holder.pk,
                    now=now,
                )
            )
            == seen
        )
        # The grant is the holder's alone: their colleague sees only their institution's own.
        assert _in_scope(
            *study_scope_of_staff(
                consortium_id=consortium.pk,
                institution_id=granted.pk,
                user_id=colleague.pk,
                now=now,
            )
        ) == {ours.pk}
    home_staff = _in_scope(
        *study_scope_of_staff(
            consortium_id=consortium.pk, institution_id=home.pk, user_id=0, now=starts_at
        )
    )
    assert home_staff == {matched.pk, theirs.pk}
    coordinator = _in_scope(*study_scope_of_coordinator(consortium_id=consortium.pk))
    assert coordinator == {matched.pk, theirs.pk, ours.pk}
    assert _in_scope(*study_scope_of_coordinator(consortium_id=consortium.pk + 1000)) == set()
