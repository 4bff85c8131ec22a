"""The DICOM SCP end to end: dcmtk's clients (and pynetdicom as an SCU) against `dicom_scp`."""

import hashlib
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000, CTImageStorage, ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom import _config as pynetdicom_config

from imaging.models import CallingAETitle, IngestSource, Instance, Study
from server.audit.models import AuditEvent, AuditOutcome
from server.directory.models import Institution, Sex
from tests.conftest import World
from tests.factories import PatientFactory
from tests.imaging.conftest import (
    archive_digest,
    dicom_dataset,
    dicom_file,
    for_patient,
    mallory,
    mallory_uid,
    with_patient_id,
)
from tests.lib.dicom_scp import SCP_AE_TITLE, Scp, dcmtk_tool, scp_with_archive

# Committed data is what the SCP process sees, so these tests commit for real.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CARD = "HC-0042"
EAST = "EAST_CT"  # a modality of the township
WEST = "WEST_CR"  # a modality of the other township in the same consortium

FILES = [
    "CT_small.dcm",  # explicit VR little endian
    "MR_small_implicit.dcm",  # implicit VR
    "JPEG2000.dcm",  # JPEG 2000
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline
    "chrX1.dcm",  # ISO_IR 192
    "chrX2.dcm",  # GB18030
]


@pytest.fixture(scope="module")
def scp(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scp]:
    with scp_with_archive(tmp_path_factory) as running:
        yield running


@pytest.fixture
def modalities(world: World) -> World:
    """The township's and the other township's modalities are registered; the patient carded."""
    world.patient.health_card_number = CARD
    world.patient.save()
    _register(EAST, world.township)
    _register(WEST, world.other_township)
    return world


def _register(ae_title: str, institution: Institution) -> None:
    CallingAETitle.objects.create(ae_title=ae_title, institution=institution, description="test")


def _dcmtk(
    tool: str, scp: Scp, calling: str, *options: str, files: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    host = ["127.0.0.1", str(scp.port)]
    command = [dcmtk_tool(tool), "-aet", calling, "-aec", SCP_AE_TITLE, *options, *host, *files]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def _write(directory: Path, files: dict[str, bytes]) -> list[str]:
    directory.mkdir(exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return [str(directory / name) for name in files]


def _store(
    scp: Scp, calling: str, paths: list[str], tool: str = "dcmsend"
) -> subprocess.CompletedProcess[str]:
    """Send files; dcmsend proposes each file's own transfer syntax, storescu uncompressed ones."""
    return _dcmtk(tool, scp, calling, files=tuple(paths))


def _find(scp: Scp, calling: str, out: Path, *keys: str) -> list[Dataset]:
    out.mkdir()
    args = ["-S", "-X", "-od", str(out)]
    for key in keys:
        args += ["-k", key]
    result = _dcmtk("findscu", scp, calling, *args)
    assert result.returncode == 0, result.stderr
    return [pydicom.dcmread(path) for path in sorted(out.glob("rsp*.dcm"))]


def _pixel_hash(ds: Dataset) -> str:
    return hashlib.sha256(ds.PixelData).hexdigest()


def test_echo_answers_registered_ae_and_unknown_ae_is_rejected(scp: Scp, modalities: World) -> None:
    assert _dcmtk("echoscu", scp, EAST).returncode == 0

    refused = _dcmtk("echoscu", scp, "STRANGER")
    assert refused.returncode != 0
    assert "Association Rejected" in refused.stdout + refused.stderr
    assert "Calling AE Title Not Recognized" in refused.stdout + refused.stderr
    assert "'STRANGER' is not registered" in scp.log.read_text()


def test_storescu_stores_every_transfer_syntax_and_chinese_names_as_utf8(
    scp: Scp, modalities: World, tmp_path: Path
) -> None:
    # The Chinese-named files keep their names (the charsets are under test): they name
    # someone else than the patient, so they wait for reconciliation.
    files = {
        name: with_patient_id(name, CARD)
        if name.startswith("chrX")
        else for_patient(name, modalities.patient)
        for name in FILES
    }
    paths = _write(tmp_path / "in", files)
    result = _store(scp, EAST, paths)
    assert result.returncode == 0, result.stdout + result.stderr

    instances = Instance.objects.filter(source=IngestSource.DIMSE)
    assert instances.count() == len(FILES)
    assert {i.institution_id for i in instances} == {modalities.township.pk}
    for instance in instances:
        assert (scp.archive / instance.storage_name).is_file()
    j2k = dicom_dataset("JPEG2000.dcm")
    stored_j2k = Instance.objects.get(sop_instance_uid=j2k.SOPInstanceUID)
    assert stored_j2k.transfer_syntax_uid == JPEG2000  # kept compressed, not transcoded
    names = set(Study.objects.values_list("patient_name", flat=True))
    assert {"Wang^XiaoDong=王^小东", "Wang^XiaoDong=王^小東"} <= names
    assert Study.objects.filter(patient=modalities.patient).count() == len(FILES) - 2


def test_scp_prefers_the_compressed_transfer_syntax_the_scu_offers(
    scp: Scp, modalities: World
) -> None:
    scu = AE(ae_title=EAST)
    scu.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian, JPEG2000])
    assoc = scu.associate("127.0.0.1", scp.port, ae_title=SCP_AE_TITLE)
    assert assoc.is_established
    try:
        assert [cx.transfer_syntax[0] for cx in assoc.accepted_contexts] == [JPEG2000]
    finally:
        assoc.release()


