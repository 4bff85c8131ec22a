"""Record where each frame's bytes are in the stored file; index patient names by trigrams.

Rows stored before this migration keep `frame_fragments` empty: their frames are still cut from
the parsed file, as before. The trigram index lets PostgreSQL answer QIDO's PatientName
wildcards and case-insensitive matches (regular expressions) without reading every study.
"""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def trigram_index_create(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS imaging_study_patient_name_trgm "
        "ON imaging_study USING gin (patient_name gin_trgm_ops)"
    )


def trigram_index_drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute("DROP INDEX IF EXISTS imaging_study_patient_name_trgm")


class Migration(migrations.Migration):
    dependencies = [("imaging", "0005_upload")]

    operations = [
        migrations.AddField(
            model_name="instance",
            name="frame_fragments",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(trigram_index_create, trigram_index_drop),
    ]
