"""Each statement of `imaging/sql.py` against the database, with the cases it handles."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from imaging import sql
from imaging.models import (
    IngestSource,
    Instance,
    PreviewState,
    Series,
    Study,
    StudyViewing,
    ViewingKind,
)
from server.directory.models import Institution, Patient
from server.lib.rows import pipelined
from tests.factories import InstitutionFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _study(uid: str, *, institution: Institution, patient: Patient | None = None) -> Study:
    return Study.objects.create(
        study_instance_uid=uid,
        institution=institution,
        patient=patient,
        source=IngestSource.STOW,
        dicom_patient_id="H1",
        issuer_of_patient_id="ISS",
        modalities_in_study="CT\\MR",
        series_count=1,
        instance_count=2,
        size_bytes=300,
        revision=1,
    )


def _series(study: Study, uid: str, **fields: object) -> Series:
    return Series.objects.create(study=study, series_instance_uid=uid, revision=1, **fields)


def _instance(series: Series, uid: str) -> Instance:
    return Instance.objects.create(
        study_id=series.study_id,
        series=series,
        sop_instance_uid=uid,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        sha256=uid.replace(".", "a").ljust(64, "0"),
        dataset_sha256="d" * 64,
        storage_name="instances/x",
        size_bytes=150,
        metadata='{"00080018": {}}',
        source=IngestSource.STOW,
        institution_id=series.study.institution_id,
    )


@pytest.fixture
def stored() -> tuple[Study, Series, Instance]:
    owner = InstitutionFactory.create()
    study = _study("1.2.3", institution=owner, patient=PatientFactory.create())
    series = _series(study, "1.2.3.1", modality="CT")
    return study, series, _instance(series, "1.2.3.1.1")


def test_viewings_insert_returns_the_studies_not_marked_before(
    stored: tuple[Study, Series, Instance],
) -> None:
    study = stored[0]
    other = _study("1.2.4", institution=study.institution)
    now = timezone.now()

    def mark(
        study_ids: list[int],
        *,
        user_id: int = 7,
        session: str = "s1",
        kind: ViewingKind = ViewingKind.RETRIEVE,
        at: timedelta = timedelta(0),
    ) -> set[int]:
        return sql.viewings_insert(
            user_id=user_id, session=session, kind=kind, study_ids=study_ids, now=now + at
        )

    assert mark([study.pk]) == {study.pk}
    # A conflict is left as it was; the study not marked before is returned.
    assert mark([study.pk, other.pk], at=timedelta(hours=1)) == {other.pk}
    assert StudyViewing.objects.get(study=study).first_at == now
    # Another session, kind or user is another mark.
    assert mark([study.pk], session="s2") == {study.pk}
    assert mark([study.pk], kind=ViewingKind.SEARCH) == {study.pk}
    assert mark([study.pk], user_id=8) == {study.pk}
    assert StudyViewing.objects.count() == 5


def test_series_previews_mark_returns_the_series_it_changed(
    stored: tuple[Study, Series, Instance],
) -> None:
    study, waiting, _ = stored
    claimed = _series(
        study, "1.2.3.2", preview_state=PreviewState.RENDERING, preview_claimed_at=timezone.now()
    )
    Series.objects.filter(pk=waiting.pk).update(preview_state=PreviewState.PENDING)
    missing = claimed.pk + 1000
    assert sql.series_previews_mark(
        series_ids=[waiting.pk, claimed.pk, missing], state=PreviewState.PENDING
    ) == [claimed.pk]
    claimed.refresh_from_db()
    assert (claimed.preview_state, claimed.preview_claimed_at) == (PreviewState.PENDING, None)
    assert sql.series_previews_mark(series_ids=[claimed.pk], state=PreviewState.PENDING) == []


def _study_row(study: Study) -> tuple[object, ...]:
    return (
        study.pk,
        study.study_instance_uid,
        study.institution_id,
        study.institution.consortium_id,
        study.patient_id,
        "H1",
        "ISS",
        "CT\\MR",
    )


def test_the_archive_look_up_finds_stored_series_with_their_study_and_stored_instances(
    stored: tuple[Study, Series, Instance],
) -> None:
    study, series, instance = stored
    series_rows, instance_rows = sql.archive_series_and_instances(
        series_uids=[series.series_instance_uid, "9.9"],
        sop_uids=[instance.sop_instance_uid, "9.9.1"],
    )
    assert series_rows == [(series.series_instance_uid, series.pk, *_study_row(study))]
    assert instance_rows == [
        (instance.sop_instance_uid, instance.pk, instance.sha256, "d" * 64, study.patient_id)
    ]
    assert sql.archive_series_and_instances(series_uids=["9.9"], sop_uids=["9.9.1"]) == ([], [])


def test_the_archive_look_up_of_studies(stored: tuple[Study, Series, Instance]) -> None:
    study = stored[0]
    unmatched = _study("1.2.5", institution=study.institution)
    rows = sql.archive_studies([study.study_instance_uid, unmatched.study_instance_uid, "9"])
    assert sorted(rows, key=str) == sorted([_study_row(study), _study_row(unmatched)], key=str)
    assert sql.archive_studies(["9"]) == []


def test_counts_add_adds_to_each_row_and_bumps_its_revision(
    stored: tuple[Study, Series, Instance],
) -> None:
    study, first, _ = stored
    second = _series(study, "1.2.3.2", instance_count=5)
    with pipelined():
        sql.counts_add(Series, {first.pk: {"instance_count": 2}, second.pk: {"instance_count": 3}})
        sql.counts_add(Study, {study.pk: {"instance_count": 5, "size_bytes": 1000}})
    assert list(Series.objects.order_by("pk").values_list("instance_count", "revision")) == [
        (2, 2),
        (8, 2),
    ]
    study.refresh_from_db()
    assert (study.instance_count, study.size_bytes, study.series_count) == (7, 1300, 1)
    assert study.revision == 2


def test_counts_add_of_nothing_sends_nothing() -> None:
    with CaptureQueriesContext(connection) as queries:
        sql.counts_add(Study, {})
    assert not queries.captured_queries


def test_instance_with_study_loads_the_instance_and_what_it_belongs_to(
    stored: tuple[Study, Series, Instance],
) -> None:
    study, series, instance = stored
    found = sql.instance_with_study(
        study_uid=study.study_instance_uid,
        series_uid=series.series_instance_uid,
        instance_uid=instance.sop_instance_uid,
    )
    assert found is not None
    assert (found.pk, found.sha256, found.get_deferred_fields()) == (
        instance.pk,
        instance.sha256,
        {"metadata"},
    )
    assert Instance.series.is_cached(found)
    assert Instance.study.is_cached(found)
    assert (found.series.pk, found.study.pk) == (series.pk, study.pk)
    assert found.study.institution == study.institution
    assert found.study.patient == study.patient
    with CaptureQueriesContext(connection) as queries:
        assert found.study.institution.consortium_id == study.institution.consortium_id
        assert found.study.patient is not None
    assert not queries.captured_queries


def test_instance_with_study_of_an_unmatched_study_has_no_patient(
    stored: tuple[Study, Series, Instance],
) -> None:
    study = _study("1.2.6", institution=stored[0].institution)
    series = _series(study, "1.2.6.1")
    instance = _instance(series, "1.2.6.1.1")
    found = sql.instance_with_study(
        study_uid="1.2.6", series_uid="1.2.6.1", instance_uid=instance.sop_instance_uid
    )
    assert found is not None
    assert Study.patient.is_cached(found.study)
    assert found.study.patient is None


def test_instance_with_study_needs_all_three_uids_to_agree(
    stored: tuple[Study, Series, Instance],
) -> None:
    study, series, instance = stored
    other = _series(_study("1.2.7", institution=study.institution), "1.2.7.1")
    for study_uid, series_uid in (
        ("1.2.7", series.series_instance_uid),  # the instance is in another study
        (study.study_instance_uid, other.series_instance_uid),  # in another series
    ):
        assert (
            sql.instance_with_study(
                study_uid=study_uid, series_uid=series_uid, instance_uid=instance.sop_instance_uid
            )
            is None
        )
    assert (
        sql.instance_with_study(
            study_uid=study.study_instance_uid,
            series_uid=series.series_instance_uid,
            instance_uid="9.9.9",
        )
        is None
    )
