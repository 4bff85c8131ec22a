"""The server-rendered pages, through the test client, for each role of the shared world."""

from datetime import date

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from server.accounts.models import User
from server.audit.models import AuditEvent, AuditOutcome
from server.directory.models import DuplicateStatus, Patient, PatientDuplicate, Sex
from server.directory.services import access_grant_open, patient_register
from server.notifications.models import Notification, NotificationKind
from server.notifications.services import notification_send
from tests.conftest import World
from tests.factories import PASSWORD, PatientFactory, UserFactory

pytestmark = pytest.mark.usefixtures("built_assets")


def _template_names(response: object) -> list[str]:
    templates = getattr(response, "templates", [])
    return [template.name for template in templates if template.name]


def _duplicate_of_world_patient(world: World) -> PatientDuplicate:
    registration = patient_register(
        user=world.clinic_doctor,
        name=world.patient.name,
        sex=world.patient.sex,
        birth_date=world.patient.birth_date,
    )
    return registration.duplicates[0]


def _registration_form(**overrides: str) -> dict[str, str]:
    form = {
        "name": "李桂兰",
        "sex": Sex.FEMALE,
        "birth_date": "1961-09-02",
        "national_id": "11010519610902002X",
        "health_card_number": "HC-0001",
        "phone": "13800000000",
    }
    form.update(overrides)
    return form


# --- Sign-in ------------------------------------------------------------------------------------


