"""Matching a stored study to a patient: only among the patients the storer may see, only when
the demographics agree, and with answers that never tell whether a card number exists
elsewhere."""

from datetime import date

import pytest

from imaging.models import IngestSource, Study, UnmatchedReason
from imaging.qido import Level, query_parse
from imaging.selectors import qido_search
from imaging.services import IngestResult, instance_ingest
from imaging.services.ingest_match import names_agree
from server.accounts.models import User
from server.directory.models import Institution, Patient, Sex
from tests.conftest import World
from tests.factories import PatientFactory
from tests.imaging.conftest import dataset_bytes, dicom_dataset, for_patient, mallory

pytestmark = pytest.mark.usefixtures("archive")
ZHANG_CARD = "HC-ZDM-0001"


@pytest.fixture
def zhang(world: World) -> Patient:
    """张德明, a man of the township, whose card number a stranger's study carries."""
    return PatientFactory.create(
        home_institution=world.township,
        name="张德明",
        sex=Sex.MALE,
        birth_date=date(1951, 6, 2),
        health_card_number=ZHANG_CARD,
    )


def _store(
    data: bytes, institution: Institution, user: User | None, source: IngestSource
) -> IngestResult:
    result = instance_ingest(data=data, source=source, institution=institution, user=user)
    assert result.ok, result.message
    return result


@pytest.mark.parametrize("source", [IngestSource.STOW, IngestSource.DIMSE, IngestSource.UPLOAD])
def test_a_study_carrying_another_institutions_card_is_not_filed_in_that_chart(
    world: World, zhang: Patient, source: IngestSource
) -> None:
    user = None if source is IngestSource.DIMSE else world.other_clinic_doctor
    _store(mallory(ZHANG_CARD), world.other_township, user, source)

    study = Study.objects.get()
    assert study.patient_id is None
    assert study.unmatched_reason == UnmatchedReason.NO_PATIENT


def test_a_study_carrying_a_card_the_storer_may_not_see_is_not_matched_even_if_it_agrees(
    world: World, zhang: Patient
) -> None:
    _store(for_patient("CT_small.dcm", zhang), world.other_township, None, IngestSource.DIMSE)

    assert Study.objects.get().unmatched_reason == UnmatchedReason.NO_PATIENT


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"PatientName": "Zhang^Deming=张^德明=zhang^de ming"},
        {"PatientName": "张^德明"},
        {"PatientName": "ZHANG^DEMING=张德明"},
        {"PatientSex": "", "PatientBirthDate": ""},
    ],
)
@pytest.mark.parametrize("source", [IngestSource.STOW, IngestSource.DIMSE])
def test_a_study_of_an_own_patient_whose_demographics_agree_is_matched(
    world: World, zhang: Patient, changes: dict[str, str], source: IngestSource
) -> None:
    user = None if source is IngestSource.DIMSE else world.clinic_doctor
    _store(for_patient("CT_small.dcm", zhang, **changes), world.township, user, source)

    study = Study.objects.get()
    assert study.patient_id == zhang.pk
    assert study.unmatched_reason == ""


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"PatientName": "Mallory^Fake"}, UnmatchedReason.NAME_DIFFERS),
        ({"PatientName": ""}, UnmatchedReason.NAME_DIFFERS),
        ({"PatientName": "张德"}, UnmatchedReason.NAME_DIFFERS),
        ({"PatientSex": "F"}, UnmatchedReason.SEX_DIFFERS),
        ({"PatientBirthDate": "19510603"}, UnmatchedReason.BIRTH_DATE_DIFFERS),
        ({"PatientName": "Mallory^Fake", "PatientSex": "F"}, UnmatchedReason.SEX_DIFFERS),
    ],
)
def test_a_study_whose_demographics_disagree_goes_to_reconciliation_with_its_reason(
    world: World, zhang: Patient, changes: dict[str, str], reason: UnmatchedReason
) -> None:
    _store(
        for_patient("CT_small.dcm", zhang, **changes),
        world.township,
        world.clinic_doctor,
        IngestSource.STOW,
    )

    study = Study.objects.get()
    assert study.patient_id is None
    assert study.unmatched_reason == reason


