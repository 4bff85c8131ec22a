"""Image archive reads: studies a user may see, QIDO searches, retrieval and metadata."""

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import F, Lookup, Min, Q, QuerySet

from imaging.models import CallingAETitle, Instance, PreviewState, Series, Study, ViewingKind
from imaging.qido import Kind, Level, Match, Query, has_wildcard, person_name_regex, wildcard_regex
from imaging.services import studies_read_record, study_subject, study_viewing_record
from server.access import (
    Action,
    Actor,
    NotFound,
    StudyScope,
    actor_for,
    institution_permits,
    study_permits,
    study_scope,
)
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record
from server.directory.models import Institution, Patient, Role
from server.directory.selectors import patient_get_for_user

STUDY_FIELDS = {
    "StudyInstanceUID": "study_instance_uid",
    "PatientID": "dicom_patient_id",
    "IssuerOfPatientID": "issuer_of_patient_id",
    "PatientName": "patient_name",
    "PatientBirthDate": "patient_birth_date",
    "PatientSex": "patient_sex",
    "StudyDate": "study_date",
    "StudyTime": "study_time",
    "AccessionNumber": "accession_number",
    "StudyID": "study_id",
    "StudyDescription": "study_description",
    "ReferringPhysicianName": "referring_physician_name",
    "ModalitiesInStudy": "modalities_in_study",
}
SERIES_FIELDS = {
    "SeriesInstanceUID": "series_instance_uid",
    "Modality": "modality",
    "SeriesNumber": "series_number",
    "SeriesDescription": "series_description",
    "BodyPartExamined": "body_part_examined",
}
INSTANCE_FIELDS = {
    "SOPInstanceUID": "sop_instance_uid",
    "SOPClassUID": "sop_class_uid",
    "InstanceNumber": "instance_number",
    "NumberOfFrames": "number_of_frames",
}
# Where each level finds the fields of the levels above it.
_PREFIXES: dict[Level, tuple[str, str]] = {
    Level.STUDY: ("", ""),
    Level.SERIES: ("study__", ""),
    Level.INSTANCE: ("study__", "series__"),
}


def _audit_denied(*, user: User | AnonymousUser, study: Study | None, study_uid: str) -> None:
    actor = actor_for(user)
    audit_record(
        user=user,
        action=AuditAction.READ,
        event="imaging.study.read",
        outcome=AuditOutcome.DENIED,
        actor_institution_id=actor.institution_id if actor else None,
        resource_type="Study",
        resource_id=study.pk if study else study_uid[:64],
        patient_id=study.patient_id if study else None,
        patient_institution_id=study.patient.home_institution_id
        if study and study.patient
        else None,
    )


def study_get_for_user(
    *, user: User | AnonymousUser, study_uid: str, session: str, kind: ViewingKind
) -> Study:
    """Return the study if the user may view it; the read is audited once per viewing session.

    Raises: NotFound for a missing study and for one the user may not see (audited as denied).
    """
    study = (
        Study.objects.select_related("institution", "patient")
        .filter(study_instance_uid=study_uid)
        .first()
    )
    if study is None or not study_permits(actor_for(user), Action.VIEW, study_subject(study)):
        _audit_denied(user=user, study=study, study_uid=study_uid)
        raise NotFound
    study_viewing_record(user=user, studies=[study], session=session, kind=kind)
    return study


def instance_get_for_user(
    *,
    user: User | AnonymousUser,
    study_uid: str,
    series_uid: str,
    instance_uid: str,
    session: str,
    kind: ViewingKind,
) -> Instance:
    """Return the instance if the user may view its study, with the study, in one query; the
    read is audited as `study_get_for_user` audits it.

    Raises: NotFound for a missing instance and for one the user may not see.
    """
    instance = (
        Instance.objects.select_related("study__institution", "study__patient", "series")
        .defer("metadata")
        .filter(
            sop_instance_uid=instance_uid,
            series__series_instance_uid=series_uid,
            study__study_instance_uid=study_uid,
        )
        .first()
    )
    if instance is None:
        # The study decides what is audited: a denied read, or nothing missing in it.
        study_get_for_user(user=user, study_uid=study_uid, session=session, kind=kind)
        raise NotFound
    study = instance.study
    if not study_permits(actor_for(user), Action.VIEW, study_subject(study)):
        _audit_denied(user=user, study=study, study_uid=study_uid)
        raise NotFound
    study_viewing_record(user=user, studies=[study], session=session, kind=kind)
    return instance


