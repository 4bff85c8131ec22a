"""One current record per national ID number in a consortium (0003 merged the old pairs).

Its own migration: PostgreSQL will not build the index in the transaction that updated the
rows (pending trigger events).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("directory", "0003_merge_same_national_id")]

    operations = [
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                condition=models.Q(("national_id_hash", ""), _negated=True)
                & models.Q(("merged_into__isnull", True)),
                fields=("consortium", "national_id_hash"),
                name="patient_unique_national_id",
            ),
        ),
    ]
