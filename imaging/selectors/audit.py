"""Studies named for the audit pages: date, modalities and description."""

from collections.abc import Collection

from django.utils.translation import pgettext

from imaging.models import Study


def studies_describe(study_ids: Collection[str]) -> dict[str, str]:
    """Each known study as "Study <date> <modalities> <description>", by its id as text."""
    ids = [int(i) for i in study_ids if i.isdigit()]
    described: dict[str, str] = {}
    for pk, study_date, modalities, description in Study.objects.filter(pk__in=ids).values_list(
        "pk", "study_date", "modalities_in_study", "study_description"
    ):
        parts = [
            study_date.isoformat() if study_date else "",
            modalities.replace("\\", "/"),
            description,
        ]
        words = " ".join(part for part in parts if part)
        described[str(pk)] = f"{pgettext('audit resource', 'Study')} {words}".strip()
    return described
