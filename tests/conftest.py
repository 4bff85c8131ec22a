"""Shared fixtures: a small consortium and named actors in it."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from server.accounts.models import User
from server.celery import app as celery_app
from server.directory.models import Institution, InstitutionLevel, Patient, Role, Specialty, Title
from tests.factories import (
    ConsortiumFactory,
    InstitutionFactory,
    PatientFactory,
    PractitionerFactory,
)


@dataclass
class World:
    """Two townships and a county hospital in one consortium, and a stranger consortium."""

    township: Institution
    other_township: Institution
    county: Institution
    foreign_township: Institution
    clinic_doctor: User
    other_clinic_doctor: User
    specialist: User
    coordinator: User
    institution_admin: User
    foreign_doctor: User
    patient: Patient


@pytest.fixture
def world(db: None) -> World:
    consortium = ConsortiumFactory.create()
    county = InstitutionFactory.create(
        consortium=consortium, level=InstitutionLevel.COUNTY, name="县医院"
    )
    township = InstitutionFactory.create(consortium=consortium, parent=county, name="东乡卫生院")
    other_township = InstitutionFactory.create(
        consortium=consortium, parent=county, name="西乡卫生院"
    )
    foreign_township = InstitutionFactory.create(name="外地卫生院")

    def practitioner(institution: Institution, role: Role, username: str) -> User:
        return PractitionerFactory.create(
            institution=institution,
            user__username=username,
            role_list=[role],
            specialty=Specialty.RADIOLOGY
            if role == Role.SPECIALIST
            else Specialty.GENERAL_PRACTICE,
            title=Title.CHIEF if role == Role.SPECIALIST else Title.ATTENDING,
        ).user

    return World(
        township=township,
        other_township=other_township,
        county=county,
        foreign_township=foreign_township,
        clinic_doctor=practitioner(township, Role.CLINIC_DOCTOR, "clinic"),
        other_clinic_doctor=practitioner(other_township, Role.CLINIC_DOCTOR, "other_clinic"),
        specialist=practitioner(county, Role.SPECIALIST, "specialist"),
        coordinator=practitioner(county, Role.COORDINATOR, "coordinator"),
        institution_admin=practitioner(township, Role.INSTITUTION_ADMIN, "admin"),
        foreign_doctor=practitioner(foreign_township, Role.CLINIC_DOCTOR, "foreign"),
        patient=PatientFactory.create(home_institution=township, name="王秀英"),
    )


@pytest.fixture
def archive(settings: Any, tmp_path: Path) -> Path:
    """A fresh, empty storage root for the test's stored files (images, attachments)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture(scope="session", autouse=True)
def _drop_unconsumed_tasks() -> Iterator[None]:
    """Tasks enqueued by servers under test that no worker ran are dropped at the end.

    Daphne and the DICOM SCP enqueue real tasks (image previews) on the test Redis database;
    only the worker tests consume them, on queues of their own.
    """
    yield
    assert settings.REDIS_URL is not None
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete(celery_app.conf.task_default_queue)