def instances_of(
    *, study: Study, series_uid: str | None = None, instance_uid: str | None = None
) -> list[Instance]:
    """The study's instances (or one series', or one instance) in viewing order.

    Raises: NotFound if the named series or instance is not in the study.
    """
    # The DICOM JSON stays in the database: retrieval and frames never need it.
    instances = Instance.objects.filter(study=study).select_related("series").defer("metadata")
    if series_uid is not None:
        instances = instances.filter(series__series_instance_uid=series_uid)
    if instance_uid is not None:
        instances = instances.filter(sop_instance_uid=instance_uid)
    found = list(instances.order_by("series__series_number", "series_id", "instance_number", "pk"))
    if not found and (series_uid is not None or instance_uid is not None):
        raise NotFound
    return found


@dataclass(frozen=True)
class Metadata:
    etag: str
    body: bytes


def metadata_of(
    *, study: Study, series_uid: str | None = None, instance_uid: str | None = None
) -> Metadata:
    """DICOM JSON metadata from the database: the stored instance objects, concatenated.

    Raises: NotFound if the named series or instance is not in the study.
    """
    instances = Instance.objects.filter(study=study)
    if series_uid is not None:
        instances = instances.filter(series__series_instance_uid=series_uid)
    if instance_uid is not None:
        instances = instances.filter(sop_instance_uid=instance_uid)
    rows = list(
        instances.order_by(
            "series__series_number", "series_id", "instance_number", "pk"
        ).values_list("metadata", flat=True)
    )
    if not rows and (series_uid is not None or instance_uid is not None):
        raise NotFound
    # Instances are written once, and every change to a study bumps its revision.
    scope = f"{study.pk}:{study.revision}:{series_uid or ''}:{instance_uid or ''}"
    etag = '"' + hashlib.sha256(scope.encode()).hexdigest()[:32] + '"'
    return Metadata(etag=etag, body=("[" + ",".join(rows) + "]").encode())


def _visible(scope: StudyScope, prefix: str) -> Q:
    return Q(**{f"{prefix}patient__in": scope.patients}) | Q(
        **{
            f"{prefix}patient__isnull": True,
            f"{prefix}institution_id__in": scope.unmatched_institutions,
        }
    )


def _string_q(field: str, value: str) -> Q:
    if not has_wildcard(value):
        return Q(**{field: value})
    stem = value[:-1]
    if value.endswith("*") and not has_wildcard(stem):
        return Q(**{f"{field}__startswith": stem}) if stem else Q()
    return Q(**{f"{field}__regex": f"^{wildcard_regex(value)}$"})


def _match_q(match: Match, field: str, *, fuzzy: bool) -> Q:
    if match.kind is Kind.UID:
        return Q(**{f"{field}__in": match.uids})
    if match.kind is Kind.INTEGER:
        return Q(**{f"{field}__in": match.numbers})
    if match.kind in (Kind.DATE, Kind.TIME):
        assert match.range is not None
        q = Q()
        if match.range.start is not None:
            q &= Q(**{f"{field}__gte": match.range.start})
        if match.range.end is not None:
            q &= Q(**{f"{field}__lte": match.range.end})
        return q
    if match.kind is Kind.PERSON_NAME:
        if match.value.strip("*") == "":
            return Q()
        regex = Q(**{f"{field}__iregex": person_name_regex(match.value, fuzzy=fuzzy)})
        literal = "" if fuzzy else _required_text(match.value)
        if not literal:
            return regex
        # Every row the expression matches contains this text: the cheap ILIKE goes first and
        # spares the regular expression nearly every row (or takes the trigram index).
        return Q(_ILike(F(field), "%" + _like_escaped(literal) + "%")) & regex
    if match.kind is Kind.MODALITIES:
        q = Q()
        for modality in match.value.split("\\"):
            pattern = wildcard_regex(modality, any_char="[^\\\\]")
            q |= Q(**{f"{field}__regex": rf"(^|\\){pattern}(\\|$)"})
        return q
    return _string_q(field, match.value)


class _ILike(Lookup[str]):
    """Case-insensitive LIKE: PostgreSQL's ILIKE (Django's icontains upper-cases every row)."""

    lookup_name = "ilike"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        operator = "ILIKE" if connection.vendor == "postgresql" else "LIKE"
        return f"{lhs} {operator} {rhs} ESCAPE '\\'", [*lhs_params, *rhs_params]


