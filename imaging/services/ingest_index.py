"""Indexing accepted instances in one transaction: new studies (matched to a patient) and
series, the instances, the counts, the audit of created studies."""

from dataclasses import dataclass

from django.db import transaction

from imaging import sql
from imaging.dicom import ParsedInstance
from imaging.models import IngestSource, Instance, Series, Study
from imaging.services.ingest_match import patient_match
from imaging.services.ingest_rules import IngestBatch
from imaging.services.previews import series_previews_request
from imaging.services.storage import storage_name
from server.access import Actor, actor_for
from server.accounts.models import User
from server.audit.models import AuditAction
from server.audit.services import audit_record
from server.directory.models import Institution
from server.lib.rows import pipelined, rows_insert


@dataclass(frozen=True)
class AcceptedInstance:
    """An instance let into the archive, ready to index."""

    parsed: ParsedInstance
    metadata: str  # the DICOM JSON text


@transaction.atomic
def instances_index(
    *,
    accepted: list[AcceptedInstance],
    archive: IngestBatch,
    source: IngestSource,
    institution: Institution,
    user: User | None,
    actor: Actor,
) -> None:
    """Index the accepted instances: new studies and series, the instances, the counts.

    `actor` stores them (the user, or the institution for a door without one): a new study is
    matched only to a patient it may see.

    Raises: IntegrityError when a concurrent request created one of the rows first.
    """
    if not accepted:
        return
    by_study: dict[str, list[ParsedInstance]] = {}
    by_series: dict[str, list[ParsedInstance]] = {}
    for item in accepted:
        by_study.setdefault(item.parsed.study_instance_uid, []).append(item.parsed)
        by_series.setdefault(item.parsed.series_instance_uid, []).append(item.parsed)
    # A stored study that gains a series gets its modalities rewritten: lock it and read them
    # afresh. Counts alone are incremented in the database, with no lock needed.
    study_ids = {uid: archive.studies[uid].pk for uid in by_study if uid in archive.studies}
    stored_modalities = {
        uid: archive.studies[uid].modalities_in_study for uid in by_study if uid in archive.studies
    }
    gaining = [
        study_ids[uid]
        for uid in study_ids
        if any(p.series_instance_uid not in archive.series for p in by_study[uid])
    ]
    if gaining:
        stored_modalities.update(
            Study.objects.select_for_update()
            .filter(pk__in=gaining)
            .order_by("pk")
            .values_list("study_instance_uid", "modalities_in_study")
        )
    created_studies = Study.objects.bulk_create(
        [
            Study(
                study_instance_uid=uid,
                **_study_fields(parsed=first, source=source, institution=institution, actor=actor),
                series_count=len({p.series_instance_uid for p in by_study[uid]}),
                instance_count=len(by_study[uid]),
                size_bytes=sum(p.size for p in by_study[uid]),
                modalities_in_study=_modalities("", by_study[uid]),
                revision=1,
            )
            for uid, first in archive.new_studies.items()
            if uid in by_study
        ]
    )
    study_ids.update({s.study_instance_uid: s.pk for s in created_studies})
    series_ids = {uid: stored.pk for uid, stored in archive.series.items()}
    series_ids.update(
        {
            s.series_instance_uid: s.pk
            for s in Series.objects.bulk_create(
                [
                    Series(
                        study_id=study_ids[first.study_instance_uid],
                        series_instance_uid=uid,
                        modality=first.modality,
                        series_number=first.series_number,
                        series_description=first.series_description,
                        body_part_examined=first.body_part_examined,
                        instance_count=len(members),
                        revision=1,
                    )
                    for uid, members in by_series.items()
                    if uid not in archive.series
                    for first in members[:1]
                ]
            )
        }
    )
    study_counts: dict[int, dict[str, int]] = {}
    modalities: dict[int, str] = {}
    for uid, members in by_study.items():
        if uid not in archive.studies:
            continue
        study_id = study_ids[uid]
        new_series = {p.series_instance_uid for p in members} - set(archive.series)
        study_counts[study_id] = {
            "instance_count": len(members),
            "size_bytes": sum(p.size for p in members),
            "series_count": len(new_series),
        }
        if new_series:
            modalities[study_id] = _modalities(stored_modalities[uid], members)
    # The writes go out together and cost one round trip: the preview request reads its answer
    # last (what a C-STORE waits for is mostly these round trips, one instance at a time).
    with pipelined():
        rows_insert(
            Instance,
            [
                Instance(
                    study_id=study_ids[item.parsed.study_instance_uid],
                    series_id=series_ids[item.parsed.series_instance_uid],
                    sop_instance_uid=item.parsed.sop_instance_uid,
                    sop_class_uid=item.parsed.sop_class_uid,
                    instance_number=item.parsed.instance_number,
                    transfer_syntax_uid=item.parsed.transfer_syntax_uid,
                    number_of_frames=item.parsed.number_of_frames,
                    frame_fragments=item.parsed.frame_fragments,
                    sha256=item.parsed.sha256,
                    dataset_sha256=item.parsed.dataset_sha256,
                    storage_name=storage_name(item.parsed.sha256),
                    size_bytes=item.parsed.size,
                    metadata=item.metadata,
                    source=source,
                    institution=institution,
                    stored_by=user,
                )
                for item in accepted
            ],
        )
        # Counts are added in SQL: the ORM's form of per-row increments (a CASE with one WHEN a
        # row and count) costs more to build than the whole statement takes to run.
        sql.counts_add(
            Series,
            {
                series_ids[uid]: {"instance_count": len(members)}
                for uid, members in by_series.items()
                if uid in archive.series
            },
        )
        sql.counts_add(Study, study_counts)
        series_previews_request(
            [
                series_ids[uid]
                for uid, members in by_series.items()
                if any(p.number_of_frames > 0 for p in members)
            ]
        )
    for pk, value in modalities.items():
        # The study was locked above and its modalities read afresh.
        Study.objects.filter(pk=pk).update(modalities_in_study=value)
    for study in created_studies:
        _audit_created(study=study, source=source, institution=institution, user=user)


