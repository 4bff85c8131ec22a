"""The demo images `make run` stores: real test images relabelled for a demo patient."""

import pytest
from django.core.management import call_command

from imaging.demo import DEMO_AE_TITLE, DEMO_PATIENT_CARD, DEMO_STUDIES
from imaging.models import CallingAETitle, Instance, Study
from server.directory.models import Patient

pytestmark = pytest.mark.usefixtures("archive")


@pytest.mark.django_db
def test_demo_images_are_stored_once_for_the_demo_patient() -> None:
    call_command("seed_demo")
    call_command("seed_demo_images")
    call_command("seed_demo_images")

    patient = Patient.objects.get(health_card_number=DEMO_PATIENT_CARD)
    studies = Study.objects.filter(patient=patient)
    assert studies.count() == len(DEMO_STUDIES)
    assert Instance.objects.filter(study__patient=patient).count() == len(DEMO_STUDIES)
    assert set(studies.values_list("patient_name", flat=True)) == {patient.name}
    ae = CallingAETitle.objects.get(ae_title=DEMO_AE_TITLE)
    assert ae.institution_id == patient.home_institution_id
