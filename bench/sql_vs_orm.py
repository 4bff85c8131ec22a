"""Time each hand-written statement against the ORM's form of it, in process (issue 14).

    .venv/bin/python bench/sql_vs_orm.py            # several minutes
    .venv/bin/python bench/sql_vs_orm.py --calls 300 --rounds 3   # a smoke run

Recreates the database `yunzhen_bench_sql` on the local PostgreSQL, migrates it, seeds one
consortium (30 institutions, 300 practitioners, 20,000 patients, 2,000 grants, 10,000 studies
with 2 series and 3 instances each) and analyses it. Then, for each statement of `server/sql.py`
and `imaging/sql.py` that the ORM can express, it calls the SQL form and the ORM form `--calls`
times each, alternating, `--rounds` times, after a warm-up (psycopg prepares a statement after
5 runs in both forms, as in production). It prints microseconds per call (the median of the
rounds) and their ratio; the last line is one JSON object with every figure. Each write runs in a
transaction of its own, rolled back (BEGIN and ROLLBACK are in both figures).

The ORM forms below are what the callers would write instead; the SQL forms are the functions
the callers use. Statements the ORM cannot express (an INSERT or UPDATE that returns which rows
it changed) are not timed: their ORM form would be two statements with another race.
"""

# A command-line bench: it prints its figures.
# ruff: noqa: T201

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "yunzhen_bench_sql"
POSTGRES = "postgres://postgres@127.0.0.1:5432"


def _database_recreate() -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _database_drop() -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def rolled_back(fn: Callable[[int], object]) -> Callable[[int], object]:
    """The call in a transaction of its own, rolled back (as a write runs: one transaction, and
    no row updated thousands of times in one)."""
    from django.db import transaction

    def call(n: int) -> object:
        with transaction.atomic():
            result = fn(n)
            transaction.set_rollback(True)
        return result

    return call


def _seed() -> dict[str, Any]:
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from imaging.models import IngestSource, Instance, Series, Study
    from server.accounts.models import ApiToken, User
    from server.accounts.services import api_token_create
    from server.audit.models import AuditChainHead
    from server.directory.models import (
        AccessGrant,
        Consortium,
        Institution,
        Patient,
        Practitioner,
        PractitionerRole,
        Role,
        Sex,
    )

    consortium = Consortium.objects.create(code="bench", name="bench")
    places = Institution.objects.bulk_create(
        Institution(consortium=consortium, code=f"i{n}", name=f"卫生院 {n}", level="township")
        for n in range(30)
    )
    unusable = make_password(None)
    users = User.objects.bulk_create(User(username=f"u{n}", password=unusable) for n in range(300))
    practitioners = Practitioner.objects.bulk_create(
        Practitioner(
            user=user,
            institution=places[n % len(places)],
            display_name=f"医生 {n}",
            specialty="general_practice",
            title="attending",
            independent_practice_since=date(2015, 7, 1),
        )
        for n, user in enumerate(users)
    )
    roles = [Role.CLINIC_DOCTOR, Role.SPECIALIST, Role.INSTITUTION_ADMIN, Role.COORDINATOR]
    PractitionerRole.objects.bulk_create(
        PractitionerRole(practitioner=p, role=roles[n % 4])
        for n, p in enumerate(practitioners)
        if n % 10 != 9  # a tenth have no role
    )
    patients = Patient.objects.bulk_create(
        Patient(
            consortium=consortium,
            home_institution=places[n % len(places)],
            health_card_number=f"H{n}",
            name=f"患者{n}",
            sex=Sex.FEMALE,
            birth_date=date(1958, 3, 14),
        )
        for n in range(20_000)
    )
    now = timezone.now()
    # A grant names one person (issue 15): practitioner k works at places[k % 30].
    AccessGrant.objects.bulk_create(
        AccessGrant(
            patient=patients[n * 7],
            institution=places[(n + 1) % len(places)],
            user_id=practitioners[(n + 1) % len(places) + len(places) * (n % 10)].user_id,
            source_type="consult",
            source_id=str(n),
            reason="bench",
            ends_at=now + timedelta(days=1) if n % 2 else now - timedelta(days=1),
        )
        for n in range(2_000)
    )
    studies = Study.objects.bulk_create(
        Study(
            study_instance_uid=f"1.2.9.{n}",
            institution=places[n % len(places)],
            patient=patients[n * 2] if n % 3 else None,
            source=IngestSource.STOW,
            modalities_in_study="CT",
            revision=1,
        )
        for n in range(10_000)
    )
    series = Series.objects.bulk_create(
        Series(study=study, series_instance_uid=f"{study.study_instance_uid}.{k}", modality="CT")
        for study in studies
        for k in range(2)
    )
    Instance.objects.bulk_create(
        Instance(
            study_id=s.study_id,
            series=s,
            sop_instance_uid=f"{s.series_instance_uid}.{k}",
            sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            number_of_frames=1,
            sha256=f"{s.pk:032x}{k:032x}",
            storage_name="x",
            size_bytes=1000,
            metadata="{}",
            source=IngestSource.STOW,
            institution_id=places[0].pk,
        )
        for s in series
        for k in range(3)
    )
    AuditChainHead.objects.get_or_create(pk=1, defaults={"seq": 0, "last_hash": "0" * 64})
    _, raw = api_token_create(user=users[0], name="bench")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    doctor = next(p for n, p in enumerate(practitioners) if n % 4 == 0 and n % 10 != 9)
    coordinator = next(p for n, p in enumerate(practitioners) if n % 4 == 3 and n % 10 != 9)
    return {
        "doctor": doctor.user,
        "coordinator": coordinator.user,
        "token_hash": ApiToken.objects.get().key_hash,
        "raw_token": raw,
        "studies": studies,
        "series": series,
    }


