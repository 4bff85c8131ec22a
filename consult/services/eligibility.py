"""Who may be invited to a consult: the rules of 远程医疗服务管理规范 and the request's asks."""

from consult.models import ConsultRequest, Kind
from server.directory.models import Practitioner, Role, Title

MIN_YEARS_OF_INDEPENDENT_PRACTICE = 3


def ineligibility(*, practitioner: Practitioner, consult: ConsultRequest) -> str:
    """Why the practitioner cannot be invited to the consult, or "" if they can.

    MDT members come from several specialties, so only single-doctor consults check it.
    """
    if not practitioner.is_active or Role.SPECIALIST not in {
        r.role for r in practitioner.roles.all()
    }:
        return "is not an active specialist"
    if practitioner.institution.consortium_id != consult.consortium_id:
        return "is not in the consortium"
    if consult.kind != Kind.MDT and practitioner.specialty != consult.wanted_specialty:
        return "does not practise the specialty asked for"
    if Title(practitioner.title).rank < Title(consult.minimum_title).rank:
        return "does not hold the title asked for"
    if practitioner.years_of_independent_practice < MIN_YEARS_OF_INDEPENDENT_PRACTICE:
        return f"has under {MIN_YEARS_OF_INDEPENDENT_PRACTICE} years of independent practice"
    if practitioner.pk == consult.requester_id:
        return "is the requester"
    return ""
