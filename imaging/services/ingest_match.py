"""Matching a new study to a consortium patient: the health card number among the patients the
storer may see, then the demographics."""

import re
import unicodedata
from dataclasses import dataclass

from imaging.dicom import ParsedInstance
from imaging.models import UnmatchedReason
from server.access import Actor, patients_visible_to
from server.directory.models import Institution, Patient, Sex

_DICOM_SEX = {"M": Sex.MALE, "F": Sex.FEMALE, "O": Sex.OTHER}
# What separates a name's parts, whatever the writing: spaces (full-width too, after NFKC),
# the PN component separator, and the punctuation people write between given and family names.
_NAME_SEPARATORS = re.compile(r"[\s\^,.·•・'\-]+")


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
    `Zhang^Deming=张^德明` agrees with 张德明 and `Doe^John` with "John Doe". Pinyin is not
    checked against characters: a study named only in pinyin goes to reconciliation.
    """
    wanted = _name_key(name)
    if not wanted:
        return False
    for group in dicom_name.split("="):
        family, given, middle = ([*group.split("^"), "", ""])[:3]
        orders = (family + given + middle, given + middle + family)
        if any(_name_key(order) == wanted for order in orders):
            return True
    return False


def _name_key(name: str) -> str:
    return _NAME_SEPARATORS.sub("", unicodedata.normalize("NFKC", name)).casefold()
