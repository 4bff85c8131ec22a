"""The migration that makes a national ID number name one current record per consortium."""

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from server.audit.models import AuditEvent
from server.directory.models import DuplicateStatus, Patient, PatientDuplicate
from server.directory.services import national_id_hash
from tests.conftest import World
from tests.factories import PatientFactory

BEFORE = [("directory", "0002_practitioner_mobile")]
AFTER = [("directory", "0004_patient_unique_national_id")]


def _migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _migrate_to_latest() -> None:
    """Leave the database as the other tests expect it: every migration applied."""
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_records_registered_twice_with_one_national_id_are_merged_into_the_first(
    world: World,
) -> None:
    _migrate(BEFORE)
    try:
        hashed = national_id_hash("51032219520418002X")
        first = PatientFactory.create(
            home_institution=world.township, name="王秀英", national_id_hash=hashed
        )
        again = PatientFactory.create(
            home_institution=world.township,
            name="王秀英",
            national_id_hash=hashed,
            birth_date=date(1952, 4, 18),
        )
        flagged = PatientDuplicate.objects.create(
            consortium=first.consortium,
            new_patient=again,
            existing_patient=first,
            reason="same_national_id",
        )
        other = PatientFactory.create(home_institution=world.township, national_id_hash="")
    finally:
        _migrate(AFTER)
        _migrate_to_latest()
    assert Patient.objects.get(pk=again.pk).merged_into_id == first.pk
    assert Patient.objects.get(pk=first.pk).merged_into_id is None
    assert Patient.objects.get(pk=other.pk).merged_into_id is None
    assert PatientDuplicate.objects.get(pk=flagged.pk).status == DuplicateStatus.MERGED
    merge = AuditEvent.objects.get(event="patient.merge")
    assert (merge.patient_id, merge.detail["existing_patient_id"]) == (again.pk, first.pk)
