"""Shared review of a consult's study: joining, the lead, annotations, and key images in the
signed opinion and its PDF."""

import hashlib
import io
import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from PIL import Image
from time_machine import TimeMachineFixture

from consult.errors import OpinionFrozen, ReviewRefused
from consult.lifecycle import NOT_IN_HAND
from consult.models import (
    ConsultParticipant,
    ConsultRequest,
    ConsultStudy,
    OpinionKeyImage,
    OpinionVersion,
    ReviewAnnotation,
    ReviewPresence,
    Status,
)
from consult.services import (
    consult_grants_sync,
    opinion_draft_save,
    opinion_sign,
    opinion_version_intact,
)
from consult.services.opinions import OpinionSections, opinion_canonical
from consult.services.review import (
    review_handover,
    review_join,
    review_leave,
    review_presence_touch,
)
from imaging.models import IngestSource, Study
from imaging.services import instance_ingest
from server.access import NotFound
from server.accounts.models import User
from server.audit.models import AuditAction, AuditEvent, AuditOutcome
from server.directory.services import access_grant_open
from tests.conftest import World
from tests.consult.conftest import add_specialist, make_consult, practitioner_of
from tests.factories import PASSWORD
from tests.imaging.conftest import for_patient

pytestmark = pytest.mark.usefixtures("archive")

STUDY_UID = "1.2.826.0.1.3680043.8.498.77"
SOP_UID = "1.2.826.0.1.3680043.8.498.77.1.1"
SERIES_UID = "1.2.826.0.1.3680043.8.498.77.1"
RGB = tuple[int, int, int]
# The colour the key image is drawn with, to find it again in the PDF's pixels.
ANNOTATION_RGB: RGB = (255, 200, 0)


def consult_with_study(world: World, status: Status = Status.UNDER_REVIEW) -> ConsultRequest:
    """A consult whose patient has a CT study in the archive, attached to the consult."""
    world.patient.health_card_number = "HC-0001"
    world.patient.save(update_fields=["health_card_number"])
    consult = make_consult(world, status)
    data = for_patient("CT_small.dcm", world.patient, StudyInstanceUID=STUDY_UID)
    result = instance_ingest(
        data=data,
        source=IngestSource.STOW,
        institution=world.township,
        user=world.clinic_doctor,
    )
    assert result.ok, result.message
    ConsultStudy.objects.create(
        consult=consult,
        study=Study.objects.get(study_instance_uid=STUDY_UID),
        attached_by=practitioner_of(world.clinic_doctor),
    )
    if status not in NOT_IN_HAND:
        # As assigning the consult does: the county hospital may see the patient and images.
        access_grant_open(
            patient_id=world.patient.pk,
            institution_id=world.county.pk,
            user_id=world.specialist.pk,
            source_type="consult",
            source_id=str(consult.pk),
            reason=f"Consult {consult.pk}",
        )
    return consult


