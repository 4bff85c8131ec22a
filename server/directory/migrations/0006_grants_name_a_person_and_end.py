"""Every grant ends, and names one person (issue 15).

Active rows naming no person gave a whole institution the patient: they end now (the consult
app's next migration opens a grant for each person on the still open consults instead). Rows
naming a person without an end end ACCESS_GRANT_DAYS from now."""

from datetime import timedelta

from django.apps.registry import Apps
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import Q
from django.utils import timezone

import server.directory.models


def end_every_grant(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    grants = apps.get_model("directory", "AccessGrant").objects
    now = timezone.now()
    grants.filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now), user__isnull=True).update(
        ends_at=now
    )
    grants.filter(ends_at__isnull=True).update(
        ends_at=now + timedelta(days=settings.ACCESS_GRANT_DAYS)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0005_accessgrant_user"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(end_every_grant, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="accessgrant",
            name="ends_at",
            field=models.DateTimeField(default=server.directory.models.access_grant_default_end),
        ),
        migrations.AddIndex(
            model_name="accessgrant",
            index=models.Index(fields=["user", "patient"], name="directory_a_user_id_fb9076_idx"),
        ),
    ]