def test_find_returns_only_what_the_calling_institution_may_see(
    scp: Scp, modalities: World, tmp_path: Path
) -> None:
    files = {
        "matched.dcm": for_patient("CT_small.dcm", modalities.patient),
        "unmatched.dcm": with_patient_id("chrX2.dcm", "NOBODY"),
    }
    assert _store(scp, EAST, _write(tmp_path / "in", files), tool="storescu").returncode == 0
    unmatched = dicom_dataset("chrX2.dcm")

    studies = _find(
        scp,
        EAST,
        tmp_path / "east",
        "QueryRetrieveLevel=STUDY",
        "PatientName=Wang*",
        "StudyInstanceUID",
        "NumberOfStudyRelatedInstances",
    )
    assert [s.StudyInstanceUID for s in studies] == [unmatched.StudyInstanceUID]
    assert str(studies[0].PatientName) == "Wang^XiaoDong=王^小东"
    assert studies[0].NumberOfStudyRelatedInstances == 1
    in_chinese = _find(
        scp,
        EAST,
        tmp_path / "chinese",
        "QueryRetrieveLevel=STUDY",
        "SpecificCharacterSet=ISO_IR 192",
        "PatientName=王^小*",
    )
    assert [str(s.PatientName) for s in in_chinese] == ["Wang^XiaoDong=王^小东"]
    everything = _find(scp, EAST, tmp_path / "all", "QueryRetrieveLevel=STUDY", "StudyDate")
    assert len(everything) == 2
    series = _find(
        scp,
        EAST,
        tmp_path / "series",
        "QueryRetrieveLevel=SERIES",
        f"StudyInstanceUID={unmatched.StudyInstanceUID}",
        "SeriesInstanceUID",
        "Modality",
    )
    assert [s.SeriesInstanceUID for s in series] == [unmatched.SeriesInstanceUID]

    # The other township sees neither the unmatched study nor the patient of another home.
    assert _find(scp, WEST, tmp_path / "west", "QueryRetrieveLevel=STUDY", "StudyDate") == []
    searches = AuditEvent.objects.filter(event="imaging.study.search")
    assert searches.count() == 4  # one per association that found something
    assert {e.detail["calling_ae_title"] for e in searches} == {EAST}


def test_get_retrieves_stored_instances_over_the_same_association(
    scp: Scp, modalities: World, tmp_path: Path
) -> None:
    files = {
        name: for_patient(name, modalities.patient) for name in ("CT_small.dcm", "JPEG2000.dcm")
    }
    assert _store(scp, EAST, _write(tmp_path / "in", files)).returncode == 0
    ct, j2k = (pydicom.dcmread(tmp_path / "in" / name) for name in files)

    def get(calling: str, ds: Dataset, out: Path) -> list[Dataset]:
        out.mkdir()
        level = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={ds.StudyInstanceUID}"]
        result = _dcmtk("getscu", scp, calling, "-S", "-od", str(out), *level)
        assert calling != EAST or result.returncode == 0, result.stdout + result.stderr
        return [pydicom.dcmread(path) for path in out.iterdir()]

    [retrieved] = get(EAST, ct, tmp_path / "ct")
    assert retrieved.SOPInstanceUID == ct.SOPInstanceUID
    assert _pixel_hash(retrieved) == _pixel_hash(ct)
    # getscu accepts uncompressed images only: the JPEG 2000 instance comes decompressed.
    [decompressed] = get(EAST, j2k, tmp_path / "j2k")
    assert decompressed.SOPInstanceUID == j2k.SOPInstanceUID
    assert decompressed.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert decompressed.pixel_array.shape == j2k.pixel_array.shape

    assert get(WEST, ct, tmp_path / "west") == []
    reads = AuditEvent.objects.filter(event="imaging.study.read")
    assert sorted((e.detail["calling_ae_title"], e.outcome) for e in reads) == [
        (EAST, AuditOutcome.SUCCESS),
        (EAST, AuditOutcome.SUCCESS),
        (WEST, AuditOutcome.DENIED),
    ]


