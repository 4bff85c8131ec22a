"""The ingest service, patient matching, reconciliation and the QIDO selectors."""

import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydicom.uid import generate_uid

from imaging.dicom import FailureReason
from imaging.errors import StudyAlreadyMatched, StudyMatchRefused
from imaging.models import IngestSource, Instance, Study, StudyViewing, ViewingKind
from imaging.qido import Level, query_parse
from imaging.selectors import qido_search, studies_unmatched_for_user, study_get_for_user
from imaging.services import (
    IngestStatus,
    instance_ingest,
    instances_ingest,
    study_patient_link,
    study_patient_match,
)
from server.access import NotFound
from server.accounts.models import User
from server.audit.models import AuditEvent, AuditOutcome
from tests.conftest import World
from tests.factories import PatientFactory
from tests.imaging.conftest import (
    archive_digest,
    dataset_bytes,
    dicom_dataset,
    dicom_file,
    for_patient,
    with_patient_id,
)

pytestmark = pytest.mark.usefixtures("archive")
CARD = "HC-0001"


def _store(world: World, data: bytes, user: User | None = None) -> IngestStatus:
    result = instance_ingest(
        data=data,
        source=IngestSource.STOW,
        institution=world.township,
        user=user or world.clinic_doctor,
    )
    return result.status


@pytest.fixture
def carded(world: World) -> World:
    world.patient.health_card_number = CARD
    world.patient.save()
    return world


def test_instance_ingest_stores_file_once_under_its_sha256(carded: World, archive: Path) -> None:
    data = for_patient("CT_small.dcm", carded.patient)
    assert _store(carded, data) is IngestStatus.STORED
    instance = Instance.objects.get()
    assert (archive / instance.storage_name).read_bytes() == data
    assert instance.storage_name.endswith(f"{instance.sha256}.dcm")
    study = Study.objects.get()
    assert study.patient_id == carded.patient.pk
    assert (study.series_count, study.instance_count, study.size_bytes) == (1, 1, len(data))
    assert study.modalities_in_study == "CT"
    assert study.institution_id == carded.township.pk


def test_instance_ingest_of_identical_bytes_is_a_no_op(carded: World) -> None:
    data = for_patient("CT_small.dcm", carded.patient)
    _store(carded, data)
    before = archive_digest()
    assert _store(carded, data) is IngestStatus.ALREADY_STORED
    assert archive_digest() == before


def test_instance_ingest_refuses_same_uid_with_other_bytes_and_records_it(world: World) -> None:
    _store(world, dicom_file("MR_small.dcm"))
    before = archive_digest()
    result = instance_ingest(
        data=dicom_file("MR_small_implicit.dcm"),
        source=IngestSource.STOW,
        institution=world.township,
        user=world.clinic_doctor,
    )
    assert result.failure_reason is FailureReason.DUPLICATE_SOP_INSTANCE
    assert archive_digest() == before
    conflict = AuditEvent.objects.get(event="imaging.instance.conflict")
    assert conflict.outcome == AuditOutcome.FAILURE
    assert conflict.detail["sop_instance_uid"] == result.sop_instance_uid


@pytest.mark.parametrize(
    "data",
    [b"", b"not dicom at all", dicom_file("MR_truncated.dcm")],
    ids=["zero-byte", "not-dicom", "truncated"],
)
def test_instance_ingest_writes_nothing_for_bad_input(world: World, data: bytes) -> None:
    before = archive_digest()
    assert _store(world, data) is IngestStatus.FAILED
    assert archive_digest() == before


def test_instance_ingest_refuses_oversized_instances(world: World, settings: object) -> None:
    setattr(settings, "IMAGING_MAX_INSTANCE_BYTES", 1000)  # noqa: B010
    result = instance_ingest(
        data=dicom_file("CT_small.dcm"),
        source=IngestSource.STOW,
        institution=world.township,
        user=world.clinic_doctor,
    )
    assert result.failure_reason is FailureReason.OUT_OF_RESOURCES
    assert not Instance.objects.exists()


def test_instance_ingest_refuses_users_who_may_not_store_here(world: World) -> None:
    result = instance_ingest(
        data=dicom_file("CT_small.dcm"),
        source=IngestSource.STOW,
        institution=world.township,
        user=world.other_clinic_doctor,
    )
    assert result.failure_reason is FailureReason.NOT_AUTHORIZED
    assert not Study.objects.exists()


def test_instance_ingest_refuses_other_patient_in_the_same_study(world: World) -> None:
    _store(world, with_patient_id("JPEG2000.dcm", "A"))
    other = with_patient_id("JPGExtended.dcm", "B")
    assert _store(world, other) is IngestStatus.FAILED