def _modalities(stored: str, members: list[ParsedInstance]) -> str:
    modalities = set(filter(None, stored.split("\\"))) | {p.modality for p in members}
    return "\\".join(sorted(filter(None, modalities)))


def _audit_created(
    *, study: Study, source: IngestSource, institution: Institution, user: User | None
) -> None:
    actor = actor_for(user) if user is not None else None
    audit_record(
        user=user,
        action=AuditAction.CREATE,
        event="imaging.study.create",
        actor_institution_id=actor.institution_id if actor else institution.pk,
        resource_type="Study",
        resource_id=study.pk,
        patient_id=study.patient_id,
        patient_institution_id=study.patient.home_institution_id if study.patient else None,
        detail={"source": source.value, "matched": study.patient_id is not None},
    )


def _study_fields(
    *, parsed: ParsedInstance, source: IngestSource, institution: Institution, actor: Actor
) -> dict[str, object]:
    match = patient_match(parsed=parsed, institution=institution, actor=actor)
    return {
        "institution": institution,
        "patient": match.patient,
        "unmatched_reason": match.unmatched_reason,
        "source": source,
        "dicom_patient_id": parsed.patient_id,
        "issuer_of_patient_id": parsed.issuer_of_patient_id,
        "patient_name": parsed.patient_name,
        "patient_birth_date": parsed.patient_birth_date,
        "patient_sex": parsed.patient_sex,
        "study_date": parsed.study_date,
        "study_time": parsed.study_time,
        "accession_number": parsed.accession_number,
        "study_id": parsed.study_id,
        "study_description": parsed.study_description,
        "referring_physician_name": parsed.referring_physician_name,
    }
