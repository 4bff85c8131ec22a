"""Who may be invited to a consult: the rules of 远程医疗服务管理规范 and the request's asks."""

from enum import StrEnum

from consult.models import ConsultRequest, Kind
from server.access import Action, roles_permit
from server.directory.models import Practitioner, Title

MIN_YEARS_OF_INDEPENDENT_PRACTICE = 3


class Ineligible(StrEnum):
    """Why a practitioner cannot be invited; the value completes "Practitioner 7 …"."""

    NOT_SPECIALIST = "is not an active specialist"
    OTHER_CONSORTIUM = "is not in the consortium"
    SPECIALTY = "does not practise the specialty asked for"
    TITLE = "does not hold the title asked for"
    YEARS = f"has under {MIN_YEARS_OF_INDEPENDENT_PRACTICE} years of independent practice"
    REQUESTER = "is the requester"


def ineligibility(*, practitioner: Practitioner, consult: ConsultRequest) -> str:
    """Why the practitioner cannot be invited to the consult, or "" if they can.

    MDT members come from several specialties, so only single-doctor consults check it.
    """
    if not practitioner.is_active or not roles_permit(
        (r.role for r in practitioner.roles.all()), Action.ANSWER_CONSULTS
    ):
        return Ineligible.NOT_SPECIALIST
    if practitioner.institution.consortium_id != consult.consortium_id:
        return Ineligible.OTHER_CONSORTIUM
    if consult.kind != Kind.MDT and practitioner.specialty != consult.wanted_specialty:
        return Ineligible.SPECIALTY
    if Title(practitioner.title).rank < Title(consult.minimum_title).rank:
        return Ineligible.TITLE
    if practitioner.years_of_independent_practice < MIN_YEARS_OF_INDEPENDENT_PRACTICE:
        return Ineligible.YEARS
    if practitioner.pk == consult.requester_id:
        return Ineligible.REQUESTER
    return ""
