"""factory_boy factories for the directory."""

from datetime import date
from typing import Any

import factory

from server.accounts.models import User
from server.directory.models import (
    Consortium,
    Department,
    Institution,
    InstitutionLevel,
    Patient,
    Practitioner,
    PractitionerRole,
    Role,
    Sex,
    Specialty,
    Title,
)

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def persist_password(self: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            self.save()


class ConsortiumFactory(factory.django.DjangoModelFactory[Consortium]):
    class Meta:
        model = Consortium

    code = factory.Sequence(lambda n: f"consortium-{n}")
    name = factory.Sequence(lambda n: f"医共体 {n}")


class InstitutionFactory(factory.django.DjangoModelFactory[Institution]):
    class Meta:
        model = Institution

    consortium = factory.SubFactory(ConsortiumFactory)
    code = factory.Sequence(lambda n: f"inst-{n}")
    name = factory.Sequence(lambda n: f"卫生院 {n}")
    level = InstitutionLevel.TOWNSHIP


class DepartmentFactory(factory.django.DjangoModelFactory[Department]):
    class Meta:
        model = Department

    institution = factory.SubFactory(InstitutionFactory)
    name = factory.Sequence(lambda n: f"科室 {n}")
    specialty = Specialty.INTERNAL_MEDICINE


class PractitionerFactory(factory.django.DjangoModelFactory[Practitioner]):
    class Meta:
        model = Practitioner
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    institution = factory.SubFactory(InstitutionFactory)
    display_name = factory.Sequence(lambda n: f"医生 {n}")
    specialty = Specialty.GENERAL_PRACTICE
    title = Title.ATTENDING
    independent_practice_since = date(2015, 7, 1)

    @factory.post_generation
    def role_list(
        self: Practitioner, create: bool, extracted: list[Role] | None, **kwargs: Any
    ) -> None:
        for role in extracted or [Role.CLINIC_DOCTOR]:
            PractitionerRole.objects.create(practitioner=self, role=role)


class PatientFactory(factory.django.DjangoModelFactory[Patient]):
    class Meta:
        model = Patient

    home_institution = factory.SubFactory(InstitutionFactory)
    consortium = factory.SelfAttribute("home_institution.consortium")
    name = factory.Sequence(lambda n: f"患者{n}")
    sex = Sex.FEMALE
    birth_date = date(1958, 3, 14)