def test_home_sends_anonymous_visitors_to_sign_in(client: Client, world: World) -> None:
    response = client.get(reverse("web:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_sign_in_with_password_lands_on_the_home_page(client: Client, world: World) -> None:
    response = client.post(
        reverse("accounts:login"), {"username": "clinic", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("web:home")
    assert "东乡卫生院" in response.content.decode()


def test_sign_in_page_shows_the_lock_out_message(client: Client, world: World) -> None:
    for _attempt in range(settings.LOGIN_FAILURE_LIMIT):
        response = client.post(
            reverse("accounts:login"), {"username": "clinic", "password": "wrong password"}
        )
    page = response.content.decode()
    assert response.status_code == 200
    assert "账号已被锁定" in page
    assert 'action="/i18n/setlang/"' in page


# --- Home pages by role -------------------------------------------------------------------------


def test_clinic_doctor_home_shows_institution_colleagues_and_patients(
    client: Client, world: World
) -> None:
    client.force_login(world.clinic_doctor)
    response = client.get(reverse("web:home"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "web/home/clinic_doctor.html" in _template_names(response)
    assert "东乡卫生院" in page
    assert "县医院" in page  # the parent institution
    assert world.patient.name in page
    assert world.institution_admin.practitioner.display_name in page  # a colleague
    assert reverse("web:patient_new") in page


def test_clinic_doctor_home_leaves_out_other_institutions_patients(
    client: Client, world: World
) -> None:
    PatientFactory.create(home_institution=world.other_township, name="赵大山")
    client.force_login(world.clinic_doctor)
    page = client.get(reverse("web:home")).content.decode()
    assert "赵大山" not in page


def test_specialist_home_shows_empty_state_until_a_patient_is_shared(
    client: Client, world: World
) -> None:
    client.force_login(world.specialist)
    response = client.get(reverse("web:home"))
    assert "web/home/specialist.html" in _template_names(response)
    assert "会诊申请到达后将显示在这里" in response.content.decode()

    access_grant_open(
        patient_id=world.patient.pk,
        institution_id=world.county.pk,
        user_id=world.specialist.pk,
        source_type="consult",
        source_id="1",
        reason="consult 1",
    )
    assert world.patient.name in client.get(reverse("web:home")).content.decode()


def test_coordinator_home_shows_consortium_tree_and_open_duplicates(
    client: Client, world: World
) -> None:
    _duplicate_of_world_patient(world)
    client.force_login(world.coordinator)
    response = client.get(reverse("web:home"))
    page = response.content.decode()
    assert "web/home/coordinator.html" in _template_names(response)
    for name in ("县医院", "东乡卫生院", "西乡卫生院"):
        assert name in page
    assert "外地卫生院" not in page
    assert response.context["open_duplicates"] == 1
    assert reverse("web:duplicates") in page


def test_institution_admin_home_shows_staff_and_latest_audit_events(
    client: Client, world: World
) -> None:
    client.force_login(world.clinic_doctor)
    client.get(reverse("web:patient_detail", args=[world.patient.pk]))
    client.force_login(world.institution_admin)
    response = client.get(reverse("web:home"))
    page = response.content.decode()
    assert "web/home/institution_admin.html" in _template_names(response)
    assert world.clinic_doctor.practitioner.display_name in page
    assert "查看患者档案" in page  # the event in words, no longer its code "patient.view"
    assert reverse("web:audit") in page


def test_user_without_practitioner_record_sees_the_unlinked_page(client: Client, db: None) -> None:
    client.force_login(UserFactory.create())
    response = client.get(reverse("web:home"))
    assert response.status_code == 403
    assert "您的账号尚未关联到医疗机构" in response.content.decode()


# --- Patients -----------------------------------------------------------------------------------


def test_patient_detail_shows_the_patient_to_home_institution_staff(
    client: Client, world: World
) -> None:
    client.force_login(world.clinic_doctor)
    response = client.get(reverse("web:patient_detail", args=[world.patient.pk]))
    assert response.status_code == 200
    assert world.patient.name in response.content.decode()


@pytest.mark.parametrize("outsider", ["other_clinic_doctor", "foreign_doctor"])
def test_patient_detail_is_404_for_outsiders(client: Client, world: World, outsider: str) -> None:
    client.force_login(getattr(world, outsider))
    response = client.get(reverse("web:patient_detail", args=[world.patient.pk]))
    assert response.status_code == 404
    assert "404.html" in _template_names(response)
    assert world.patient.name not in response.content.decode()


def test_patient_list_pages_by_25_and_searches_by_name(client: Client, world: World) -> None:
    for number in range(30):
        PatientFactory.create(home_institution=world.township, name=f"测试{number:02d}")
    client.force_login(world.clinic_doctor)

    first = client.get(reverse("web:patients"))
    second = client.get(reverse("web:patients"), {"page": 2})
    found = client.get(reverse("web:patients"), {"q": "王秀"})

    assert len(first.context["patients"]) == 25
    assert len(second.context["patients"]) == 6
    assert first.context["pager"].num_pages == 2
    assert [p.pk for p in found.context["patients"]] == [world.patient.pk]


def test_registration_creates_the_patient_and_opens_it(client: Client, world: World) -> None:
    client.force_login(world.clinic_doctor)
    response = client.post(reverse("web:patient_new"), _registration_form(), follow=True)
    patient = Patient.objects.get(name="李桂兰")
    assert response.redirect_chain[-1][0] == reverse("web:patient_detail", args=[patient.pk])
    assert patient.home_institution_id == world.township.pk
    assert patient.birth_date == date(1961, 9, 2)
    assert "患者登记成功" in response.content.decode()
    assert not PatientDuplicate.objects.filter(new_patient=patient).exists()


def test_registration_warns_about_a_possible_duplicate(client: Client, world: World) -> None:
    client.force_login(world.clinic_doctor)
    form = _registration_form(
        name=world.patient.name, sex=world.patient.sex, birth_date="1958-03-14", national_id=""
    )
    response = client.post(reverse("web:patient_new"), form, follow=True)
    new_patient = Patient.objects.filter(name=world.patient.name).latest("pk")
    duplicate = PatientDuplicate.objects.get(new_patient=new_patient)
    assert duplicate.existing_patient_id == world.patient.pk
    assert "协调员将审核" in response.content.decode()


def test_registration_rejects_a_malformed_national_id(client: Client, world: World) -> None:
    client.force_login(world.clinic_doctor)
    response = client.post(reverse("web:patient_new"), _registration_form(national_id="1101051961"))
    assert response.status_code == 200
    assert "身份证号由 18 位组成" in response.content.decode()
    assert not Patient.objects.filter(name="李桂兰").exists()


def test_registration_of_a_national_id_registered_elsewhere_names_no_record(
    client: Client, world: World
) -> None:
    client.force_login(world.clinic_doctor)
    client.post(reverse("web:patient_new"), _registration_form())
    existing = Patient.objects.get(name="李桂兰")
    client.force_login(world.other_clinic_doctor)
    response = client.post(reverse("web:patient_new"), _registration_form(name="李贵兰"))
    page = response.content.decode()
    assert response.status_code == 409
    assert "请联系医共体协调员" in page
    assert reverse("web:patient_detail", args=[existing.pk]) not in page
    assert world.township.name not in page
    assert Patient.objects.filter(name__in=["李桂兰", "李贵兰"]).count() == 1


@pytest.mark.parametrize(("viewer", "offered"), [("clinic_doctor", True), ("coordinator", False)])
def test_patient_page_offers_a_new_consult_to_who_may_request_one(
    client: Client, world: World, viewer: str, offered: bool
) -> None:
    client.force_login(getattr(world, viewer))
    response = client.get(reverse("web:patient_detail", args=[world.patient.pk]))
    link = f'href="{reverse("consults:new")}?patient={world.patient.pk}"'
    assert response.status_code == 200
    assert (link in response.content.decode()) is offered


def test_registration_is_refused_to_an_institution_admin(client: Client, world: World) -> None:
    client.force_login(world.institution_admin)
    response = client.get(reverse("web:patient_new"))
    assert response.status_code == 403
    assert "只有临床医生" in response.content.decode()


# --- Duplicate review ---------------------------------------------------------------------------


@pytest.mark.parametrize("reviewer", ["clinic_doctor", "specialist", "institution_admin"])
def test_duplicate_review_is_404_for_non_coordinators(
    client: Client, world: World, reviewer: str
) -> None:
    duplicate = _duplicate_of_world_patient(world)
    client.force_login(getattr(world, reviewer))
    assert client.get(reverse("web:duplicates")).status_code == 404
    resolve = reverse("web:duplicate_resolve", args=[duplicate.pk])
    assert client.post(resolve, {"decision": "merge"}).status_code == 404
    duplicate.refresh_from_db()
    assert duplicate.status == DuplicateStatus.OPEN


def test_coordinator_merges_a_duplicate(client: Client, world: World) -> None:
    duplicate = _duplicate_of_world_patient(world)
    client.force_login(world.coordinator)
    listing = client.get(reverse("web:duplicates")).content.decode()
    assert f'id="duplicate-{duplicate.pk}"' in listing

    resolve = reverse("web:duplicate_resolve", args=[duplicate.pk])
    response = client.post(resolve, {"decision": "merge"}, follow=True)

    duplicate.refresh_from_db()
    assert duplicate.status == DuplicateStatus.MERGED
    assert Patient.objects.get(pk=duplicate.new_patient_id).merged_into_id == world.patient.pk
    assert "记录已合并" in response.content.decode()
    assert f'id="duplicate-{duplicate.pk}"' not in response.content.decode()


def test_coordinator_keeps_both_records_of_different_people(client: Client, world: World) -> None:
    duplicate = _duplicate_of_world_patient(world)
    client.force_login(world.coordinator)
    resolve = reverse("web:duplicate_resolve", args=[duplicate.pk])
    client.post(resolve, {"decision": "dismiss"})
    duplicate.refresh_from_db()
    assert duplicate.status == DuplicateStatus.DISMISSED
    assert Patient.objects.get(pk=duplicate.new_patient_id).merged_into_id is None


# --- Audit trail --------------------------------------------------------------------------------


@pytest.mark.parametrize("viewer", ["clinic_doctor", "specialist", "coordinator"])
def test_audit_page_is_404_for_non_admins(client: Client, world: World, viewer: str) -> None:
    client.force_login(getattr(world, viewer))
    assert client.get(reverse("web:audit")).status_code == 404


def test_audit_page_lists_institution_events_and_filters_by_outcome(
    client: Client, world: World
) -> None:
    client.force_login(world.clinic_doctor)
    client.get(reverse("web:patient_detail", args=[world.patient.pk]))
    client.force_login(world.other_clinic_doctor)
    client.get(reverse("web:patient_detail", args=[world.patient.pk]))
    client.force_login(world.institution_admin)

    everything = client.get(reverse("web:audit"))
    denied = client.get(reverse("web:audit"), {"outcome": AuditOutcome.DENIED})

    # Rows name people instead of showing usernames (the context holds rows in words now).
    outcomes = {row.event.outcome for row in everything.context["rows"]}
    assert {AuditOutcome.SUCCESS, AuditOutcome.DENIED} <= outcomes
    denied_events: list[AuditEvent] = [row.event for row in denied.context["rows"]]
    assert [event.actor_username for event in denied_events] == ["other_clinic"]
    assert [row.who.name for row in denied.context["rows"]] == [
        world.other_clinic_doctor.practitioner.display_name
    ]
    assert "拒绝" in denied.content.decode()


# --- Notifications ------------------------------------------------------------------------------


def test_notifications_page_lists_translated_kinds_and_marks_all_read(
    client: Client, world: World
) -> None:
    notification_send(
        recipient_ids=[world.coordinator.pk], kind=NotificationKind.DUPLICATE_SUSPECTED
    )
    client.force_login(world.coordinator)
    page = client.get(reverse("web:notifications")).content.decode()
    assert 'data-unread="1"' in page
    assert "新登记的患者可能与已有患者重复" in page

    client.post(reverse("web:notifications_read"))

    assert not Notification.objects.filter(recipient=world.coordinator, read_at=None).exists()
    assert 'data-unread="0"' in client.get(reverse("web:notifications")).content.decode()


# --- Language -----------------------------------------------------------------------------------


def _signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def test_pages_are_in_chinese_by_default(client: Client, world: World) -> None:
    page = _signed_in(client, world.clinic_doctor).get(reverse("web:home")).content.decode()
    assert '<html lang="zh-Hans">' in page
    assert "东乡卫生院的患者" in page


def test_accept_language_english_gives_english_pages(client: Client, world: World) -> None:
    client.force_login(world.clinic_doctor)
    page = client.get(reverse("web:home"), headers={"accept-language": "en"}).content.decode()
    assert '<html lang="en">' in page
    assert "Patients of 东乡卫生院" in page


def test_language_switch_remembers_the_choice(client: Client, world: World) -> None:
    client.force_login(world.clinic_doctor)
    response = client.post(
        reverse("set_language"), {"language": "en", "next": reverse("web:home")}, follow=True
    )
    assert "Patients of 东乡卫生院" in response.content.decode()

    response = client.post(
        reverse("set_language"), {"language": "zh-hans", "next": reverse("web:home")}, follow=True
    )
    assert "东乡卫生院的患者" in response.content.decode()