def test_unmatched_study_is_listed_for_owner_and_coordinator_then_linked(world: World) -> None:
    _store(world, with_patient_id("CT_small.dcm", "NOT-A-CARD"))
    study = Study.objects.get()
    assert study.patient_id is None
    assert list(studies_unmatched_for_user(user=world.clinic_doctor)) == [study]
    assert list(studies_unmatched_for_user(user=world.coordinator)) == [study]
    assert not studies_unmatched_for_user(user=world.other_clinic_doctor).exists()
    with pytest.raises(NotFound):
        study_patient_link(user=world.clinic_doctor, study_id=study.pk, patient_id=world.patient.pk)
    study_patient_link(user=world.coordinator, study_id=study.pk, patient_id=world.patient.pk)
    assert Study.objects.get().patient_id == world.patient.pk
    with pytest.raises(StudyAlreadyMatched):
        study_patient_link(user=world.coordinator, study_id=study.pk, patient_id=world.patient.pk)


def test_study_patient_match_lets_only_the_owning_institutions_doctors_match(
    world: World,
) -> None:
    _store(world, with_patient_id("CT_small.dcm", "NOT-A-CARD"))
    study = Study.objects.get()
    with pytest.raises(NotFound):
        study_patient_match(
            user=world.other_clinic_doctor, study_id=study.pk, patient=world.patient, consult_id=7
        )
    with pytest.raises(StudyMatchRefused):
        study_patient_match(
            user=world.institution_admin, study_id=study.pk, patient=world.patient, consult_id=7
        )
    assert Study.objects.get().patient_id is None

    study_patient_match(
        user=world.clinic_doctor, study_id=study.pk, patient=world.patient, consult_id=7
    )

    assert Study.objects.get().patient_id == world.patient.pk
    link = AuditEvent.objects.get(event="imaging.study.link")
    assert (link.resource_id, link.patient_id) == (str(study.pk), world.patient.pk)
    assert link.detail == {"consult_id": 7}
    with pytest.raises(StudyAlreadyMatched):
        study_patient_match(
            user=world.clinic_doctor, study_id=study.pk, patient=world.patient, consult_id=7
        )


def test_ambiguous_health_card_leaves_the_study_unmatched(carded: World) -> None:
    PatientFactory.create(home_institution=carded.township, health_card_number=CARD)
    _store(carded, for_patient("CT_small.dcm", carded.patient))
    assert Study.objects.get().patient_id is None


def test_study_visibility_follows_the_patient(carded: World) -> None:
    _store(carded, for_patient("CT_small.dcm", carded.patient))
    uid = Study.objects.get().study_instance_uid
    for user in (carded.clinic_doctor, carded.coordinator):
        study_get_for_user(user=user, study_uid=uid, session="s", kind=ViewingKind.RETRIEVE)
    for user in (carded.other_clinic_doctor, carded.foreign_doctor, carded.specialist):
        with pytest.raises(NotFound):
            study_get_for_user(user=user, study_uid=uid, session="s", kind=ViewingKind.RETRIEVE)
    with pytest.raises(NotFound):
        study_get_for_user(
            user=carded.clinic_doctor, study_uid="1.2.3", session="s", kind=ViewingKind.RETRIEVE
        )
    denied = AuditEvent.objects.filter(event="imaging.study.read", outcome=AuditOutcome.DENIED)
    assert denied.count() == 4


def test_reads_are_audited_once_per_viewing_session(carded: World) -> None:
    _store(carded, for_patient("CT_small.dcm", carded.patient))
    uid = Study.objects.get().study_instance_uid
    for session in ("a", "a", "a", "b"):
        study_get_for_user(
            user=carded.clinic_doctor, study_uid=uid, session=session, kind=ViewingKind.RETRIEVE
        )
    reads = AuditEvent.objects.filter(event="imaging.study.read", outcome=AuditOutcome.SUCCESS)
    assert reads.count() == 2
    assert reads.first() is not None
    assert StudyViewing.objects.count() == 2


@pytest.fixture
def library(carded: World) -> World:
    """Studies with varied names, dates and modalities, all of the carded patient."""
    files = {
        "CT_small.dcm": {},
        "JPEG2000.dcm": {},
        "US1_J2KR.dcm": {"AccessionNumber": "ACC-7"},
        "chrX1.dcm": {"StudyDate": "20200315", "StudyTime": "083000"},
        "chrX2.dcm": {"StudyDate": "20201231", "StudyTime": "170000"},
        "emri_small_jpeg_ls_lossless.dcm": {"PatientName": "Li^Xiuying"},
    }
    for name, changes in files.items():
        assert _store(carded, with_patient_id(name, CARD, **changes)) is IngestStatus.STORED
    return carded