def _required_text(pattern: str) -> str:
    """The longest run of a name pattern without wildcards, if case folding cannot change
    whether it is found (ASCII, or characters without case such as Chinese)."""
    longest = max(re.split(r"[*?]", pattern), key=len)
    if not all(c.isascii() or c.lower() == c.upper() for c in longest):
        return ""
    return longest


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _query_q(query: Query) -> Q:
    study_prefix, series_prefix = _PREFIXES[query.level]
    fields = {
        **{k: study_prefix + v for k, v in STUDY_FIELDS.items()},
        **{k: series_prefix + v for k, v in SERIES_FIELDS.items()},
        **INSTANCE_FIELDS,
    }
    q = Q()
    for match in query.matches:
        q &= _match_q(match, fields[match.keyword], fuzzy=query.fuzzy)
    return q


@dataclass(frozen=True)
class SearchPage:
    rows: list[Study] | list[Series] | list[Instance]
    more: bool  # further results exist beyond the limit


def _viewer_record(*, user: User | AnonymousUser, session: str, studies: list[Study]) -> None:
    unique = list({study.pk: study for study in studies}.values())
    study_viewing_record(user=user, studies=unique, session=session, kind=ViewingKind.SEARCH)


def qido_search(
    *,
    user: User | AnonymousUser,
    session: str,
    query: Query,
    study: Study | None = None,
    series: Series | None = None,
) -> SearchPage:
    """One page of QIDO-RS results the user may see, optionally within a study or series.

    Finding a study is a read of its patient data: it is audited once per viewing session.
    """
    study_prefix, _ = _PREFIXES[query.level]
    where = Q(_visible(study_scope(actor_for(user)), study_prefix), _query_q(query))
    if study is not None:
        where &= Q(**{f"{study_prefix}pk": study.pk})
    if series is not None:
        where &= Q(series_id=series.pk) if query.level is Level.INSTANCE else Q(pk=series.pk)
    rows = _search_rows(query.level, where)
    page = list(rows[query.offset : query.offset + query.limit + 1])
    more = len(page) > query.limit
    page = page[: query.limit]
    studies = [
        row if isinstance(row, Study) else row.study
        for row in page
        if isinstance(row, Study | Series | Instance)
    ]
    _viewer_record(user=user, session=session, studies=studies)
    return SearchPage(rows=page, more=more)  # type: ignore[arg-type]


def _search_rows(level: Level, where: Q) -> QuerySet[Study] | QuerySet[Series] | QuerySet[Instance]:
    rows: QuerySet[Study] | QuerySet[Series] | QuerySet[Instance]
    if level is Level.STUDY:
        rows = Study.objects.select_related("patient").filter(where).order_by("pk")
    elif level is Level.SERIES:
        rows = (
            Series.objects.select_related("study__patient")
            .filter(where)
            .order_by("study_id", "series_number", "pk")
        )
    else:
        rows = (
            Instance.objects.select_related("study__patient", "series")
            .filter(where)
            .order_by("study_id", "series__series_number", "series_id", "instance_number", "pk")
        )
    return rows


def series_of_study(*, study: Study, series_uid: str) -> Series:
    """Raises: NotFound if the study has no such series."""
    series = Series.objects.filter(study=study, series_instance_uid=series_uid).first()
    if series is None:
        raise NotFound
    return series


def first_instance_attributes(
    *, ids: list[int], by: str, tags: set[str]
) -> dict[int, dict[str, Any]]:
    """The named attributes (8-hex-digit tags) of the DICOM JSON of one instance per study
    (by="study") or per series (by="series"); nothing is read when no tag is named."""
    if not ids or not tags:
        return {}
    column = "study_id" if by == "study" else "series_id"
    unknown = [key for key in ids if (column, key) not in _first_instances]
    if unknown:
        found = (
            Instance.objects.filter(**{f"{column}__in": unknown})
            .values(column)
            .annotate(first=Min("pk"))
            .values_list(column, "first")
        )
        if len(_first_instances) + len(unknown) > _FIRST_ATTRIBUTES_LIMIT:
            _first_instances.clear()  # a bounded memory: forgetting only costs a query
        _first_instances.update({(column, key): pk for key, pk in found})
    firsts = {
        key: _first_instances[(column, key)] for key in ids if (column, key) in _first_instances
    }
    wanted = frozenset(tags)
    missing = [pk for pk in firsts.values() if (pk, wanted) not in _first_attributes]
    if missing:
        rows = Instance.objects.filter(pk__in=missing).values_list("pk", "metadata")
        if len(_first_attributes) + len(missing) > _FIRST_ATTRIBUTES_LIMIT:
            _first_attributes.clear()  # a bounded memory: forgetting only costs a query
        for pk, metadata in rows:
            stored = json.loads(metadata)
            _first_attributes[(pk, wanted)] = {t: stored[t] for t in wanted if t in stored}
    return {key: _first_attributes[(pk, wanted)] for key, pk in firsts.items()}


