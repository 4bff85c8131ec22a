"""Add Instance.dataset_sha256 and fill it in from the stored files."""

import logging

from django.apps.registry import Apps
from django.core.files.storage import default_storage
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# The backfill must compute exactly what ingest computes, so it uses the same pure function
# (imaging.dicom has no Django imports).
from imaging.dicom import dataset_sha256

logger = logging.getLogger(__name__)


def backfill(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    instance_model = apps.get_model("imaging", "Instance")
    rows = instance_model.objects.filter(dataset_sha256="").only("pk", "storage_name")
    for instance in rows.iterator(chunk_size=500):
        try:
            with default_storage.open(instance.storage_name, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            # Left empty: a re-send is then recognised by its whole-file hash only.
            logger.warning("Instance %s has no stored file; dataset_sha256 left empty", instance.pk)
            continue
        digest = dataset_sha256(data)
        instance_model.objects.filter(pk=instance.pk).update(dataset_sha256=digest)


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0003_series_previews"),
    ]

    operations = [
        migrations.AddField(
            model_name="instance",
            name="dataset_sha256",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
