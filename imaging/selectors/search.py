"""QIDO-RS search: matching as querysets, paging, and the first instance's attributes."""

import json
import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import F, Lookup, Min, Q, QuerySet

from imaging.models import Instance, Series, Study, ViewingKind
from imaging.qido import Kind, Level, Match, Query, has_wildcard, person_name_regex, wildcard_regex
from imaging.selectors.access import study_visible_q
from imaging.services.viewings import study_viewing_record
from server.access import Actor, actor_for
from server.accounts.models import User

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
        if fuzzy:
            return regex
        prefix = _group_prefix(match.value)
        if prefix:
            # The usual search box pattern (`WANG^XIAO*`): index range scans find the names
            # with a component group that starts so, and the expression checks only those.
            return Q(_GroupStartsWith(F(field), _like_escaped(prefix) + "%")) & regex
        literal = _required_text(match.value)
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
        return f"{lhs} ILIKE {rhs} ESCAPE '\\'", [*lhs_params, *rhs_params]


class _GroupStartsWith(Lookup[str]):
    """Some component group of a person name, upper-cased, is LIKE the pattern.

    Each group is the expression indexed by migration 0009 (a PN value has at most three
    groups).
    """

    lookup_name = "group_startswith"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        groups = [f"split_part(upper({lhs}), '=', {g}) LIKE {rhs} ESCAPE '\\'" for g in (1, 2, 3)]
        return "(" + " OR ".join(groups) + ")", [*lhs_params, *rhs_params] * 3


def _group_prefix(pattern: str) -> str:
    """The text a non-fuzzy name pattern without `=` requires at the start of a component
    group, upper-cased, if case folding cannot change whether it is found ("" if none)."""
    if "=" in pattern:
        return ""
    prefix = re.split(r"[*?]", pattern)[0]
    return prefix.upper() if _case_safe(prefix) else ""


def _required_text(pattern: str) -> str:
    """The longest run of a name pattern without wildcards, if case folding cannot change
    whether it is found (ASCII, or characters without case such as Chinese)."""
    longest = max(re.split(r"[*?]", pattern), key=len)
    return longest if _case_safe(longest) else ""


def _case_safe(text: str) -> bool:
    """Whether SQL's case folding agrees with Python's on the text (ASCII, or no case)."""
    return all(c.isascii() or c.lower() == c.upper() for c in text)


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
    rows = qido_matches(actor=actor_for(user), query=query, study=study, series=series)
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


def qido_matches(
    *,
    actor: Actor | None,
    query: Query,
    study: Study | None = None,
    series: Series | None = None,
) -> QuerySet[Study] | QuerySet[Series] | QuerySet[Instance]:
    """Every row of the query's level that it matches and whose study the actor may view,
    optionally within a study or series, in QIDO's order (unpaged, not audited)."""
    study_prefix, _ = _PREFIXES[query.level]
    where = Q(study_visible_q(actor, study_prefix), _query_q(query))
    if study is not None:
        where &= Q(**{f"{study_prefix}pk": study.pk})
    if series is not None:
        where &= Q(series_id=series.pk) if query.level is Level.INSTANCE else Q(pk=series.pk)
    return search_rows(query.level, where)


def search_rows(level: Level, where: Q) -> QuerySet[Study] | QuerySet[Series] | QuerySet[Instance]:
    """The rows of a search at one level matching `where`, in a stable order."""
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
