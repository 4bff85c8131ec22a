"""What a registered calling AE title may find, retrieve and add to: its institution's view."""

import pytest

from imaging.dicom import FailureReason
from imaging.models import CallingAETitle, IngestSource, Study
from imaging.qido import Level, query_parse
from imaging.selectors import calling_ae_get, dimse_search, instances_for_retrieve
from imaging.services import IngestResult, instance_ingest
from server.access import actor_for, institution_actor
from server.directory.models import AccessGrant, Institution
from tests.conftest import World
from tests.imaging.conftest import dataset_bytes, dicom_dataset, for_patient, with_patient_id

pytestmark = pytest.mark.usefixtures("archive")
CARD = "HC-0007"


def _store(institution: Institution, data: bytes) -> IngestResult:
    return instance_ingest(data=data, source=IngestSource.DIMSE, institution=institution, user=None)


@pytest.fixture
def stored(world: World) -> World:
    """The township's modality stored one study of its patient and one that matches nobody."""
    world.patient.health_card_number = CARD
    world.patient.save()
    assert _store(world.township, for_patient("CT_small.dcm", world.patient)).ok
    assert _store(world.township, with_patient_id("MR_small.dcm", "NOBODY")).ok
    return world


def _found(institution: Institution) -> set[str]:
    query = query_parse(Level.STUDY, [])
    rows = dimse_search(actor=institution_actor(institution), query=query)
    return {row.study_instance_uid for row in rows if isinstance(row, Study)}


def test_calling_ae_get_knows_only_active_registered_titles(world: World) -> None:
    CallingAETitle.objects.create(ae_title="EAST_CT", institution=world.township)
    CallingAETitle.objects.create(ae_title="OLD_CR", institution=world.township, active=False)

    found = calling_ae_get(ae_title="EAST_CT ")
    assert found is not None
    assert found.institution == world.township
    assert calling_ae_get(ae_title="OLD_CR") is None
    assert calling_ae_get(ae_title="NOBODY") is None


def test_institution_sees_its_studies_but_never_a_coordinators_view(stored: World) -> None:
    everything = set(Study.objects.values_list("study_instance_uid", flat=True))
    assert _found(stored.township) == everything
    # The county hospital employs the coordinator, yet its modalities have no role.
    assert _found(stored.county) == set()
    assert _found(stored.other_township) == set()


def test_an_access_grant_opens_the_patients_studies_to_its_holder_not_the_institution(
    stored: World,
) -> None:
    """A grant names a person (the minimum necessary): the granted hospital's modalities, acting
    for the whole institution, see nothing of the patient; the person the grant names finds and
    retrieves their studies."""
    AccessGrant.objects.create(
        patient=stored.patient,
        institution=stored.county,
        user=stored.specialist,
        source_type="consult",
        source_id="1",
        reason="consult 1",
    )
    ct = dicom_dataset("CT_small.dcm")
    assert _found(stored.county) == set()
    holder = actor_for(stored.specialist)
    assert holder is not None
    query = query_parse(Level.STUDY, [])
    found = dimse_search(actor=holder, query=query)
    assert {row.study_instance_uid for row in found if isinstance(row, Study)} == {
        ct.StudyInstanceUID
    }

    study_uids = [ct.StudyInstanceUID, dicom_dataset("MR_small.dcm").StudyInstanceUID]
    retrieval = instances_for_retrieve(actor=holder, study_uids=study_uids)
    assert [i.sop_instance_uid for i in retrieval.instances] == [ct.SOPInstanceUID]
    assert [s.dicom_patient_id for s in retrieval.denied] == ["NOBODY"]
    modality = instances_for_retrieve(actor=institution_actor(stored.county), study_uids=study_uids)
    assert modality.instances == []


def test_a_modality_may_not_add_to_a_study_its_institution_cannot_see(stored: World) -> None:
    ds = dicom_dataset("CT_small.dcm")
    ds.PatientID = CARD
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".1"
    result = _store(stored.other_township, dataset_bytes(ds))
    assert result.failure_reason is FailureReason.NOT_AUTHORIZED
    assert _store(stored.township, dataset_bytes(ds)).ok