def _search(world: World, level: Level = Level.STUDY, **params: str) -> list[Study]:
    return _search_at(world, level, params)


def _search_at(world: World, level: Level, params: dict[str, str]) -> list[Study]:
    query = query_parse(level, list(params.items()))
    page = qido_search(user=world.clinic_doctor, session="s", query=query)
    return page.rows  # type: ignore[return-value]


def _names(studies: list[Study]) -> set[str]:
    return {study.patient_name for study in studies}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"PatientName": "王^小东"}, {"Wang^XiaoDong=王^小东"}),
        ({"PatientName": "王*"}, {"Wang^XiaoDong=王^小东", "Wang^XiaoDong=王^小東"}),
        ({"PatientName": "wang^xiaodong"}, {"Wang^XiaoDong=王^小东", "Wang^XiaoDong=王^小東"}),
        ({"PatientName": "王^小*"}, {"Wang^XiaoDong=王^小东", "Wang^XiaoDong=王^小東"}),
        ({"PatientName": "WANG^XIAO*"}, {"Wang^XiaoDong=王^小东", "Wang^XiaoDong=王^小東"}),
        ({"PatientName": "Li^Xiuyin?"}, {"Li^Xiuying"}),
        ({"PatientName": "Li_X*"}, set()),
        ({"PatientName": "Li"}, set()),
        ({"PatientName": "xiuying", "fuzzymatching": "true"}, {"Li^Xiuying"}),
        (
            {"PatientName": "xiao", "fuzzymatching": "true"},
            {"Wang^XiaoDong=王^小东", "Wang^XiaoDong=王^小東"},
        ),
        ({"StudyDate": "20200101-20201231"}, {"Wang^XiaoDong=王^小东", "Wang^XiaoDong=王^小東"}),
        ({"StudyDate": "20201001-"}, {"Wang^XiaoDong=王^小东"}),
        ({"StudyDate": "-20000101"}, {"Li^Xiuying"}),
        ({"StudyTime": "080000-090000"}, {"Wang^XiaoDong=王^小東"}),
        ({"AccessionNumber": "ACC-?"}, {"CompressedSamples^US1"}),
        ({"ModalitiesInStudy": "US"}, {"CompressedSamples^US1"}),
        (
            {"00100010": "Compressed*"},
            {"CompressedSamples^CT1", "CompressedSamples^NM1", "CompressedSamples^US1"},
        ),
    ],
)
def test_study_search_matches_like_the_standard(
    library: World, params: dict[str, str], expected: set[str]
) -> None:
    assert _names(_search_at(library, Level.STUDY, params)) == expected


def test_name_prefix_search_reads_the_name_group_indexes(library: World) -> None:
    def index_scans() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sum(pg_stat_get_xact_numscans(indexrelid)) FROM pg_index "
                "WHERE indexrelid::regclass::text LIKE 'imaging_study_patient_name_group_'"
            )
            return int(cursor.fetchone()[0])

    # An archive's worth of other names, with statistics as autovacuum keeps them: on a few
    # rows the planner rightly reads the table (or another index) instead, which made this test
    # pass only where the table had never been analysed.
    template = Study.objects.first()
    assert template is not None
    fillers = []
    for number in range(2000):
        filler = copy.copy(template)
        filler.pk = None
        filler.study_instance_uid = generate_uid()
        filler.patient_name = f"FILLER^P{number:04d}"
        fillers.append(filler)
    Study.objects.bulk_create(fillers)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE imaging_study")
    before = index_scans()
    found = _search(library, PatientName="王^小*")
    assert _names(found) == {"Wang^XiaoDong=王^小东", "Wang^XiaoDong=王^小東"}
    assert index_scans() == before + 3  # one range scan per component group


def test_study_search_pages_with_limit_and_offset(library: World) -> None:
    query = query_parse(Level.STUDY, [("limit", "4"), ("offset", "0")])
    first = qido_search(user=library.clinic_doctor, session="s", query=query)
    assert len(first.rows) == 4
    assert first.more
    query = query_parse(Level.STUDY, [("limit", "4"), ("offset", "4")])
    second = qido_search(user=library.clinic_doctor, session="s", query=query)
    assert len(second.rows) == 2
    assert not second.more
    assert {r.pk for r in first.rows}.isdisjoint({r.pk for r in second.rows})


def test_study_search_shows_strangers_nothing(library: World) -> None:
    query = query_parse(Level.STUDY, [])
    for user in (library.other_clinic_doctor, library.foreign_doctor):
        assert qido_search(user=user, session="s", query=query).rows == []
    assert len(qido_search(user=library.coordinator, session="s", query=query).rows) == 6