# Instances are written once and never change, and a study's or series' first instance (the
# lowest id) stays first: both are kept, so a repeated search (a worklist) reads no metadata.
_first_instances: dict[tuple[str, int], int] = {}  # (column, study or series id) -> instance id
_first_attributes: dict[tuple[int, frozenset[str]], dict[str, Any]] = {}
_FIRST_ATTRIBUTES_LIMIT = 20_000


def studies_unmatched_for_user(*, user: User | AnonymousUser) -> QuerySet[Study]:
    """Unmatched studies awaiting reconciliation that the user may see, newest first."""
    scope = study_scope(actor_for(user))
    return (
        Study.objects.filter(patient__isnull=True, institution_id__in=scope.unmatched_institutions)
        .select_related("institution")
        .order_by("-created_at", "-pk")
    )


def studies_to_reconcile(*, user: User | AnonymousUser) -> QuerySet[Study]:
    """Unmatched studies the user may link to a patient, newest first.

    Mirrors `study_permits(actor, Action.UPDATE, ...)` as a queryset: a coordinator's whole
    consortium, an institution admin's own institution, nobody else.
    """
    actor = actor_for(user)
    unmatched = studies_unmatched_for_user(user=user)
    if actor is not None and actor.has(Role.COORDINATOR):
        return unmatched
    if actor is not None and actor.has(Role.INSTITUTION_ADMIN):
        return unmatched.filter(institution_id=actor.institution_id)
    return Study.objects.none()


def study_for_reconcile(*, user: User, study_id: int) -> Study:
    """An unmatched study the user may link to a patient.

    Raises: NotFound for a missing, already matched, or someone else's study.
    """
    study = studies_to_reconcile(user=user).filter(pk=study_id).first()
    if study is None:
        raise NotFound
    return study


def study_for_manager(*, user: User, study_uid: str) -> Study:
    """A study the user may manage (delete).

    Raises: NotFound for a missing study and one the user may not manage.
    """
    study = (
        Study.objects.select_related("institution", "patient")
        .filter(study_instance_uid=study_uid)
        .first()
    )
    if study is None or not study_permits(
        actor_for(user), Action.MANAGE_STUDIES, study_subject(study)
    ):
        raise NotFound
    return study


_PREVIEW_PRECEDENCE = [
    PreviewState.FAILED,
    PreviewState.RENDERING,
    PreviewState.PENDING,
    PreviewState.READY,
]


def study_preview_states(*, study_ids: list[int]) -> dict[int, PreviewState]:
    """One preview state per study, from its series: a failure or pending work shows first."""
    states: dict[int, set[str]] = {}
    rows = Series.objects.filter(study_id__in=study_ids).values_list("study_id", "preview_state")
    for study_id, state in rows:
        states.setdefault(study_id, set()).add(state)
    summary: dict[int, PreviewState] = {}
    for study_id in study_ids:
        found = states.get(study_id, set())
        summary[study_id] = next(
            (state for state in _PREVIEW_PRECEDENCE if state in found), PreviewState.NONE
        )
    return summary


@dataclass(frozen=True)
class StudyRow:
    study: Study
    preview_state: PreviewState


@dataclass(frozen=True)
class StudyPage:
    rows: list[StudyRow]
    total: int


def _study_page(
    *, user: User, actor: Actor, studies: QuerySet[Study], offset: int, limit: int, event: str
) -> StudyPage:
    """One page of a study listing; showing it is a read of the studies' patient data."""
    page = list(studies.select_related("institution", "patient")[offset : offset + limit])
    if page:
        studies_read_record(user=user, actor=actor, studies=page, event=event)
    states = study_preview_states(study_ids=[s.pk for s in page])
    rows = [StudyRow(study=s, preview_state=states[s.pk]) for s in page]
    return StudyPage(rows=rows, total=studies.count())


def study_page_for_manager(*, user: User, offset: int, limit: int) -> StudyPage:
    """One page of the studies of the user's institution, newest first, for its admins.

    Raises: NotFound unless the user may manage the institution's studies.
    """
    actor = actor_for(user)
    if actor is None:
        raise NotFound
    institution = Institution.objects.get(pk=actor.institution_id)
    if not institution_permits(actor, Action.MANAGE_STUDIES, institution):
        raise NotFound
    studies = Study.objects.filter(institution=institution).order_by("-created_at", "-pk")
    return _study_page(
        user=user,
        actor=actor,
        studies=studies,
        offset=offset,
        limit=limit,
        event="imaging.study.list",
    )


