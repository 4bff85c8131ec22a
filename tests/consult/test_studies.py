"""Archive studies attached to a consult: who may attach which study, matching, the page."""

import pytest
from django.test import Client
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.servicerequest import ServiceRequest

from consult.models import ConsultStudy, Status
from imaging.models import IngestSource, Study
from imaging.services import instance_ingest
from server.accounts.models import User
from server.audit.models import AuditEvent
from server.directory.models import Patient
from tests.conftest import World
from tests.consult.conftest import make_consult
from tests.factories import PASSWORD, PatientFactory
from tests.imaging.conftest import for_patient

pytestmark = pytest.mark.usefixtures("archive", "health_card")


@pytest.fixture
def health_card(world: World) -> None:
    world.patient.health_card_number = "HC-0001"
    world.patient.save(update_fields=["health_card_number"])


def _client(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _study(world: World, patient_id: str, uid: str, patient: Patient | None = None) -> Study:
    """A township CT carrying `patient_id`, with the demographics of `patient` (the world's)."""
    data = for_patient(
        "CT_small.dcm", patient or world.patient, PatientID=patient_id, StudyInstanceUID=uid
    )
    result = instance_ingest(
        data=data,
        source=IngestSource.STOW,
        institution=world.township,
        user=world.clinic_doctor,
    )
    assert result.ok, result.message
    return Study.objects.get(study_instance_uid=uid)


def _attach(client: Client, consult_id: int, uid: str) -> tuple[int, dict[str, object]]:
    response = client.post(
        f"/api/v1/consults/{consult_id}/studies/",
        {"study_instance_uid": uid},
        content_type="application/json",
        headers={"accept-language": "en"},
    )
    return response.status_code, response.json()


def test_the_requester_attaches_the_patients_study_and_the_specialist_sees_it(
    world: World,
) -> None:
    consult = make_consult(world, Status.ACCEPTED)
    study = _study(world, world.patient.health_card_number, "1.2.826.0.1.3680043.8.498.1")

    code, body = _attach(_client(world.clinic_doctor), consult.pk, study.study_instance_uid)

    assert code == 201, body
    assert body["study_instance_uid"] == study.study_instance_uid
    assert study.patient_id == world.patient.pk
    audit = AuditEvent.objects.get(event="consult.study_attach")
    assert audit.patient_id == world.patient.pk
    listed = _client(world.specialist).get(f"/api/v1/consults/{consult.pk}/studies/").json()
    assert [s["study_instance_uid"] for s in listed] == [study.study_instance_uid]
    again, _ = _attach(_client(world.clinic_doctor), consult.pk, study.study_instance_uid)
    assert again == 201
    assert ConsultStudy.objects.filter(consult=consult).count() == 1


def test_an_unmatched_study_of_the_clinic_is_matched_to_the_consults_patient(
    world: World,
) -> None:
    consult = make_consult(world, Status.SUBMITTED)
    study = _study(world, "NO-SUCH-CARD", "1.2.826.0.1.3680043.8.498.2")
    assert study.patient_id is None

    code, body = _attach(_client(world.clinic_doctor), consult.pk, study.study_instance_uid)

    assert code == 201, body
    study.refresh_from_db()
    assert study.patient_id == world.patient.pk
    assert AuditEvent.objects.get(event="consult.study_attach").detail["matched_to_patient"]
    # The match is imaging's, audited as a reconciliation is, naming the consult.
    link = AuditEvent.objects.get(event="imaging.study.link")
    assert (link.resource_id, link.patient_id) == (str(study.pk), world.patient.pk)
    assert link.detail == {"consult_id": consult.pk}


def test_another_patients_study_is_refused_by_name(world: World) -> None:
    consult = make_consult(world, Status.ACCEPTED)
    other = PatientFactory.create(
        consortium=world.patient.consortium,
        home_institution=world.township,
        health_card_number="HC-0002",
    )
    study = _study(world, other.health_card_number, "1.2.826.0.1.3680043.8.498.3", other)

    code, body = _attach(_client(world.clinic_doctor), consult.pk, study.study_instance_uid)

    assert code == 400
    assert body == {"study": ["This study belongs to another patient."]}
    assert not ConsultStudy.objects.exists()


def test_outsiders_get_404_and_a_closed_consult_takes_no_more_studies(world: World) -> None:
    study = _study(world, world.patient.health_card_number, "1.2.826.0.1.3680043.8.498.4")
    open_consult = make_consult(world, Status.ACCEPTED)
    code, _ = _attach(_client(world.other_clinic_doctor), open_consult.pk, "1.2.3")
    assert code == 404
    code, _ = _attach(_client(world.other_clinic_doctor), open_consult.pk, study.study_instance_uid)
    assert code == 404
    missing, _ = _attach(_client(world.clinic_doctor), open_consult.pk, "1.2.3.4.5")
    assert missing == 404

    closed = make_consult(world, Status.CLOSED)
    code, body = _attach(_client(world.clinic_doctor), closed.pk, study.study_instance_uid)
    assert code == 400
    assert "over" in str(body["study"])


def test_the_detail_page_lists_attachable_studies_and_attaches_one(world: World) -> None:
    consult = make_consult(world, Status.ACCEPTED)
    study = _study(world, world.patient.health_card_number, "1.2.826.0.1.3680043.8.498.5")
    client = _client(world.clinic_doctor)

    page = client.get(f"/consults/{consult.pk}/").content.decode()
    assert f'value="{study.study_instance_uid}"' in page

    response = client.post(
        f"/consults/{consult.pk}/act/attach_study/",
        {"study_instance_uid": study.study_instance_uid},
        follow=True,
    )
    page = response.content.decode()
    assert f"/imaging/studies/{study.study_instance_uid}/view/" in page
    assert f"/consults/{consult.pk}/images/upload/" in page
    assert ConsultStudy.objects.filter(consult=consult, study=study).exists()


def test_the_fhir_request_names_its_studies_as_supporting_information(world: World) -> None:
    consult = make_consult(world, Status.ACCEPTED)
    study = _study(world, "HC-0001", "1.2.826.0.1.3680043.8.498.6")
    client = _client(world.clinic_doctor)
    assert _attach(client, consult.pk, study.study_instance_uid)[0] == 201

    bundle = Bundle.model_validate(client.get(f"/api/v1/consults/{consult.pk}/fhir/").json())

    request = next(entry.resource for entry in bundle.entry or [])
    assert isinstance(request, ServiceRequest)
    [info] = request.supportingInfo or []
    assert info.type == "ImagingStudy"
    assert info.identifier is not None
    assert info.identifier.value == f"urn:oid:{study.study_instance_uid}"