def _time(calls: int, fn: Callable[[int], object]) -> float:
    started = time.perf_counter()
    for n in range(calls):
        fn(n)
    return (time.perf_counter() - started) / calls * 1e6


def _compare(
    name: str, sql: Callable[[int], object], orm: Callable[[int], object], args: argparse.Namespace
) -> dict[str, float]:
    if args.only and args.only not in name:
        return {}
    for fn in (sql, orm):
        _time(20, fn)  # warm: prepared statements, caches
    sql_runs, orm_runs = [], []
    for _ in range(args.rounds):
        sql_runs.append(_time(args.calls, sql))
        orm_runs.append(_time(args.calls, orm))
    sql_us, orm_us = statistics.median(sql_runs), statistics.median(orm_runs)
    spread = max((max(sql_runs) - min(sql_runs)) / sql_us, (max(orm_runs) - min(orm_runs)) / orm_us)
    print(
        f"{name:<38} SQL {sql_us:8.1f} µs   ORM {orm_us:8.1f} µs   ORM/SQL {orm_us / sql_us:5.2f}"
        f"   (spread of rounds {spread:.0%})"
    )
    return {"sql_us": round(sql_us, 1), "orm_us": round(orm_us, 1), "spread": round(spread, 2)}


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from django.db.models import Case, F, Q, Value, When
    from django.utils import timezone

    from imaging import sql as imaging_sql
    from imaging.models import Instance, Series, Study
    from imaging.qido import Level
    from imaging.selectors.access import study_visible_q
    from imaging.selectors.search import search_rows
    from server import sql as server_sql
    from server.access import actor_for, patients_visible_to
    from server.accounts.models import ApiToken
    from server.audit.models import AuditAction, AuditChainHead, AuditEvent
    from server.audit.services import audit_event_hash
    from server.directory.models import Institution, Practitioner, Role
    from server.lib.rows import Aliased, execute, pipelined

    seeded = _seed()
    results: dict[str, Any] = {}  # a statement left out by --only has {}
    doctor, coordinator = seeded["doctor"], seeded["coordinator"]
    users = [doctor, coordinator]

    # actor_for: the practitioner and its roles, every request.
    results["practitioner_roles"] = _compare(
        "actor_for (practitioner + roles)",
        lambda n: server_sql.practitioner_roles(users[n % 2].pk),
        lambda n: list(
            Practitioner.objects.filter(user_id=users[n % 2].pk, is_active=True).values_list(
                "pk", "institution_id", "institution__consortium_id", "roles__role"
            )
        ),
        args,
    )

    # The API token and its user, every API request.
    token_hash = seeded["token_hash"]

    def token_orm(n: int) -> object:
        return next(
            iter(
                ApiToken.objects.select_related("user")
                .defer("user__password")
                .filter(key_hash=token_hash, revoked_at__isnull=True, user__is_active=True)
            ),
            None,
        )

    results["api_token"] = _compare(
        "api token + user",
        lambda n: server_sql.api_token_unrevoked(token_hash),
        token_orm,
        args,
    )

    # The audit chain head: advanced and moved on every audited event.
    def head_orm(n: int) -> object:
        head = AuditChainHead.objects.select_for_update().values_list("seq", "last_hash").get(pk=1)
        AuditChainHead.objects.filter(pk=1).update(seq=F("seq") + 1)
        return head

    results["audit_head_advance"] = _compare(
        "audit head advance",
        rolled_back(lambda n: server_sql.audit_head_advance(1)),
        rolled_back(head_orm),
        args,
    )
    # Moving the head went back to the ORM (issue 14): its SQL form was this.
    h = Aliased(AuditChainHead, "h")
    move_sql = f"UPDATE {h} SET {h.column('last_hash')} = %s WHERE {h['id']} = %s"  # noqa: S608  # names from _meta

    def sql_move(n: int) -> object:
        execute(move_sql, [f"{n:064x}", 1])
        return None

    def orm_move(n: int) -> object:
        return AuditChainHead.objects.filter(pk=1).update(last_hash=f"{n:064x}")

    results["audit_head_move"] = _compare(
        "audit head move", rolled_back(sql_move), rolled_back(orm_move), args
    )

    # The same, in the whole append it is part of (advance, insert the event, move).
    def append(move: Callable[[int], object]) -> Callable[[int], object]:
        def call(n: int) -> object:
            # What audit_record does, the move's form chosen.
            seq, last_hash = server_sql.audit_head_advance(1) or (0, "")
            event = AuditEvent(
                seq=seq,
                recorded_at=timezone.now(),
                action=AuditAction.READ,
                event="bench",
                actor_id=doctor.pk,
                actor_username=doctor.username,
                prev_hash=last_hash,
            )
            event.hash = audit_event_hash(event)
            event.save(force_insert=True)
            return move(n)

        return rolled_back(call)

    results["audit_record"] = _compare(
        "audit append, head moved by", append(sql_move), append(orm_move), args
    )

    # The study scope: a page of QIDO results at the study and series levels.
    def scope_orm(actor: Any, prefix: str) -> Q:
        if actor is None:
            return Q(pk__in=[])
        owners: Any = (
            Institution.objects.filter(consortium_id=actor.consortium_id).values("pk")
            if actor.has(Role.COORDINATOR)
            else [actor.institution_id]
        )
        return Q(**{f"{prefix}patient_id__in": patients_visible_to(actor).values("pk")}) | Q(
            **{f"{prefix}patient_id__isnull": True, f"{prefix}institution_id__in": owners}
        )

    # A page is ten times the cost of the other statements: a tenth of the calls.
    page_args = argparse.Namespace(
        calls=max(args.calls // 10, 1), rounds=args.rounds, only=args.only
    )
    one_uid = seeded["studies"][len(seeded["studies"]) // 2].study_instance_uid
    for who, user in (("doctor", doctor), ("coordinator", coordinator)):
        for level, prefix, by_uid in (
            (Level.STUDY, "", False),
            (Level.SERIES, "study__", False),
            (Level.STUDY, "", True),  # a viewer's QIDO for one study: the scope is all it costs
        ):
            uid = Q(**{f"{prefix}study_instance_uid": one_uid}) if by_uid else Q()

            def page_sql(
                n: int, user: Any = user, level: Level = level, prefix: str = prefix, uid: Q = uid
            ) -> list[Any]:
                user._yunzhen_actor = None
                where = Q(study_visible_q(actor_for(user), prefix), uid)
                return list(search_rows(level, where)[:101])

            def page_orm(
                n: int, user: Any = user, level: Level = level, prefix: str = prefix, uid: Q = uid
            ) -> list[Any]:
                user._yunzhen_actor = None
                where = Q(scope_orm(actor_for(user), prefix), uid)
                return list(search_rows(level, where)[:101])

            assert {r.pk for r in page_sql(0)} == {r.pk for r in page_orm(0)}
            if by_uid:
                # What the scope's form costs in Python alone: the query built and compiled,
                # not sent (the noise of the database and of a shared machine left out).
                actor = actor_for(user)

                def compile_sql(
                    n: int,
                    actor: Any = actor,
                    level: Level = level,
                    prefix: str = prefix,
                    uid: Q = uid,
                ) -> object:
                    where = Q(study_visible_q(actor, prefix), uid)
                    return search_rows(level, where)[:101].query.get_compiler("default").as_sql()

                def compile_orm(
                    n: int,
                    actor: Any = actor,
                    level: Level = level,
                    prefix: str = prefix,
                    uid: Q = uid,
                ) -> object:
                    where = Q(scope_orm(actor, prefix), uid)
                    return search_rows(level, where)[:101].query.get_compiler("default").as_sql()

                results[f"study_scope_{who}_compile"] = _compare(
                    f"study scope, {who}, query built", compile_sql, compile_orm, args
                )
            what = "one study by UID" if by_uid else f"{level.value.lower()} page"
            results[f"study_scope_{who}_{what.replace(' ', '_')}"] = _compare(
                f"study scope, {who}, {what}",
                page_sql,
                page_orm,
                args if by_uid else page_args,
            )

    # The instance a frame request names, with its series, study, owner and patient.
    series = seeded["series"]
    study_uids = {s.pk: s.study_instance_uid for s in seeded["studies"]}

    def uids(n: int) -> tuple[str, str, str]:
        s = series[(n * 37) % len(series)]
        return study_uids[s.study_id], s.series_instance_uid, f"{s.series_instance_uid}.1"

    def instance_sql(n: int) -> object:
        study_uid, series_uid, sop_uid = uids(n)
        return imaging_sql.instance_with_study(
            study_uid=study_uid, series_uid=series_uid, instance_uid=sop_uid
        )

    def instance_orm(n: int) -> object:
        study_uid, series_uid, sop_uid = uids(n)
        return next(
            iter(
                Instance.objects.select_related("series", "study__institution", "study__patient")
                .defer("metadata")
                .filter(
                    sop_instance_uid=sop_uid,
                    series__series_instance_uid=series_uid,
                    study__study_instance_uid=study_uid,
                )
            ),
            None,
        )

    results["instance_with_study"] = _compare(
        "instance with study (frame request)", instance_sql, instance_orm, args
    )

    # What ingest reads for one C-STORE into a stored series: the series with its study, and
    # whether the instance is stored.
    def archive_sql(n: int) -> object:
        _, series_uid, sop_uid = uids(n)
        return imaging_sql.archive_series_and_instances(
            series_uids=[series_uid], sop_uids=[sop_uid + "9"]
        )

    def archive_orm(n: int) -> object:
        _, series_uid, sop_uid = uids(n)
        return (
            list(
                Series.objects.filter(series_instance_uid__in=[series_uid]).values_list(
                    "series_instance_uid",
                    "pk",
                    "study_id",
                    "study__study_instance_uid",
                    "study__institution_id",
                    "study__institution__consortium_id",
                    "study__patient_id",
                    "study__dicom_patient_id",
                    "study__issuer_of_patient_id",
                    "study__modalities_in_study",
                )
            ),
            list(
                Instance.objects.filter(sop_instance_uid__in=[sop_uid + "9"]).values_list(
                    "sop_instance_uid", "pk", "sha256", "dataset_sha256", "study__patient_id"
                )
            ),
        )

    results["archive_lookup"] = _compare(
        "ingest look-up (one C-STORE)", archive_sql, archive_orm, args
    )

    def studies_sql(n: int) -> object:
        return imaging_sql.archive_studies([uids(n)[0]])

    def studies_orm(n: int) -> object:
        return list(
            Study.objects.filter(study_instance_uid__in=[uids(n)[0]]).values_list(
                "pk",
                "study_instance_uid",
                "institution_id",
                "institution__consortium_id",
                "patient_id",
                "dicom_patient_id",
                "issuer_of_patient_id",
                "modalities_in_study",
            )
        )

    results["archive_studies"] = _compare(
        "ingest look-up of studies", studies_sql, studies_orm, args
    )

    # Counts added on ingest: one series and its study (a C-STORE), in the pipelined block.
    def counts_increments(n: int, rows: int) -> list[int]:
        return [series[(n * 37 + k) % len(series)].pk for k in range(rows)]

    def counts_orm_update(model: Any, increments: dict[int, dict[str, int]]) -> None:
        names = list(next(iter(increments.values())))
        model.objects.filter(pk__in=list(increments)).update(
            revision=F("revision") + 1,
            **{
                name: F(name)
                + Case(*(When(pk=pk, then=Value(c[name])) for pk, c in increments.items()))
                for name in names
            },
        )

    for rows in (1, 20):

        def counts_sql(n: int, rows: int = rows) -> None:
            ids = counts_increments(n, rows)
            with pipelined():
                imaging_sql.counts_add(Series, {pk: {"instance_count": 1} for pk in ids})
                imaging_sql.counts_add(
                    Study, {pk: {"instance_count": 1, "size_bytes": 10} for pk in ids[:1]}
                )

        def counts_orm(n: int, rows: int = rows) -> None:
            ids = counts_increments(n, rows)
            with pipelined():
                counts_orm_update(Series, {pk: {"instance_count": 1} for pk in ids})
                counts_orm_update(
                    Study, {pk: {"instance_count": 1, "size_bytes": 10} for pk in ids[:1]}
                )

        results[f"counts_add_{rows}"] = _compare(
            f"counts add ({rows} series + 1 study)",
            rolled_back(counts_sql),
            rolled_back(counts_orm),
            args,
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per round and form")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="", help="time only the statements named with this")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        {"DJANGO_SETTINGS_MODULE": "server.settings", "DATABASE_URL": f"{POSTGRES}/{DATABASE}"}
    )
    print(f"Load average before the run: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    _database_recreate()
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)
        results = _run(args)
        from django.db import connections

        connections.close_all()
    finally:
        if not args.keep:
            _database_drop()
    print(f"Load average after the run: {os.getloadavg()[0]:.2f}")
    print(
        json.dumps({"bench": "sql_vs_orm", "calls": args.calls, "rounds": args.rounds, **results})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
