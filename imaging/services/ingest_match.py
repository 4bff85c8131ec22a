"""Matching a new study to a consortium patient: the health card number among the patients the
storer may see, then the demographics."""

import itertools
import re
import unicodedata
from dataclasses import dataclass

from pypinyin import Style, pinyin

from imaging.dicom import ParsedInstance
from imaging.models import UnmatchedReason
from server.access import Actor, patients_visible_to
from server.directory.models import Institution, Patient, Sex

_DICOM_SEX = {"M": Sex.MALE, "F": Sex.FEMALE, "O": Sex.OTHER}
# What separates a name's parts, whatever the writing: spaces (full-width too, after NFKC),
# the PN component separator, and the punctuation people write between given and family names.
_NAME_SEPARATORS = re.compile(r"[\s\^,.·•・'\-]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A name's spellings multiply with each character of several readings (曾 zeng/ceng, 单
# shan/dan/chan); past this many, the pinyin is not compared and the study goes to a person.
_MAX_SPELLINGS = 512


@dataclass(frozen=True)
class PatientMatch:
    patient: Patient | None
    unmatched_reason: str  # an `UnmatchedReason`, or "" when matched


def patient_match(
    *, parsed: ParsedInstance, institution: Institution, actor: Actor
) -> PatientMatch:
    """The one patient the actor (the storer) may see whose health card number is the DICOM
    PatientID and whose demographics agree with the study's, or why there is none.

    A card number of a patient the storer may not see matches nobody, exactly as one that
    exists nowhere: the storer learns nothing of other institutions' patients.
    """
    if not parsed.patient_id:
        return PatientMatch(None, UnmatchedReason.NO_PATIENT_ID)
    if parsed.issuer_of_patient_id not in ("", institution.consortium.code):
        return PatientMatch(None, UnmatchedReason.OTHER_ISSUER)
    candidates = list(
        patients_visible_to(actor).filter(
            health_card_number=parsed.patient_id, merged_into__isnull=True
        )[:2]
    )
    if not candidates:
        return PatientMatch(None, UnmatchedReason.NO_PATIENT)
    if len(candidates) > 1:
        return PatientMatch(None, UnmatchedReason.SEVERAL_PATIENTS)
    patient = candidates[0]
    reason = demographics_disagreement(parsed=parsed, patient=patient)
    return PatientMatch(None, reason) if reason else PatientMatch(patient, "")


def demographics_disagreement(*, parsed: ParsedInstance, patient: Patient) -> str:
    """The first of birth date, sex and name on which the study contradicts the patient, or "".

    The birth date and sex are compared when the study carries them (a modality may leave them
    empty); the name must be there and agree, as it is what a person checks first.
    """
    if parsed.patient_birth_date and parsed.patient_birth_date != patient.birth_date.strftime(
        "%Y%m%d"
    ):
        return UnmatchedReason.BIRTH_DATE_DIFFERS
    sex = _DICOM_SEX.get(parsed.patient_sex.strip().upper())
    if sex is not None and patient.sex != Sex.UNKNOWN and sex != patient.sex:
        return UnmatchedReason.SEX_DIFFERS
    if not names_agree(parsed.patient_name, patient.name):
        return UnmatchedReason.NAME_DIFFERS
    return ""


def names_agree(dicom_name: str, name: str) -> bool:
    """Whether a DICOM person name (PN) names the person the directory calls `name`.

    Each of the PN's groups (alphabetic, ideographic, phonetic) may agree: its family, given and
    middle names in either order, compared without separators, case or width differences, so
    `Zhang^Deming=张^德明` agrees with 张德明 and `Doe^John` with "John Doe". A group written in
    letters also agrees with a name written in characters when it spells one of the name's
    toneless pinyin readings (`ZHANG^DEMING` with 张德明; ü as v or u) and the study has no
    characters of its own: township modalities often cannot type characters, and the card,
    birth date and sex have agreed already.
    """
    wanted = _name_key(name)
    if not wanted:
        return False
    groups = dicom_name.split("=")
    # Characters in the study are compared as characters: pinyin only stands in for them when
    # the study has none.
    by_pinyin = bool(_HAN.search(name)) and not any(_HAN.search(group) for group in groups)
    spellings: frozenset[str] | None = None
    for group in groups:
        family, given, middle = ([*group.split("^"), "", ""])[:3]
        orders = {_name_key(family + given + middle), _name_key(given + middle + family)}
        if wanted in orders:
            return True
        if not by_pinyin:
            continue
        if spellings is None:
            spellings = _pinyin_spellings(name)
        if orders & spellings:
            return True
    return False


def _pinyin_spellings(name: str) -> frozenset[str]:
    """The name's toneless pinyin spellings as `_name_key`s, every reading of each character."""
    readings = pinyin(name, style=Style.NORMAL, heteronym=True)
    count = 1
    for options in readings:
        count *= len(options)
    if count > _MAX_SPELLINGS:
        return frozenset()
    keys = {_name_key("".join(spelled)) for spelled in itertools.product(*readings)}
    return frozenset(keys | {key.replace("v", "u") for key in keys})


def _name_key(name: str) -> str:
    return _NAME_SEPARATORS.sub("", unicodedata.normalize("NFKC", name)).casefold()
