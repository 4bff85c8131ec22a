"""Reads within a study the user may see: its instances, DICOM JSON metadata and series."""

import hashlib
import json
from dataclasses import dataclass

from imaging.dicom import transcode_cost
from imaging.models import Instance, PreviewState, Series, Study
from server.access import NotFound


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


# Rows, Columns, SamplesPerPixel, BitsAllocated and NumberOfFrames in DICOM JSON.
_GEOMETRY = {"00280010": 0, "00280011": 0, "00280002": 1, "00280100": 0, "00280008": 1}


def _first_int(instance: dict[str, dict[str, list[object]]], tag: str, default: int) -> int:
    value = (instance.get(tag, {}).get("Value") or [default])[0]
    try:
        return int(str(value))
    except ValueError:
        return default


def transcode_costs(*, instance_ids: list[int]) -> dict[int, int]:
    """The memory decompressing each instance whole would take, from its stored DICOM JSON
    (imaging.dicom.transcode_cost), so a retrieve can refuse before it streams anything."""
    costs = {}
    for pk, text in Instance.objects.filter(pk__in=instance_ids).values_list("pk", "metadata"):
        instance = json.loads(text)
        rows, columns, samples, bits, frames = (
            _first_int(instance, tag, default) for tag, default in _GEOMETRY.items()
        )
        costs[pk] = transcode_cost(
            rows=rows, columns=columns, samples=samples, bits=bits, frames=frames
        )
    return costs


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


def series_of_study(*, study: Study, series_uid: str) -> Series:
    """Raises: NotFound if the study has no such series."""
    series = Series.objects.filter(study=study, series_instance_uid=series_uid).first()
    if series is None:
        raise NotFound
    return series


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
