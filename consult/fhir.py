"""A consult as FHIR R4: the request is a ServiceRequest, the invited side's work a Task."""

from typing import Any

from consult.models import ConsultParticipant, ConsultRequest, Status, Urgency

_PRIORITY = {Urgency.CRITICAL: "stat", Urgency.URGENT: "urgent", Urgency.ROUTINE: "routine"}

_REQUEST_STATUS = {
    Status.DRAFT: "draft",
    Status.CLOSED: "completed",
    Status.OPINION_SIGNED: "completed",
    Status.CANCELLED: "revoked",
    Status.EXPIRED: "revoked",
    Status.ENTERED_IN_ERROR: "entered-in-error",
}

_TASK_STATUS = {
    Status.DRAFT: "draft",
    Status.SUBMITTED: "requested",
    Status.ASSIGNED: "received",
    Status.ACCEPTED: "accepted",
    Status.SCHEDULED: "in-progress",
    Status.UNDER_REVIEW: "in-progress",
    Status.IN_SESSION: "in-progress",
    Status.NEEDS_INFO: "on-hold",
    Status.DECLINED: "rejected",
    Status.OPINION_SIGNED: "completed",
    Status.CLOSED: "completed",
    Status.CANCELLED: "cancelled",
    Status.EXPIRED: "failed",
    Status.ENTERED_IN_ERROR: "entered-in-error",
}

KIND_SYSTEM = "urn:yunzhen:fhir:consult-kind"
STATUS_SYSTEM = "urn:yunzhen:fhir:consult-status"
SPECIALTY_SYSTEM = "urn:yunzhen:fhir:specialty"


def _period(start: Any, end: Any) -> dict[str, str] | None:
    period = {}
    if start is not None:
        period["start"] = start.isoformat()
    if end is not None:
        period["end"] = end.isoformat()
    return period or None


def consult_bundle(
    consult: ConsultRequest, participants: list[ConsultParticipant], study_uids: list[str]
) -> dict[str, Any]:
    """A `collection` Bundle of the ServiceRequest and its Task; the attached studies are the
    request's supporting information, as ImagingStudy references by Study Instance UID."""
    request_id = f"consult-{consult.pk}"
    lead = next((p for p in participants if p.is_lead and p.ended_at is None), None)
    performers = [
        {"reference": f"Practitioner/{p.practitioner_id}"}
        for p in participants
        if p.ended_at is None
    ]
    service_request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": request_id,
        "status": _REQUEST_STATUS.get(Status(consult.status), "active"),
        "intent": "order",
        "priority": _PRIORITY[Urgency(consult.urgency)],
        "code": {
            "coding": [{"system": KIND_SYSTEM, "code": consult.kind}],
            "text": consult.get_kind_display(),
        },
        "subject": {"reference": f"Patient/{consult.patient_id}"},
        "authoredOn": consult.created_at.isoformat(),
        "requester": {"reference": f"Practitioner/{consult.requester_id}"},
        "performerType": {
            "coding": [{"system": SPECIALTY_SYSTEM, "code": consult.wanted_specialty}]
        },
        "reasonCode": [{"text": consult.reason}],
        "note": [{"text": consult.purpose}, {"text": consult.clinical_summary}],
    }
    if performers:
        service_request["performer"] = performers
    if study_uids:
        service_request["supportingInfo"] = [
            {
                "type": "ImagingStudy",
                "identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"},
            }
            for uid in study_uids
        ]
    window = _period(consult.preferred_start, consult.preferred_end)
    if window:
        service_request["occurrencePeriod"] = window
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": f"consult-{consult.pk}-task",
        "basedOn": [{"reference": f"ServiceRequest/{request_id}"}],
        "status": _TASK_STATUS[Status(consult.status)],
        "businessStatus": {
            "coding": [{"system": STATUS_SYSTEM, "code": consult.status}],
            "text": consult.get_status_display(),
        },
        "intent": "order",
        "priority": _PRIORITY[Urgency(consult.urgency)],
        "focus": {"reference": f"ServiceRequest/{request_id}"},
        "for": {"reference": f"Patient/{consult.patient_id}"},
        "authoredOn": consult.created_at.isoformat(),
        "lastModified": consult.updated_at.isoformat(),
        "requester": {"reference": f"Practitioner/{consult.requester_id}"},
    }
    if lead is not None:
        task["owner"] = {"reference": f"Practitioner/{lead.practitioner_id}"}
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": service_request},
            {"resource": task},
        ],
    }