def key_image_png(size: tuple[int, int] = (64, 48)) -> bytes:
    """A grey 'image' with a yellow annotation line across it."""
    image = Image.new("RGB", size, (40, 40, 40))
    for x in range(size[0]):
        image.putpixel((x, size[1] // 2), ANNOTATION_RGB)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def client_of(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _join(consult: ConsultRequest, user: User, channel: str) -> int | None:
    entry = review_join(
        consult_id=consult.pk, study_instance_uid=STUDY_UID, user_id=user.pk, channel_name=channel
    )
    return entry.state.lead_user_id


# --- Joining and the lead --------------------------------------------------------------------


def test_first_to_join_leads_and_every_join_is_audited_with_the_patient(world: World) -> None:
    consult = consult_with_study(world)

    assert _join(consult, world.specialist, "c.1") == world.specialist.pk
    entry = review_join(
        consult_id=consult.pk,
        study_instance_uid=STUDY_UID,
        user_id=world.clinic_doctor.pk,
        channel_name="c.2",
    )

    assert entry.state.lead_user_id == world.specialist.pk
    assert [p.user_id for p in entry.state.participants] == [
        world.specialist.pk,
        world.clinic_doctor.pk,
    ]
    joins = AuditEvent.objects.filter(event="consult.review_join", outcome=AuditOutcome.SUCCESS)
    assert joins.count() == 2
    assert set(joins.values_list("patient_id", flat=True)) == {world.patient.pk}
    assert joins.first().detail == {"study_instance_uid": STUDY_UID}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "who", ["coordinator", "other_clinic_doctor", "institution_admin", "foreign_doctor"]
)
def test_only_participants_join_and_refusals_are_audited(world: World, who: str) -> None:
    consult = consult_with_study(world)
    outsider: User = getattr(world, who)

    with pytest.raises(NotFound):
        _join(consult, outsider, "c.1")

    denied = AuditEvent.objects.get(event="consult.review_join", outcome=AuditOutcome.DENIED)
    assert denied.actor_id == outsider.pk
    assert denied.patient_id == world.patient.pk
    assert not ReviewPresence.objects.exists()


def test_a_study_not_attached_to_the_consult_cannot_be_reviewed_in_it(world: World) -> None:
    consult = consult_with_study(world)
    other = make_consult(world, Status.UNDER_REVIEW)

    with pytest.raises(NotFound):
        _join(other, world.specialist, "c.1")
    with pytest.raises(NotFound):
        review_join(
            consult_id=consult.pk,
            study_instance_uid="1.2.3",
            user_id=world.specialist.pk,
            channel_name="c.1",
        )


@pytest.mark.parametrize(
    "status", [Status.CLOSED, Status.CANCELLED, Status.EXPIRED, Status.ENTERED_IN_ERROR]
)
def test_a_consult_that_is_over_has_no_review(world: World, status: Status) -> None:
    consult = consult_with_study(world, status)
    with pytest.raises(NotFound):
        _join(consult, world.clinic_doctor, "c.1")


def test_the_lead_hands_over_only_to_someone_present_and_only_the_lead_may(
    world: World,
) -> None:
    consult = consult_with_study(world)
    _join(consult, world.specialist, "c.lead")
    _join(consult, world.clinic_doctor, "c.follower")

    with pytest.raises(ReviewRefused):
        review_handover(channel_name="c.follower", to_user_id=world.clinic_doctor.pk)
    with pytest.raises(ReviewRefused):
        review_handover(channel_name="c.lead", to_user_id=world.coordinator.pk)
    review_handover(channel_name="c.lead", to_user_id=world.clinic_doctor.pk)

    assert consult.review_sessions.get().lead_id == world.clinic_doctor.pk


def test_a_lead_who_leaves_passes_the_lead_to_whoever_was_there_longest(world: World) -> None:
    consult = consult_with_study(world)
    member = add_specialist(world, "member")
    ConsultParticipant.objects.create(consult=consult, practitioner=member)
    consult_grants_sync(consult=consult)  # as assigning them would
    _join(consult, world.specialist, "c.lead")
    _join(consult, world.clinic_doctor, "c.first")
    _join(consult, member.user, "c.second")

    review_leave(channel_name="c.lead")
    assert consult.review_sessions.get().lead_id == world.clinic_doctor.pk
    review_leave(channel_name="c.first")
    review_leave(channel_name="c.second")
    assert consult.review_sessions.get().lead_id is None
    # The next to come back finds nobody leading and leads.
    assert _join(consult, world.specialist, "c.again") == world.specialist.pk


def test_a_lead_with_a_second_tab_open_keeps_the_lead_when_one_closes(world: World) -> None:
    consult = consult_with_study(world)
    _join(consult, world.specialist, "c.tab1")
    _join(consult, world.specialist, "c.tab2")
    _join(consult, world.clinic_doctor, "c.other")

    review_leave(channel_name="c.tab1")

    assert consult.review_sessions.get().lead_id == world.specialist.pk


def test_a_lead_whose_server_died_stops_leading_once_silent_while_pings_keep_others_present(
    world: World, time_machine: TimeMachineFixture
) -> None:
    consult = consult_with_study(world)
    member = add_specialist(world, "member")
    ConsultParticipant.objects.create(consult=consult, practitioner=member)
    consult_grants_sync(consult=consult)  # as assigning them would
    time_machine.move_to(timezone.now(), tick=False)
    # The lead's daphne process dies: no leave ever arrives for its socket.
    _join(consult, world.specialist, "c.crashed")
    _join(consult, world.clinic_doctor, "c.alive")
    time_machine.shift(timedelta(seconds=40))
    review_presence_touch(channel_name="c.alive")
    time_machine.shift(timedelta(seconds=40))

    assert _join(consult, member.user, "c.new") == world.clinic_doctor.pk
    assert not ReviewPresence.objects.filter(channel_name="c.crashed").exists()
    review_handover(channel_name="c.alive", to_user_id=member.user.pk)
    assert consult.review_sessions.get().lead_id == member.user.pk


# --- Annotations ------------------------------------------------------------------------------

ANNOTATION: dict[str, object] = {
    "study_instance_uid": STUDY_UID,
    "series_instance_uid": SERIES_UID,
    "sop_instance_uid": SOP_UID,
    "tool": "Length",
    "annotation": {"handles": {"points": [[1, 2, 0], [30, 40, 0]]}, "label": "12.3 mm"},
}
ANNOTATION_UID = "2f1c8e7a-4a8b-4a5e-9d1f-0c6c1d2e3f40"


def _put(client: Client, consult: ConsultRequest, body: dict[str, object], uid: str) -> Any:
    return client.put(
        f"/api/v1/consults/{consult.pk}/annotations/{uid}/",
        json.dumps(body),
        content_type="application/json",
    )


def test_annotations_are_saved_with_the_consult_replaced_by_uid_listed_and_deleted(
    world: World,
) -> None:
    consult = consult_with_study(world)
    specialist = client_of(world.specialist)

    created = _put(specialist, consult, ANNOTATION, ANNOTATION_UID)
    moved = {**ANNOTATION, "annotation": {"handles": {"points": [[5, 5, 0], [9, 9, 0]]}}}
    updated = _put(client_of(world.clinic_doctor), consult, moved, ANNOTATION_UID)

    assert created.status_code == 200, created.json()
    assert updated.status_code == 200
    saved = ReviewAnnotation.objects.get()
    assert saved.data == moved["annotation"]
    assert saved.author == practitioner_of(world.specialist)
    listed = specialist.get(f"/api/v1/consults/{consult.pk}/annotations/?study={STUDY_UID}")
    assert [a["annotation_uid"] for a in listed.json()] == [ANNOTATION_UID]
    assert listed.json()[0]["annotation"] == moved["annotation"]
    # The annotations come with the join, for whoever opens the review later.
    entry = review_join(
        consult_id=consult.pk,
        study_instance_uid=STUDY_UID,
        user_id=world.clinic_doctor.pk,
        channel_name="c.1",
    )
    assert [a.annotation_uid for a in entry.annotations] == [ANNOTATION_UID]
    gone = specialist.delete(f"/api/v1/consults/{consult.pk}/annotations/{ANNOTATION_UID}/")
    assert gone.status_code == 204
    assert not ReviewAnnotation.objects.exists()
    writes = AuditEvent.objects.filter(event="consult.review_annotation")
    assert list(writes.order_by("seq").values_list("action", flat=True)) == ["C", "U", "D"]
    assert set(writes.values_list("patient_id", flat=True)) == {world.patient.pk}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tool": "Length; DROP"}, "tool"),
        ({"sop_instance_uid": "not-a-uid"}, "sop_instance_uid"),
        ({"annotation": {"text": "x" * 40_000}}, "annotation"),
        ({"annotation": {"label": "a\x00b"}}, "annotation"),
        ({"annotation": {"k\x00": [1]}}, "annotation"),
    ],
)
def test_annotations_of_the_wrong_shape_or_size_are_refused_by_field(
    world: World, change: dict[str, object], field: str
) -> None:
    consult = consult_with_study(world)
    response = _put(client_of(world.specialist), consult, {**ANNOTATION, **change}, "a-1")
    assert response.status_code == 400
    assert field in response.json()
    assert not ReviewAnnotation.objects.exists()


