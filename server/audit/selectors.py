"""Reads of the audit trail: filtered listings, and rows in words for the pages."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from server.access import Actor, patients_visible_to
from server.audit.labels import RESOURCE_LABELS, event_label
from server.audit.models import AuditEvent, AuditOutcome
from server.audit.resources import resources_describe
from server.directory.models import Institution, Patient, Practitioner

# The detail keys that list several resources read at once, by the type they name.
_LISTED = {"patient_ids": "Patient", "consult_ids": "ConsultRequest", "study_ids": "Study"}


@dataclass(frozen=True)
class AuditFilters:
    """What an audit listing is narrowed to; every field is optional."""

    date_from: date | None = None  # Beijing dates, both ends included
    date_to: date | None = None
    actor_id: int | None = None  # the user who acted
    patient_ids: list[int] | None = None  # events about any of these patients
    event: str = ""
    institution_id: int | None = None  # the acting institution or the patient's
    outcome: str = ""


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _about_patients(patient_ids: Iterable[int]) -> Q:
    """Events about one of these patients, alone or among several read at once."""
    condition = Q(pk__in=[])
    for patient_id in patient_ids:
        # Containment on the whole detail, which the GIN index on it answers.
        condition |= Q(patient_id=patient_id) | Q(detail__contains={"patient_ids": [patient_id]})
    return condition


def audit_events_for_institution(
    *, institution_id: int, filters: AuditFilters | None = None
) -> QuerySet[AuditEvent]:
    """Events by the institution's staff or about its own patients, newest first."""
    events = AuditEvent.objects.filter(
        Q(actor_institution_id=institution_id) | Q(patient_institution_id=institution_id)
    )
    f = filters or AuditFilters()
    if f.date_from is not None:
        events = events.filter(recorded_at__gte=_day_start(f.date_from))
    if f.date_to is not None:
        events = events.filter(recorded_at__lt=_day_start(f.date_to + timedelta(days=1)))
    if f.actor_id is not None:
        events = events.filter(actor_id=f.actor_id)
    if f.patient_ids is not None:
        events = events.filter(_about_patients(f.patient_ids))
    if f.event:
        events = events.filter(event=f.event)
    if f.institution_id is not None:
        events = events.filter(
            Q(actor_institution_id=f.institution_id) | Q(patient_institution_id=f.institution_id)
        )
    if f.outcome:
        events = events.filter(outcome=f.outcome)
    return events.order_by("-seq")


def audit_events_about_patient(*, patient: Patient) -> QuerySet[AuditEvent]:
    """Successful accesses to the patient's data (and to records merged into it), newest
    first: what the patient's "who viewed my record" report lists."""
    ids = [patient.pk, *Patient.objects.filter(merged_into=patient).values_list("pk", flat=True)]
    return AuditEvent.objects.filter(
        _about_patients(ids), outcome=AuditOutcome.SUCCESS, actor_id__isnull=False
    ).order_by("-seq")


@dataclass(frozen=True)
class Person:
    name: str
    institution: str
    roles: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AuditRow:
    """One event as a person reads it."""

    event: AuditEvent
    who: Person
    what: str
    resource: str
    patient: str  # "" when the event is about no single patient
    patient_id: int | None

    @property
    def outcome(self) -> str:
        return str(self.event.get_outcome_display())


def _people(events: list[AuditEvent]) -> dict[int, Person]:
    user_ids = {e.actor_id for e in events if e.actor_id is not None}
    practitioners = Practitioner.objects.filter(user_id__in=user_ids).select_related("institution")
    return {
        p.user_id: Person(
            name=p.display_name,
            institution=p.institution.name,
            roles=[str(r.get_role_display()) for r in p.roles.all()],
        )
        for p in practitioners.prefetch_related("roles")
    }


def _patient_names(actor: Actor | None, events: list[AuditEvent]) -> dict[int, str]:
    """Names of the patients the viewer may see; the others stay a number."""
    ids = {e.patient_id for e in events if e.patient_id is not None}
    ids |= {int(e.resource_id) for e in events if e.resource_type == "Patient" and e.resource_id}
    if actor is None or not ids:
        return {}
    visible = patients_visible_to(actor).filter(pk__in=ids).values_list("pk", "name")
    return dict(visible)


