"""The migrations of issue 15: grants to whole institutions end, the open consults' grants go to
the people on them, and every grant gets an end."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from consult.models import ConsultRequest, Status
from server.directory.models import AccessGrant
from tests.conftest import World
from tests.consult.conftest import make_consult

BEFORE = [("directory", "0005_accessgrant_user"), ("consult", "0006_review_presence_seen_at")]


def _migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _migrate_to_latest() -> None:
    """Leave the database as the other tests expect it: every migration applied."""
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def _as_before_issue_15(consult: ConsultRequest, world: World) -> None:
    """The consult's grant as it was: to the county hospital, without an end."""
    AccessGrant.objects.filter(source_id=str(consult.pk)).delete()
    AccessGrant.objects.create(
        patient=consult.patient,
        institution=world.county,
        source_type="consult",
        source_id=str(consult.pk),
        reason=f"Consult {consult.pk}",
        ends_at=None,  # type: ignore[misc]  # the column allowed it before these migrations
    )


@pytest.mark.django_db(transaction=True)
def test_grants_to_institutions_end_and_the_people_on_open_consults_get_theirs(
    world: World,
) -> None:
    _migrate(BEFORE)
    try:
        open_, cancelled = (
            make_consult(world, Status.ACCEPTED),
            make_consult(world, Status.CANCELLED),
        )
        for consult in (open_, cancelled):
            _as_before_issue_15(consult, world)
        signer = AccessGrant.objects.create(
            patient=world.patient,
            institution=world.county,
            user=world.specialist,
            source_type="referral",
            source_id="1",
            reason="referral 1",
            ends_at=None,  # type: ignore[misc]  # as above
        )
    finally:
        _migrate_to_latest()
    now = timezone.now()
    for consult in (open_, cancelled):
        legacy = AccessGrant.objects.get(source_id=str(consult.pk), user__isnull=True)
        assert legacy.ends_at <= now
    opened = AccessGrant.objects.get(source_id=str(open_.pk), user__isnull=False)
    assert (opened.user_id, opened.institution_id) == (world.specialist.pk, world.county.pk)
    assert now < opened.ends_at <= now + timedelta(days=90)
    assert not AccessGrant.objects.filter(source_id=str(cancelled.pk), user__isnull=False).exists()
    signer.refresh_from_db()
    assert now < signer.ends_at <= now + timedelta(days=90)