def test_outsiders_neither_read_nor_write_annotations(world: World) -> None:
    consult = consult_with_study(world)
    _put(client_of(world.specialist), consult, ANNOTATION, ANNOTATION_UID)
    outsider = client_of(world.other_clinic_doctor)

    listed = outsider.get(f"/api/v1/consults/{consult.pk}/annotations/?study={STUDY_UID}")
    written = _put(outsider, consult, ANNOTATION, "a-2")
    deleted = outsider.delete(f"/api/v1/consults/{consult.pk}/annotations/{ANNOTATION_UID}/")

    assert (listed.status_code, written.status_code, deleted.status_code) == (404, 404, 404)
    assert ReviewAnnotation.objects.count() == 1
    assert AuditEvent.objects.filter(
        event="consult.review_annotations", outcome=AuditOutcome.DENIED
    ).exists()


# --- Key images -------------------------------------------------------------------------------


def _add_key_image(
    client: Client, consult: ConsultRequest, png: bytes, caption: str = "右下肺结节"
) -> Any:
    return client.post(
        f"/api/v1/consults/{consult.pk}/opinion/key-images/",
        {
            "image": SimpleUploadedFile("key.png", png, content_type="image/png"),
            "study_instance_uid": STUDY_UID,
            "sop_instance_uid": SOP_UID,
            "caption": caption,
        },
    )