def test_a_study_without_a_card_or_with_an_ambiguous_one_says_why(
    world: World, zhang: Patient
) -> None:
    PatientFactory.create(home_institution=world.township, health_card_number="HC-TWICE")
    PatientFactory.create(home_institution=world.township, health_card_number="HC-TWICE")
    _store(mallory("", "1"), world.township, world.clinic_doctor, IngestSource.STOW)
    _store(mallory("HC-TWICE", "2"), world.township, world.clinic_doctor, IngestSource.STOW)
    other_issuer = dicom_dataset("CT_small.dcm")
    other_issuer.PatientID = ZHANG_CARD
    other_issuer.IssuerOfPatientID = "ELSEWHERE"
    _store(dataset_bytes(other_issuer), world.township, world.clinic_doctor, IngestSource.STOW)

    reasons = dict(Study.objects.values_list("dicom_patient_id", "unmatched_reason"))
    assert reasons == {
        "": UnmatchedReason.NO_PATIENT_ID,
        "HC-TWICE": UnmatchedReason.SEVERAL_PATIENTS,
        ZHANG_CARD: UnmatchedReason.OTHER_ISSUER,
    }


@pytest.mark.parametrize("source", [IngestSource.STOW, IngestSource.DIMSE])
def test_what_the_storer_learns_is_the_same_whether_the_card_exists_elsewhere_or_not(
    world: World, zhang: Patient, source: IngestSource
) -> None:
    user = None if source is IngestSource.DIMSE else world.other_clinic_doctor
    elsewhere = _store(mallory(ZHANG_CARD, "1"), world.other_township, user, source)
    nowhere = _store(mallory("HC-NOWHERE", "2"), world.other_township, user, source)

    assert (elsewhere.status, elsewhere.failure_reason, elsewhere.message) == (
        nowhere.status,
        nowhere.failure_reason,
        nowhere.message,
    )
    studies = {s.dicom_patient_id: s for s in Study.objects.all()}
    assert studies[ZHANG_CARD].unmatched_reason == studies["HC-NOWHERE"].unmatched_reason
    found = qido_search(
        user=world.other_clinic_doctor, session="s", query=query_parse(Level.STUDY, [])
    )
    assert {s.dicom_patient_id for s in found.rows if isinstance(s, Study)} == {
        ZHANG_CARD,
        "HC-NOWHERE",
    }


@pytest.mark.parametrize(
    ("dicom", "name"),
    [
        ("张德明", "张德明"),
        ("张^德明", "张德明"),
        ("Zhang^Deming=张^德明=zhang^de ming", "张德明"),
        ("=张^德明", "张德明"),
        ("Zhang^Deming", "Zhang Deming"),
        ("Zhang^Deming", "Deming Zhang"),
        ("DOE^JOHN^Q^^", "John Q Doe"),
        ("\uff37\uff41\uff4e\uff47^\uff38\uff49\uff55", "wang xiu"),  # full-width
        ("ZHANG^DEMING", "张德明"),  # pinyin, as a township DR without Chinese input types it
        ("Deming^Zhang", "张德明"),
        ("zhang^de ming", "张德明"),
        ("ZENG^GUO FAN", "曾国藩"),  # a character of several readings: any of them
        ("LV^XIAO", "吕晓"),
        ("LU^XIAO", "吕晓"),
        ("SHAN^WEI", "单伟"),
    ],
)
def test_names_agree_across_pn_groups_orders_and_widths(dicom: str, name: str) -> None:
    assert names_agree(dicom, name)


@pytest.mark.parametrize(
    ("dicom", "name"),
    [
        ("", "张德明"),
        ("Mallory^Fake", "张德明"),
        ("张^德", "张德明"),
        ("Zhang^Ming", "张德明"),  # pinyin of someone else
        ("Zhang^Deming", "张德敏"),  # ...and not a near miss: 敏 is min
        ("Zhang^Deming=张^德敏", "张德明"),  # the characters given disagree: no pinyin guess
        ("Mallory^Fake", "Mallory Fake Jr"),
        ("张德明", ""),
    ],
)
def test_names_disagree(dicom: str, name: str) -> None:
    assert not names_agree(dicom, name)