def study_page_to_reconcile(*, user: User, offset: int, limit: int) -> StudyPage:
    """One page of the unmatched studies the user may link to a patient, newest first.

    Raises: NotFound for users who reconcile nothing (neither coordinator nor admin).
    """
    actor = actor_for(user)
    if actor is None or not (actor.has(Role.COORDINATOR) or actor.has(Role.INSTITUTION_ADMIN)):
        raise NotFound
    return _study_page(
        user=user,
        actor=actor,
        studies=studies_to_reconcile(user=user),
        offset=offset,
        limit=limit,
        event="imaging.study.reconcile_list",
    )


# --- DIMSE (a calling AE title acts for its institution) ------------------------------------


def calling_ae_get(*, ae_title: str) -> CallingAETitle | None:
    """The active registration of a calling AE title, with its institution."""
    return (
        CallingAETitle.objects.select_related("institution")
        .filter(ae_title=ae_title.strip(), active=True)
        .first()
    )


def dimse_search(*, actor: Actor, query: Query) -> list[Study] | list[Series]:
    """Every study or series (QIDO matching, no paging) the AE's institution may see."""
    study_prefix, _ = _PREFIXES[query.level]
    rows = _search_rows(query.level, Q(_visible(study_scope(actor), study_prefix), _query_q(query)))
    if query.level is Level.STUDY:
        return [row for row in rows if isinstance(row, Study)]
    return [row for row in rows if isinstance(row, Series)]


@dataclass(frozen=True)
class Retrieval:
    instances: list[Instance]
    denied: list[Study]  # named studies the AE may not see (reported as not found)


def instances_for_retrieve(
    *,
    actor: Actor,
    study_uids: list[str],
    series_uids: list[str] | None = None,
    sop_uids: list[str] | None = None,
) -> Retrieval:
    """The instances of the named studies (series, instances) the AE may see, in viewing order."""
    studies = list(
        Study.objects.select_related("institution", "patient").filter(
            study_instance_uid__in=study_uids
        )
    )
    allowed = [s for s in studies if study_permits(actor, Action.VIEW, study_subject(s))]
    instances = Instance.objects.filter(study__in=[s.pk for s in allowed]).select_related(
        "study__patient"
    )
    if series_uids:
        instances = instances.filter(series__series_instance_uid__in=series_uids)
    if sop_uids:
        instances = instances.filter(sop_instance_uid__in=sop_uids)
    ordered = instances.order_by(
        "study_id", "series__series_number", "series_id", "instance_number", "pk"
    )
    return Retrieval(instances=list(ordered), denied=[s for s in studies if s not in allowed])


def series_for_thumbnail(*, study: Study, series_uid: str | None = None) -> Series:
    """The named series, or the study's first series with images (a ready preview first).

    Raises: NotFound if the study has no such series, or no images at all.
    """
    series = Series.objects.filter(study=study)
    if series_uid is not None:
        found = series.filter(series_instance_uid=series_uid).first()
    else:
        ordered = series.filter(instances__number_of_frames__gt=0).distinct()
        found = (
            ordered.filter(preview_state=PreviewState.READY).order_by("series_number", "pk").first()
        ) or ordered.order_by("series_number", "pk").first()
    if found is None:
        raise NotFound
    return found


def series_preview_source(*, series: Series) -> Instance | None:
    """The image the series' previews are rendered from: its middle one, in viewing order."""
    images = Instance.objects.filter(series=series, number_of_frames__gt=0).order_by(
        "instance_number", "pk"
    )
    return images[images.count() // 2 :].first()


def series_to_view(*, study: Study) -> list[Series]:
    """The study's series that hold images, in viewing order, for the viewer's series list."""
    return list(
        Series.objects.filter(study=study, instances__number_of_frames__gt=0)
        .distinct()
        .order_by("series_number", "pk")
    )


@dataclass(frozen=True)
class PatientStudies:
    patient: Patient
    page: StudyPage


def study_page_of_patient(
    *, user: User, patient_id: int, offset: int, limit: int
) -> PatientStudies:
    """One page of a patient's studies the user may see, newest first, for opening the viewer.

    Raises: NotFound unless the user may see the patient (audited either way).
    """
    actor = actor_for(user)
    patient = patient_get_for_user(user=user, patient_id=patient_id)
    if actor is None:
        raise NotFound
    studies = Study.objects.filter(_visible(study_scope(actor), ""), patient=patient).order_by(
        "-study_date", "-created_at", "-pk"
    )
    page = _study_page(
        user=user,
        actor=actor,
        studies=studies,
        offset=offset,
        limit=limit,
        event="imaging.study.list",
    )
    return PatientStudies(patient=patient, page=page)