def test_the_signer_adds_a_key_image_to_the_draft_and_it_is_audited(world: World) -> None:
    consult = consult_with_study(world)
    png = key_image_png()

    response = _add_key_image(client_of(world.specialist), consult, png)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["width"], body["height"], body["sha256"]) == (
        64,
        48,
        hashlib.sha256(png).hexdigest(),
    )
    key_image = OpinionKeyImage.objects.get()
    assert key_image.version.signed_at is None
    assert key_image.file.read() == png
    audit = AuditEvent.objects.get(event="consult.opinion_key_image")
    assert audit.patient_id == world.patient.pk
    shown = client_of(world.specialist).get(
        f"/api/v1/consults/{consult.pk}/opinion/key-images/{key_image.pk}/"
    )
    assert shown.status_code == 200
    assert shown.content == png


@pytest.mark.parametrize(
    ("png", "words"),
    [
        (b"GIF89a" + b"\0" * 100, "must be a PNG"),
        (key_image_png()[:60], "damaged"),
        (b"", "空文件"),  # DRF's own refusal, in the default language
        (key_image_png((5000, 10)), "4096"),
    ],
)
def test_a_key_image_that_is_not_a_sound_png_is_refused(
    world: World, png: bytes, words: str
) -> None:
    consult = consult_with_study(world)
    response = _add_key_image(client_of(world.specialist), consult, png)
    assert response.status_code == 400
    assert words in json.dumps(response.json(), ensure_ascii=False)
    assert not OpinionKeyImage.objects.exists()


def test_an_oversized_key_image_is_refused_by_its_size(world: World) -> None:
    consult = consult_with_study(world)
    huge = key_image_png() + b"\0" * (8 * 1024 * 1024)
    response = _add_key_image(client_of(world.specialist), consult, huge)
    assert response.status_code == 400
    assert "bytes" in json.dumps(response.json())


def test_the_requester_and_outsiders_add_no_key_images(world: World) -> None:
    consult = consult_with_study(world)
    for user in (world.clinic_doctor, world.other_clinic_doctor):
        response = _add_key_image(client_of(user), consult, key_image_png())
        assert response.status_code == 404
    assert not OpinionKeyImage.objects.exists()


def _sign(world: World, consult: ConsultRequest) -> OpinionVersion:
    opinion_draft_save(
        consult_id=consult.pk,
        actor_user=world.specialist,
        sections=OpinionSections(
            findings="右下肺见结节影",
            impression="右下肺结节考虑炎性",
            recommendations="抗感染治疗后复查",
            referral_advised=False,
            follow_up_advice="两周后复查胸部CT",
        ),
    )
    return opinion_sign(consult_id=consult.pk, actor_user=world.specialist, password=PASSWORD)