def _patient_label(patient_id: int, names: dict[int, str]) -> str:
    name = names.get(patient_id)
    patient = pgettext("audit resource", "Patient")
    return f"{patient} {name}" if name else f"{patient} #{patient_id}"


def _who(event: AuditEvent, people: dict[int, Person], institutions: dict[int, str]) -> Person:
    institution = institutions.get(event.actor_institution_id or 0, "")
    if event.actor_id is not None:
        known = people.get(event.actor_id)
        if known is not None:
            return known
        # An account without a practitioner record (a site administrator).
        return Person(name=event.actor_username, institution=institution)
    ae_title = event.detail.get("calling_ae_title") if isinstance(event.detail, dict) else None
    if ae_title:
        return Person(name=_("Imaging device %(ae)s") % {"ae": ae_title}, institution=institution)
    return Person(name=_("System"), institution=institution)


def _resource(
    event: AuditEvent, names: dict[int, str], described: dict[tuple[str, str], str]
) -> str:
    kind, rid = event.resource_type, event.resource_id
    if not kind:
        return "—"
    if kind == "Patient" and rid.isdigit():
        return _patient_label(int(rid), names)
    if kind == "ConsultRequest" and rid:
        return f"{pgettext('audit resource', 'Consult')} #{rid}"
    if (kind, rid) in described:
        return described[(kind, rid)]
    label = str(RESOURCE_LABELS.get(kind, kind))
    if rid:
        return f"{label} #{rid}"
    detail: dict[str, Any] = event.detail if isinstance(event.detail, dict) else {}
    listed = [(key, detail[key]) for key in _LISTED if isinstance(detail.get(key), list)]
    if listed:
        key, ids = listed[0]
        listed_label = str(RESOURCE_LABELS.get(_LISTED[key], label))
        return _("%(kind)s ×%(count)d") % {"kind": listed_label, "count": len(ids)}  # noqa: RUF001 - the multiplication sign is meant
    return label


def audit_rows(*, actor: Actor | None, events: Iterable[AuditEvent]) -> list[AuditRow]:
    """The events in words: people by name, events and resources by what they are."""
    rows = list(events)
    people = _people(rows)
    institutions = dict(
        Institution.objects.filter(
            pk__in={e.actor_institution_id for e in rows if e.actor_institution_id}
        ).values_list("pk", "name")
    )
    names = _patient_names(actor, rows)
    wanted: dict[str, set[str]] = {}
    for e in rows:
        if e.resource_type and e.resource_id:
            wanted.setdefault(e.resource_type, set()).add(e.resource_id)
    described = {
        (kind, rid): text
        for kind, ids in wanted.items()
        for rid, text in resources_describe(kind, ids).items()
    }
    return [
        AuditRow(
            event=e,
            who=_who(e, people, institutions),
            what=event_label(e.event),
            resource=_resource(e, names, described),
            patient=_patient_label(e.patient_id, names) if e.patient_id is not None else "",
            patient_id=e.patient_id,
        )
        for e in rows
    ]


def audit_people_choices(*, actor: Actor) -> list[tuple[int, str]]:
    """The consortium's practitioners as (user id, "name · institution"), to filter by."""
    practitioners = (
        Practitioner.objects.filter(institution__consortium_id=actor.consortium_id)
        .select_related("institution")
        .order_by("institution__name", "display_name")
    )
    return [(p.user_id, f"{p.display_name} · {p.institution.name}") for p in practitioners]


def audit_patient_ids_matching(*, actor: Actor, term: str, limit: int = 50) -> list[int]:
    """Patients the viewer may see whose name contains `term` or whose card number it is."""
    term = term.strip()
    if not term:
        return []
    if term.isdigit():
        # A record number, as rows about patients the viewer may not see show it; it only
        # narrows events the viewer is already shown.
        return [int(term)]
    visible = patients_visible_to(actor).filter(
        Q(name__icontains=term) | Q(health_card_number=term)
    )
    return list(visible.values_list("pk", flat=True)[:limit])