def test_series_and_instance_search_filter_on_their_own_attributes(library: World) -> None:
    series = _search(library, Level.SERIES, Modality="MR")
    assert len(series) == 1
    secondary_capture = "1.2.840.10008.5.1.4.1.1.7"
    instances = _search(library, Level.INSTANCE, SOPClassUID=secondary_capture)
    expected = set(
        Instance.objects.filter(sop_class_uid=secondary_capture).values_list("pk", flat=True)
    )
    assert {i.pk for i in instances} == expected
    assert len(expected) >= 2


def test_instances_ingest_answers_each_instance_and_writes_nothing_for_refused_ones(
    carded: World,
) -> None:
    first = for_patient("CT_small.dcm", carded.patient)
    same_study_other_patient = with_patient_id(
        "MR_small.dcm",
        "SOMEONE-ELSE",
        StudyInstanceUID=dicom_dataset("CT_small.dcm").StudyInstanceUID,
    )
    results = instances_ingest(
        payloads=[first, b"not dicom", same_study_other_patient, first],
        source=IngestSource.STOW,
        institution=carded.township,
        user=carded.clinic_doctor,
    )
    assert [r.status for r in results] == [
        IngestStatus.STORED,
        IngestStatus.FAILED,
        IngestStatus.FAILED,
        IngestStatus.ALREADY_STORED,
    ]
    assert results[2].failure_reason is FailureReason.DATA_SET_DOES_NOT_MATCH
    study = Study.objects.get()
    assert (study.series_count, study.instance_count, study.size_bytes) == (1, 1, len(first))
    assert Instance.objects.count() == 1
    assert AuditEvent.objects.filter(event="imaging.study.create").count() == 1


def test_instances_ingest_adds_a_batch_to_a_stored_study_in_one_go(carded: World) -> None:
    ds = dicom_dataset("CT_small.dcm")
    ds.PatientID = CARD
    _store(carded, dataset_bytes(ds))
    batch = []
    for number in range(2, 5):
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID.rsplit('.', 1)[0]}.{number}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = "1.2.3.4" if number == 4 else ds.SeriesInstanceUID
        ds.Modality = "OT" if number == 4 else "CT"
        batch.append(dataset_bytes(ds))
    results = instances_ingest(
        payloads=batch,
        source=IngestSource.STOW,
        institution=carded.township,
        user=carded.clinic_doctor,
    )
    assert all(r.status is IngestStatus.STORED for r in results)
    study = Study.objects.get()
    assert (study.series_count, study.instance_count) == (2, 4)
    assert study.modalities_in_study == "CT\\OT"
    assert study.size_bytes == sum(i.size_bytes for i in Instance.objects.all())


@pytest.mark.django_db(transaction=True)
def test_a_committed_viewing_mark_is_not_looked_up_again(carded: World) -> None:
    _store(carded, for_patient("CT_small.dcm", carded.patient))
    uid = Study.objects.get().study_instance_uid

    def read(session: str) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            study_get_for_user(
                user=carded.clinic_doctor, study_uid=uid, session=session, kind=ViewingKind.RETRIEVE
            )
        return [q["sql"] for q in queries.captured_queries if "imaging_studyviewing" in q["sql"]]

    assert read("v") != []  # looked up, then recorded
    assert read("v") == []  # known to be recorded: no question, no second audit
    assert read("w") != []  # another viewing session is audited on its own
    reads = AuditEvent.objects.filter(event="imaging.study.read", outcome=AuditOutcome.SUCCESS)
    assert reads.count() == 2


@pytest.mark.django_db(transaction=True)
def test_requests_racing_to_store_the_same_instances_store_each_once(world: World) -> None:
    """Four requests add the same new series to a stored study at once: one stores it, the
    others lose the insert, redo their instances one at a time and find them already stored;
    the counts are the archive's, not four times it."""
    ds = dicom_dataset("CT_small.dcm")
    assert _store(world, dataset_bytes(ds)) is IngestStatus.STORED
    ds.SeriesInstanceUID = generate_uid()
    batch = []
    for number in range(1, 7):
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = number
        batch.append(dataset_bytes(ds))
    start = threading.Barrier(4)

    def send() -> list[IngestStatus]:
        start.wait()
        try:
            results = instances_ingest(
                payloads=batch,
                source=IngestSource.STOW,
                institution=world.township,
                user=world.clinic_doctor,
            )
            return [result.status for result in results]
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        statuses = [
            status
            for batch_statuses in pool.map(lambda _: send(), range(4))
            for status in batch_statuses
        ]
    assert statuses.count(IngestStatus.STORED) == len(batch)
    assert statuses.count(IngestStatus.ALREADY_STORED) == 3 * len(batch)
    study = Study.objects.get()
    assert Instance.objects.count() == study.instance_count == 1 + len(batch)
    assert study.series_count == 2
