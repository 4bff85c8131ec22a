"""Compress the stored DICOM JSON with LZ4 instead of PostgreSQL's default pglz.

Each instance's metadata (about 11 kB of JSON for a small CT) is compressed when its row is
written and decompressed for every series metadata request: LZ4 does both several times faster
for the same size (0.06 against 0.21 ms a row to write here). Rows already stored keep pglz
until rewritten; a server built without LZ4 keeps its default.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

_SET = """
DO $$ BEGIN
    ALTER TABLE imaging_instance ALTER COLUMN metadata SET COMPRESSION {method};
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'metadata compression left as it was';
END $$
"""


def compression_lz4(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute(_SET.format(method="lz4"))


def compression_default(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute(_SET.format(method="DEFAULT"))


class Migration(migrations.Migration):
    dependencies = [("imaging", "0007_instance_lossy_frame")]

    operations = [migrations.RunPython(compression_lz4, compression_default)]
