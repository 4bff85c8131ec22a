"""What the image viewer page hands to its script: the study, its series and the words to show.

The page embeds it as JSON (`<script type="application/json" id="viewer-config">`); the
TypeScript type `ViewerConfig` in frontend/src/viewer/config.ts mirrors it.
"""

from datetime import date
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from imaging.models import PreviewState, Series, Study
from server.lib.dates import day_text

DICOMWEB_ROOT = "/dicomweb"


def _age(birth_date: str, on: date | None) -> str:
    """Age in whole years at the study date, from a DICOM DA birth date; "" if unknown."""
    if len(birth_date) != 8 or not birth_date.isdigit() or on is None:
        return ""
    try:
        born = date(int(birth_date[:4]), int(birth_date[4:6]), int(birth_date[6:]))
    except ValueError:
        return ""
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    if years < 0:
        return ""
    return _("%(years)d y") % {"years": years}


def _sex(code: str) -> str:
    return {
        "M": pgettext("patient sex", "Male"),
        "F": pgettext("patient sex", "Female"),
        "O": pgettext("patient sex", "Other"),
    }.get(code.strip().upper(), "")


def _patient_name(study: Study) -> str:
    if study.patient is not None:
        return study.patient.name
    # DICOM person names separate their components with carets.
    return " ".join(part for part in study.patient_name.split("^") if part)


def _series_entry(study: Study, series: Series) -> dict[str, Any]:
    uids = {"study": study.study_instance_uid, "series": series.series_instance_uid}
    ready = series.preview_state == PreviewState.READY
    thumbnail = reverse("imaging:series-thumbnail", kwargs=uids)
    preview = (
        reverse(
            "imaging_pages:series_preview",
            kwargs={"study_uid": uids["study"], "series_uid": uids["series"]},
        )
        if ready
        # Not rendered yet (or it failed): the archive renders one now, still lossy.
        else f"{thumbnail}?viewport=512,512"
    )
    return {
        "seriesInstanceUid": series.series_instance_uid,
        "seriesNumber": series.series_number,
        "modality": series.modality,
        "description": series.series_description,
        "instanceCount": series.instance_count,
        "thumbnailUrl": thumbnail,
        "previewUrl": preview,
    }


def _labels() -> dict[str, str]:
    return {
        "preview": _("Preview · not for diagnosis"),
        "diagnostic": _("Diagnostic"),
        "diagnosticLossy": _("Diagnostic · lossy %(ratio)d:1")
        % {"ratio": settings.IMAGING_LOSSY_RATIO},
        "loadLossless": _("Load lossless"),
        "loadingLossless": _("Loading the lossless image…"),
        "loading": _("Loading images…"),
        "toolsLoading": _("Loading tools…"),
        "loadFailed": _("The images could not be loaded."),
        "renderFailed": _("The diagnostic image could not be displayed: %(reason)s"),
        "renderError": _("the image could not be loaded or decoded."),
        "renderBlank": _("it was drawn blank although the image has content."),
        "renderInvalid": _("its window or zoom could not be computed."),
        "uncalibrated": _("Uncalibrated · measurements in pixels"),
        "roiArea": _("Area: %(value)s"),
        "roiAreaOblique": _("Area: not measured on an oblique plane"),
        "roiMean": _("Mean: %(value)s"),
        "roiMax": _("Max: %(value)s"),
        "roiMin": _("Min: %(value)s"),
        "roiStdDev": _("SD: %(value)s"),
        "series": _("Series"),
        "image": _("Image"),
        "windowLevel": _("Window/level"),
        "pan": _("Pan"),
        "zoom": _("Zoom"),
        "length": _("Length"),
        "angle": _("Angle"),
        "ellipse": _("Elliptical ROI"),
        "arrow": _("Arrow with text"),
        "arrowPrompt": _("Text for the arrow"),
        "invert": _("Invert"),
        "reset": _("Reset"),
        "play": _("Play"),
        "stop": _("Stop"),
        "presets": _("Presets"),
        "presetDefault": _("As stored"),
        "presetLung": _("Lung"),
        "presetMediastinum": _("Mediastinum"),
        "presetBone": _("Bone"),
        "presetBrain": _("Brain"),
        "presetAbdomen": _("Abdomen"),
        "shortcuts": _("Keyboard shortcuts"),
        "shortcutScroll": _("Previous / next image"),
        "shortcutTools": _("Choose a tool"),
        "shortcutPresets": _("Window presets"),
        "shortcutInvert": _("Invert"),
        "shortcutReset": _("Reset the view"),
        "shortcutPlay": _("Play or stop cine"),
        "shortcutHelp": _("Show or hide this help"),
        "shortcutMouse": _(
            "Left drag: the chosen tool · middle drag or Ctrl+drag: pan · "
            "right drag: zoom · wheel: scroll"
        ),
        "close": _("Close"),
        "ok": _("OK"),
        "cancel": _("Cancel"),
    }


def viewer_config(*, study: Study, series: list[Series]) -> dict[str, Any]:
    """The viewer's configuration for a study the caller may see (checked by the caller)."""
    return {
        "studyInstanceUid": study.study_instance_uid,
        "dicomwebRoot": DICOMWEB_ROOT,
        # The shared review of a consult (issue 6) sets this; the viewer alone leaves it null.
        "consultId": None,
        "patient": {
            "name": _patient_name(study),
            "id": study.dicom_patient_id,
            "sex": _sex(study.patient_sex),
            "age": _age(study.patient_birth_date, study.study_date),
        },
        "study": {
            "date": day_text(study.study_date),
            "description": study.study_description,
        },
        "series": [_series_entry(study, s) for s in series],
        "labels": _labels(),
    }