def test_bad_input_gets_a_failure_status_and_leaves_the_archive_unchanged(
    scp: Scp, modalities: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = _write(tmp_path / "in", {"ct.dcm": for_patient("CT_small.dcm", modalities.patient)})
    assert _store(scp, EAST, stored).returncode == 0
    before = archive_digest(scp.archive)

    no_study = dicom_dataset("MR_small_implicit.dcm")
    del no_study.StudyInstanceUID
    clash = dicom_dataset("CT_small.dcm")  # same UIDs, another patient: does not match its study
    clash.PatientID = "SOMEONE-ELSE"
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(dicom_file("MR_small.dcm")[:-3000])
    # Send the file's bytes as they are, cut short, instead of decoding it first.
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)
    scu = AE(ae_title=EAST)
    for ds in (no_study, clash, dicom_dataset("MR_small.dcm")):
        scu.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = scu.associate("127.0.0.1", scp.port, ae_title=SCP_AE_TITLE)
    assert assoc.is_established
    try:
        statuses = [assoc.send_c_store(item) for item in (no_study, clash, truncated)]
    finally:
        assoc.release()
    assert [status.Status for status in statuses] == [0xA900, 0xA900, 0xC000]
    assert "StudyInstanceUID" in statuses[0].ErrorComment

    assert archive_digest(scp.archive) == before


def test_cstore_of_a_stranger_with_a_card_of_another_institution_tells_nothing(
    scp: Scp, modalities: World, tmp_path: Path
) -> None:
    zhang = PatientFactory.create(
        home_institution=modalities.township,
        name="张德明",
        sex=Sex.MALE,
        birth_date=date(1951, 6, 2),
        health_card_number="HC-ZDM-0001",
    )

    def told(card: str, key: str, tool: str) -> tuple[int, str, list[str]]:
        """What the other township's modality hears: the store's outcome and a C-FIND for
        the study, UIDs and card number masked."""
        paths = _write(tmp_path / f"in{key}", {"mallory.dcm": mallory(card, key)})
        stored = _store(scp, WEST, paths, tool=tool)
        found = _find(
            scp,
            WEST,
            tmp_path / f"find{key}",
            "QueryRetrieveLevel=STUDY",
            f"StudyInstanceUID={mallory_uid(key)}",
            "PatientID",
            "PatientName",
            "PatientSex",
            "PatientBirthDate",
            "NumberOfStudyRelatedInstances",
        )
        # The answers' data sets (not the file meta findscu writes them with).
        answers = ["\n".join(str(element) for element in ds) for ds in found]
        masked = [a.replace(mallory_uid(key), "UID").replace(card, "CARD") for a in answers]
        output = (stored.stdout + stored.stderr).replace(mallory_uid(key), "UID")
        return stored.returncode, output.replace(card, "CARD").replace(f"in{key}", "in"), masked

    for tool, keys in (("storescu", ("1", "2")), ("dcmsend", ("3", "4"))):
        elsewhere = told(zhang.health_card_number, keys[0], tool)
        nowhere = told("HC-NOWHERE-9", keys[1], tool)
        assert elsewhere[0] == 0, elsewhere[1]
        assert len(elsewhere[2]) == 1
        assert elsewhere == nowhere

    assert not Study.objects.filter(patient=zhang).exists()
    assert Study.objects.filter(patient__isnull=True, source=IngestSource.DIMSE).count() == 4


def test_cstore_matches_a_study_of_the_institutions_own_patient(
    scp: Scp, modalities: World, tmp_path: Path
) -> None:
    paths = _write(tmp_path / "in", {"ct.dcm": for_patient("CT_small.dcm", modalities.patient)})
    assert _store(scp, EAST, paths).returncode == 0
    assert Study.objects.get().patient == modalities.patient