def test_the_signed_hash_covers_the_key_images_and_they_are_then_frozen(world: World) -> None:
    consult = consult_with_study(world)
    _add_key_image(client_of(world.specialist), consult, key_image_png())

    version = _sign(world, consult)

    content = json.loads(opinion_canonical(version))
    key_image = OpinionKeyImage.objects.get()
    assert content["key_images"] == [
        {"sop_instance_uid": SOP_UID, "caption": "右下肺结节", "sha256": key_image.sha256}
    ]
    assert opinion_version_intact(version)
    removed = client_of(world.specialist).delete(
        f"/api/v1/consults/{consult.pk}/opinion/key-images/{key_image.pk}/"
    )
    assert removed.status_code == 404
    # A key image swapped behind the signature's back breaks the hash.
    OpinionKeyImage.objects.filter(pk=key_image.pk).update(sha256="0" * 64)
    assert not opinion_version_intact(version)
    # Adding one now needs an amendment, started by the signer with a reason.
    with pytest.raises(OpinionFrozen):
        opinion_draft_save(
            consult_id=consult.pk,
            actor_user=world.specialist,
            sections=OpinionSections("", "x", "", False, ""),
        )


def test_a_version_without_key_images_hashes_as_before_key_images_existed(
    world: World,
) -> None:
    consult = consult_with_study(world)
    version = _sign(world, consult)
    assert "key_images" not in json.loads(opinion_canonical(version))


def test_an_amendment_starts_with_the_key_images_of_the_version_it_amends(world: World) -> None:
    consult = consult_with_study(world)
    _add_key_image(client_of(world.specialist), consult, key_image_png())
    signed = _sign(world, consult)

    draft = opinion_draft_save(
        consult_id=consult.pk,
        actor_user=world.specialist,
        sections=OpinionSections("", "右下肺结节考虑炎性", "", False, ""),
        amendment_reason="补充关键图像说明",
    )

    assert [k.sha256 for k in draft.key_images.all()] == [k.sha256 for k in signed.key_images.all()]
    assert draft.key_images.get().file.name == signed.key_images.get().file.name


def test_a_draft_key_image_is_removed_and_hidden_from_those_who_do_not_write(
    world: World,
) -> None:
    consult = consult_with_study(world)
    response = _add_key_image(client_of(world.specialist), consult, key_image_png())
    key_image_id = response.json()["id"]
    url = f"/api/v1/consults/{consult.pk}/opinion/key-images/{key_image_id}/"

    assert client_of(world.clinic_doctor).get(url).status_code == 404
    assert client_of(world.specialist).delete(url).status_code == 204
    assert not OpinionKeyImage.objects.exists()


def _pdf(world: World, consult: ConsultRequest, path: Path) -> Path:
    response = client_of(world.clinic_doctor).get(f"/api/v1/consults/{consult.pk}/opinion/pdf/")
    assert response.status_code == 200
    path.write_bytes(response.content)
    return path


