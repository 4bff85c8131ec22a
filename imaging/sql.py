"""Imaging's hand-written SQL.

Each statement is one function, kept here because a bench showed the ORM's form costing real
time on the paths every stored instance or every frame takes, or because the ORM has no form of
it (an INSERT or UPDATE that returns which rows it changed). Figures: bench/README.md, "Issue 14:
raw SQL vs ORM". Table and column names come from the models (`server.lib.rows.Aliased`); each
function has its test in tests/imaging/test_sql.py.
"""

from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection

from imaging.models import Instance, Series, Study, StudyViewing, ViewingKind
from server.directory.models import Institution, Patient
from server.lib.rows import (
    Aliased,
    Selected,
    execute,
    fetch,
    pipelined,
    placeholder_rows,
    placeholders,
)

# --- Viewing marks and preview requests: writes that return what they changed ----------------


def viewings_insert(
    *, user_id: int, session: str, kind: ViewingKind, study_ids: list[int], now: datetime
) -> set[int]:
    """Mark the studies seen by the user in the session this way; return the ids of those not
    marked before (the others conflict and are left as they are)."""
    v = Aliased(StudyViewing, "v")
    names = ("user_id", "study", "session", "kind", "first_at")
    rows = fetch(
        f"INSERT INTO {v} ({', '.join(v.column(name) for name in names)}) "  # noqa: S608  # names from _meta
        f"VALUES {placeholder_rows(len(names), len(study_ids))} "
        f"ON CONFLICT DO NOTHING RETURNING {v.column('study')}",
        [value for pk in study_ids for value in (user_id, pk, session, kind.value, now)],
    )
    return {pk for (pk,) in rows}


def series_previews_mark(*, series_ids: list[int], state: str) -> list[int]:
    """Set the series' preview state (its claim cleared) where it is another; return the ids of
    the series changed, in one statement (the ORM's update() gives only a count)."""
    s = Aliased(Series, "s")
    rows = fetch(
        f"UPDATE {s} SET {s.column('preview_state')} = %s, "  # noqa: S608  # names from _meta
        f"{s.column('preview_claimed_at')} = NULL "
        f"WHERE {s['id']} IN {placeholders(len(series_ids))} AND {s['preview_state']} <> %s "
        f"RETURNING {s['id']}",
        [state, *series_ids, state],
    )
    return [pk for (pk,) in rows]


# --- What ingest reads of the archive, for every stored instance -------------------------------


@cache
def _study_select() -> tuple[str, str]:
    st, i = Aliased(Study, "st"), Aliased(Institution, "i")
    columns = ", ".join(
        [
            st["id"],
            st["study_instance_uid"],
            st["institution"],
            i["consortium"],
            st["patient"],
            st["dicom_patient_id"],
            st["issuer_of_patient_id"],
            st["modalities_in_study"],
        ]
    )
    return columns, f"{st} JOIN {i} ON {i['id']} = {st['institution']}"


STUDY_ROW = (
    "pk, study_instance_uid, institution_id, consortium_id, patient_id, dicom_patient_id, "
    "issuer_of_patient_id, modalities_in_study"
)
"""What a stored study's row holds, in order, in the functions below."""


