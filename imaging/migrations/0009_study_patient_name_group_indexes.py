"""Index each component group of the patient name, upper-cased, for prefix matching.

A QIDO PatientName such as `WANG^XIAO*` (the way a search box asks) matches a study only if
one of its name's component groups (alphabetic, ideographic, phonetic: PS3.5 6.2.1 allows
three) starts with `WANG^XIAO`. These three indexes answer that as index range scans; the
trigram index could not, because every name shares most of its trigrams with thousands of
others (9 ms against 0.1 ms for 10,000 studies).
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

GROUPS = (1, 2, 3)


def group_indexes_create(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for group in GROUPS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS imaging_study_patient_name_group{group} ON imaging_study "
            f"((split_part(upper(patient_name), '=', {group})) text_pattern_ops)"
        )


def group_indexes_drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for group in GROUPS:
        schema_editor.execute(f"DROP INDEX IF EXISTS imaging_study_patient_name_group{group}")


class Migration(migrations.Migration):
    dependencies = [("imaging", "0008_instance_metadata_lz4")]

    operations = [migrations.RunPython(group_indexes_create, group_indexes_drop)]
