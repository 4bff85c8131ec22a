"""The grants of the open consults go to the people on them (issue 15): the directory's last
migration ended the grants to whole institutions; this one opens, for each consult still open,
a grant to each person `consult.selectors.consult_grant_holders` names, as its next move would.
"""

from datetime import timedelta

from django.apps.registry import Apps
from django.conf import settings
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

ENDED = ("draft", "closed", "cancelled", "expired", "entered_in_error")
AWAITING_ROUTING = ("submitted", "declined")


def open_grants_to_people(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    consults = apps.get_model("consult", "ConsultRequest").objects
    participants = apps.get_model("consult", "ConsultParticipant").objects
    practitioners = apps.get_model("directory", "Practitioner").objects
    departments = apps.get_model("directory", "Department").objects
    grants = apps.get_model("directory", "AccessGrant").objects
    now = timezone.now()
    ends_at = now + timedelta(days=settings.ACCESS_GRANT_DAYS)
    for consult in consults.exclude(status__in=ENDED).iterator():
        active = participants.filter(consult=consult, ended_at__isnull=True).values_list(
            "practitioner__user_id", "practitioner__institution_id", "practitioner__department_id"
        )
        holders = {user_id: institution_id for user_id, institution_id, _ in active}
        department_ids = {department for _, _, department in active}
        department_ids.add(consult.target_department_id)
        heads = departments.filter(pk__in=department_ids, head__isnull=False)
        holders.update(heads.values_list("head__user_id", "head__institution_id"))
        if (
            consult.status in AWAITING_ROUTING
            and consult.target_kind == "department"
            and consult.target_department_id is not None
        ):
            queue = practitioners.filter(
                is_active=True,
                department_id=consult.target_department_id,
                roles__role="specialist",
            )
            holders.update(queue.values_list("user_id", "institution_id"))
        if consult.status == "submitted" and consult.target_practitioner_id is not None:
            named = practitioners.filter(pk=consult.target_practitioner_id, is_active=True)
            holders.update(named.values_list("user_id", "institution_id"))
        for user_id, institution_id in holders.items():
            grants.update_or_create(
                source_type="consult",
                source_id=str(consult.pk),
                institution_id=institution_id,
                user_id=user_id,
                patient_id=consult.patient_id,
                defaults={"reason": f"Consult {consult.pk}", "starts_at": now, "ends_at": ends_at},
            )


class Migration(migrations.Migration):
    dependencies = [
        ("consult", "0006_review_presence_seen_at"),
        ("directory", "0006_grants_name_a_person_and_end"),
    ]

    operations = [migrations.RunPython(open_grants_to_people, migrations.RunPython.noop)]