def test_the_signed_opinion_pdf_and_page_show_the_key_image(world: World, tmp_path: Path) -> None:
    consult = consult_with_study(world)
    _add_key_image(client_of(world.specialist), consult, key_image_png((320, 240)))
    _sign(world, consult)

    pdf = _pdf(world, consult, tmp_path / "opinion.pdf")

    pdfimages = shutil.which("pdfimages")
    assert pdfimages, "pdfimages is missing: install Debian's poppler-utils (make services does)"
    listing = subprocess.run(
        [pdfimages, "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert [row.split()[3:5] for row in listing] == [["320", "240"]]
    subprocess.run([pdfimages, "-png", str(pdf), str(tmp_path / "img")], check=True)
    with Image.open(tmp_path / "img-000.png") as embedded:
        colours = cast("list[tuple[int, RGB]]", embedded.convert("RGB").getcolors(1 << 16))
    assert ANNOTATION_RGB in {rgb for _, rgb in colours}
    page = client_of(world.clinic_doctor).get(f"/consults/{consult.pk}/opinion/").content.decode()
    key_image = OpinionKeyImage.objects.get()
    assert f"/api/v1/consults/{consult.pk}/opinion/key-images/{key_image.pk}/" in page
    assert "右下肺结节" in page


# --- The review page --------------------------------------------------------------------------


def test_participants_open_the_review_page_from_the_consult_and_outsiders_get_404(
    world: World,
) -> None:
    consult = consult_with_study(world)
    url = f"/consults/{consult.pk}/studies/{STUDY_UID}/review/"
    detail = client_of(world.specialist).get(f"/consults/{consult.pk}/").content.decode()
    assert url in detail

    page = client_of(world.specialist).get(url)

    assert page.status_code == 200
    review = page.context["review"]
    assert review["socketPath"] == f"/ws/consults/{consult.pk}/"
    assert review["keyImagesUrl"] == f"/api/v1/consults/{consult.pk}/opinion/key-images/"
    assert page.context["config"]["consultId"] == consult.pk
    assert 'id="review-config"' in page.content.decode()
    # The requester reviews too, but adds no key images to the specialist's opinion.
    requester = client_of(world.clinic_doctor).get(url)
    assert requester.context["review"]["keyImagesUrl"] is None
    assert client_of(world.coordinator).get(url).status_code == 404
    assert client_of(world.other_clinic_doctor).get(url).status_code == 404
    opened = AuditEvent.objects.filter(event="consult.review_open")
    assert sorted(opened.values_list("outcome", flat=True)) == ["0", "0", "4", "4"]


def test_the_signer_removes_a_key_image_in_the_opinion_editor_and_it_is_audited(
    world: World,
) -> None:
    consult = consult_with_study(world)
    _add_key_image(client_of(world.specialist), consult, key_image_png())
    key_image = OpinionKeyImage.objects.get()
    signer = client_of(world.specialist)
    editor = signer.get(f"/consults/{consult.pk}/opinion/edit/")
    remove_url = f"/consults/{consult.pk}/opinion/key-images/{key_image.pk}/remove/"
    assert remove_url in editor.content.decode()

    # The requester may not; the image stays.
    refused = client_of(world.clinic_doctor).post(remove_url)
    assert refused.status_code == 404
    assert OpinionKeyImage.objects.filter(pk=key_image.pk).exists()

    removed = signer.post(remove_url)

    assert removed.status_code == 302
    assert removed["Location"] == f"/consults/{consult.pk}/opinion/edit/"
    assert not OpinionKeyImage.objects.exists()
    audit = AuditEvent.objects.get(event="consult.opinion_key_image", action=AuditAction.DELETE)
    assert audit.actor_id == world.specialist.pk
    assert audit.resource_id == key_image.sha256


def test_a_signed_versions_key_image_cannot_be_removed_in_the_editor(world: World) -> None:
    consult = consult_with_study(world)
    _add_key_image(client_of(world.specialist), consult, key_image_png())
    _sign(world, consult)
    key_image = OpinionKeyImage.objects.get()

    response = client_of(world.specialist).post(
        f"/consults/{consult.pk}/opinion/key-images/{key_image.pk}/remove/"
    )

    assert response.status_code == 404
    assert OpinionKeyImage.objects.filter(pk=key_image.pk).exists()


def test_a_blank_key_image_is_refused(world: World) -> None:
    # A render that failed is one flat colour: black, the canvas before anything was drawn.
    consult = consult_with_study(world)
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (0, 0, 0)).save(out, format="PNG")

    response = _add_key_image(client_of(world.specialist), consult, out.getvalue())

    assert response.status_code == 400
    assert "image" in response.json()
    assert not OpinionKeyImage.objects.exists()


@pytest.mark.parametrize("displayed", ["preview", "failed"])
def test_a_key_image_of_anything_but_the_diagnostic_render_is_refused(
    world: World, displayed: str
) -> None:
    consult = consult_with_study(world)
    response = client_of(world.specialist).post(
        f"/api/v1/consults/{consult.pk}/opinion/key-images/",
        {
            "image": SimpleUploadedFile("key.png", key_image_png(), content_type="image/png"),
            "study_instance_uid": STUDY_UID,
            "sop_instance_uid": SOP_UID,
            "displayed": displayed,
        },
    )
    assert response.status_code == 400
    assert "image" in response.json()
    assert not OpinionKeyImage.objects.exists()