def archive_series_and_instances(
    *, series_uids: list[str], sop_uids: list[str]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The stored series of these UIDs as (series UID, series id, *study row) and the stored
    instances of these UIDs as (SOP instance UID, id, sha256, dataset_sha256, its study's
    patient id): two statements sent together, one round trip."""
    se, ins, st = Aliased(Series, "se"), Aliased(Instance, "ins"), Aliased(Study, "st")
    study_columns, study_join = _study_select()
    with pipelined(), connection.cursor() as by_series, connection.cursor() as by_sop:
        by_series.execute(
            f"SELECT {se['series_instance_uid']}, {se['id']}, {study_columns} "  # noqa: S608  # names from _meta
            f"FROM {se} JOIN {study_join} ON {st['id']} = {se['study']} "
            f"WHERE {se['series_instance_uid']} IN {placeholders(len(series_uids))}",
            series_uids,
        )
        by_sop.execute(
            f"SELECT {ins['sop_instance_uid']}, {ins['id']}, {ins['sha256']}, "  # noqa: S608  # names from _meta
            f"{ins['dataset_sha256']}, {st['patient']} "
            f"FROM {ins} JOIN {st} ON {st['id']} = {ins['study']} "
            f"WHERE {ins['sop_instance_uid']} IN {placeholders(len(sop_uids))}",
            sop_uids,
        )
        return by_series.fetchall(), by_sop.fetchall()


def archive_studies(study_uids: list[str]) -> list[tuple[Any, ...]]:
    """The stored studies of these UIDs, as study rows (`STUDY_ROW`)."""
    study_columns, study_join = _study_select()
    st = Aliased(Study, "st")
    return fetch(
        f"SELECT {study_columns} FROM {study_join} "  # noqa: S608  # names from _meta
        f"WHERE {st['study_instance_uid']} IN {placeholders(len(study_uids))}",
        study_uids,
    )


def counts_add(model: type[Study] | type[Series], increments: dict[int, dict[str, int]]) -> None:
    """Add to the named counts of stored rows, and bump their revision, in one UPDATE.

    `increments` maps a row's id to what each count grows by (the same counts named for every
    row). The database adds, so concurrent ingests need no lock for counts alone. In `pipelined()`
    it does not wait for its answer.
    """
    if not increments:
        return
    names = list(next(iter(increments.values())))
    t = Aliased(model, "t")
    columns = [t.column(name) for name in names]
    assignments = ", ".join(f"{c} = {t.alias}.{c} + v.{c}" for c in columns)
    revision = t.column("revision")
    execute(
        f"UPDATE {t} SET {revision} = {t['revision']} + 1, {assignments} "  # noqa: S608  # names from _meta
        f"FROM (VALUES {placeholder_rows(len(names) + 1, len(increments))}) "
        f"AS v(id, {', '.join(columns)}) WHERE {t['id']} = v.id",
        [value for pk, counts in increments.items() for value in (pk, *counts.values())],
    )


# --- The instance a frame request names ---------------------------------------------------------

_INSTANCE = Selected(Instance, "i", omit=("metadata",))
_SERIES = Selected(Series, "se")
_STUDY = Selected(Study, "st")
_OWNER = Selected(Institution, "o")
_PATIENT = Selected(Patient, "p")


@cache
def _instance_with_study_sql() -> str:
    i, se, st = Aliased(Instance, "i"), Aliased(Series, "se"), Aliased(Study, "st")
    o, p = Aliased(Institution, "o"), Aliased(Patient, "p")
    return (
        f"SELECT {_INSTANCE.sql}, {_SERIES.sql}, {_STUDY.sql}, {_OWNER.sql}, {_PATIENT.sql} "  # noqa: S608  # names from _meta
        f"FROM {i} JOIN {se} ON {se['id']} = {i['series']} "
        f"JOIN {st} ON {st['id']} = {i['study']} "
        f"JOIN {o} ON {o['id']} = {st['institution']} "
        f"LEFT JOIN {p} ON {p['id']} = {st['patient']} "
        f"WHERE {i['sop_instance_uid']} = %s AND {se['series_instance_uid']} = %s "
        f"AND {st['study_instance_uid']} = %s"
    )


def instance_with_study(*, study_uid: str, series_uid: str, instance_uid: str) -> Instance | None:
    """The instance (its DICOM JSON deferred) with its series, study, and the study's owner and
    patient, in one statement; None if no instance has these three UIDs."""
    rows = fetch(_instance_with_study_sql(), [instance_uid, series_uid, study_uid])
    if not rows:
        return None
    row = rows[0]
    instance = _INSTANCE.load(row)
    start = _INSTANCE.width
    instance.series = _SERIES.load(row, start)
    start += _SERIES.width
    study = _STUDY.load(row, start)
    start += _STUDY.width
    study.institution = _OWNER.load(row, start)
    study.patient = _PATIENT.load_joined(row, start + _OWNER.width)
    instance.study = study
    return instance
