"""Shared review of a consult's study: joining and leaving, who leads, the saved annotations.

A review is one study of one consult looked at together: every participant present follows the
lead's view. The first to join leads; the lead hands over to someone present, and when the lead
leaves, the lead passes to whoever has been present longest. The lead's view and pointer pass
from socket to socket without touching the database (see consult/consumers.py); only presence,
the lead and annotations are stored.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from consult.audit import consult_audit
from consult.errors import ReviewRefused
from consult.events import (
    ReviewParticipant,
    ReviewState,
    SavedAnnotation,
    review_group,
)
from consult.models import (
    ConsultRequest,
    ConsultStudy,
    ReviewAnnotation,
    ReviewPresence,
    ReviewSession,
)
from consult.selectors import consult_facts, consult_get_for_user
from server.access import ConsultAction, NotFound, actor_for, consult_permits
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.directory.models import Practitioner
from server.lib.events import publish_on_commit

# Sockets ping every REVIEW_PING_SECONDS; one silent for REVIEW_PRESENCE_TIMEOUT belonged to a
# server process that died, and stops counting as present (so it cannot hold the lead).
REVIEW_PING_SECONDS = 20
REVIEW_PRESENCE_TIMEOUT = timedelta(seconds=3 * REVIEW_PING_SECONDS)


@dataclass(frozen=True)
class ReviewEntry:
    """What a participant gets on joining: the review now and its saved annotations."""

    session_id: int
    state: ReviewState
    annotations: list[SavedAnnotation]


def _consult_study(
    *, user: User | AnonymousUser, consult_id: int, study_instance_uid: str
) -> ConsultStudy | None:
    """The consult's study if the user may review it, else None."""
    consult = ConsultRequest.objects.filter(pk=consult_id).first()
    if consult is None or not consult_permits(
        actor_for(user), ConsultAction.REVIEW, consult_facts(consult=consult)
    ):
        return None
    return (
        ConsultStudy.objects.select_related("consult__patient", "study")
        .filter(consult=consult, study__study_instance_uid=study_instance_uid)
        .first()
    )


def review_study_for_user(
    *,
    user: User | AnonymousUser,
    consult_id: int,
    study_instance_uid: str,
    event: str = "consult.review_open",
) -> ConsultStudy:
    """The consult's study if the user may review it; the attempt is audited either way.

    Raises: NotFound for consults and studies that are missing, not attached or not theirs.
    """
    link = _consult_study(user=user, consult_id=consult_id, study_instance_uid=study_instance_uid)
    consult = (
        link.consult
        if link
        else ConsultRequest.objects.select_related("patient").filter(pk=consult_id).first()
    )
    consult_audit(
        user=user,
        action=AuditAction.READ,
        event=event,
        outcome=AuditOutcome.SUCCESS if link else AuditOutcome.DENIED,
        consult=consult,
        resource_id=consult_id,
        detail={"study_instance_uid": study_instance_uid},
    )
    if link is None:
        raise NotFound
    return link


def _lead_settled(session: ReviewSession) -> None:
    """Forget sockets gone silent; if the lead is no longer present, the participant present
    longest leads. The caller holds the session row's lock."""
    session.presences.filter(seen_at__lt=timezone.now() - REVIEW_PRESENCE_TIMEOUT).delete()
    present = session.presences.all()
    if session.lead_id is not None and present.filter(user_id=session.lead_id).exists():
        return
    longest = present.first()
    session.lead_id = longest.user_id if longest else None
    session.save(update_fields=["lead"])


def review_presence_touch(*, channel_name: str) -> None:
    """The socket pinged: it is still in its review."""
    ReviewPresence.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())


def review_state(*, session: ReviewSession) -> ReviewState:
    """Who is in the review, in the order they joined, and who leads."""
    user_ids = list(dict.fromkeys(session.presences.values_list("user_id", flat=True)))
    names = dict(
        Practitioner.objects.filter(user_id__in=user_ids).values_list("user_id", "display_name")
    )
    return ReviewState(
        consult_id=session.consult_id,
        study=session.study.study_instance_uid,
        lead_user_id=session.lead_id,
        participants=[ReviewParticipant(user_id=u, name=names.get(u, "")) for u in user_ids],
    )


def _saved(annotation: ReviewAnnotation) -> SavedAnnotation:
    return SavedAnnotation(
        annotation_uid=annotation.annotation_uid,
        series_instance_uid=annotation.series_instance_uid,
        sop_instance_uid=annotation.sop_instance_uid,
        tool=annotation.tool,
        data=annotation.data,
    )


def review_join(
    *, consult_id: int, study_instance_uid: str, user_id: int, channel_name: str
) -> ReviewEntry:
    """Enter the shared review of one of the consult's studies; every attempt is audited.

    Raises: NotFound when the user may not review the consult or the study is not attached.
    """
    user = User.objects.filter(pk=user_id, is_active=True).first()
    link = review_study_for_user(
        user=user or AnonymousUser(),
        consult_id=consult_id,
        study_instance_uid=study_instance_uid,
        event="consult.review_join",
    )
    assert user is not None  # the policy refuses anonymous users
    return _review_enter(link=link, user=user, channel_name=channel_name)


@transaction.atomic
def _review_enter(*, link: ConsultStudy, user: User, channel_name: str) -> ReviewEntry:
    ReviewSession.objects.bulk_create(
        [ReviewSession(consult_id=link.consult_id, study_id=link.study_id)],
        ignore_conflicts=True,
    )
    # The session row's lock orders joins, leaves and handovers, so there is one lead.
    session = (
        ReviewSession.objects.select_for_update()
        .select_related("study")
        .get(consult_id=link.consult_id, study_id=link.study_id)
    )
    ReviewPresence.objects.filter(channel_name=channel_name).delete()
    ReviewPresence.objects.create(session=session, user=user, channel_name=channel_name)
    _lead_settled(session)
    state = review_state(session=session)
    publish_on_commit(review_group(session.pk), state)
    annotations = ReviewAnnotation.objects.filter(consult_id=link.consult_id, study=link.study)
    return ReviewEntry(
        session_id=session.pk, state=state, annotations=[_saved(a) for a in annotations]
    )


@transaction.atomic
def review_leave(*, channel_name: str) -> None:
    """Leave the review this socket is in; a lead who leaves passes the lead on."""
    presence = ReviewPresence.objects.filter(channel_name=channel_name).first()
    if presence is None:
        return
    session = (
        ReviewSession.objects.select_for_update()
        .select_related("study")
        .get(pk=presence.session_id)
    )
    presence.delete()
    _lead_settled(session)
    publish_on_commit(review_group(session.pk), review_state(session=session))


@transaction.atomic
def review_handover(*, channel_name: str, to_user_id: int) -> None:
    """The lead passes the lead to another participant who is in the review.

    Raises: ReviewRefused when the sender does not lead or the other is not present.
    """
    presence = ReviewPresence.objects.filter(channel_name=channel_name).first()
    if presence is None:
        raise ReviewRefused("Join the review first.", field="review")
    session = (
        ReviewSession.objects.select_for_update()
        .select_related("study")
        .get(pk=presence.session_id)
    )
    _lead_settled(session)
    if session.lead_id != presence.user_id:
        raise ReviewRefused("Only the lead can hand the lead over.", field="lead")
    if not session.presences.filter(user_id=to_user_id).exists():
        raise ReviewRefused("That participant is not in the review.", field="to_user_id")
    session.lead_id = to_user_id
    session.save(update_fields=["lead"])
    publish_on_commit(review_group(session.pk), review_state(session=session))


# --- Annotations ------------------------------------------------------------------------------


def review_annotations_for_user(
    *, user: User, consult_id: int, study_instance_uid: str
) -> list[ReviewAnnotation]:
    """The annotations saved with the consult on one of its studies; the read is audited."""
    link = review_study_for_user(
        user=user,
        consult_id=consult_id,
        study_instance_uid=study_instance_uid,
        event="consult.review_annotations",
    )
    return list(ReviewAnnotation.objects.filter(consult_id=consult_id, study_id=link.study_id))


@transaction.atomic
def review_annotation_save(
    *, consult_id: int, actor_user: User, study_instance_uid: str, annotation: SavedAnnotation
) -> ReviewAnnotation:
    """Save a participant's annotation on the consult's study, replacing the one with its UID.

    Raises: NotFound when the user may not review the consult or the study is not attached.
    """
    link = _consult_study(
        user=actor_user, consult_id=consult_id, study_instance_uid=study_instance_uid
    )
    if link is None:
        raise NotFound
    actor = actor_for(actor_user)
    assert actor is not None  # consult_permits refuses anonymous users
    saved, created = ReviewAnnotation.objects.update_or_create(
        consult_id=consult_id,
        annotation_uid=annotation.annotation_uid,
        defaults={
            "study_id": link.study_id,
            "series_instance_uid": annotation.series_instance_uid,
            "sop_instance_uid": annotation.sop_instance_uid,
            "tool": annotation.tool,
            "data": annotation.data,
        },
        create_defaults={
            "study_id": link.study_id,
            "series_instance_uid": annotation.series_instance_uid,
            "sop_instance_uid": annotation.sop_instance_uid,
            "tool": annotation.tool,
            "data": annotation.data,
            "author_id": actor.practitioner_id,
        },
    )
    _audit_annotation(
        actor_user, link.consult, saved, AuditAction.CREATE if created else AuditAction.UPDATE
    )
    return saved


@transaction.atomic
def review_annotation_delete(*, consult_id: int, actor_user: User, annotation_uid: str) -> None:
    """Remove an annotation saved with the consult.

    Raises: NotFound when it is missing or the user may not review the consult.
    """
    consult = consult_get_for_user(
        user=actor_user, consult_id=consult_id, action=ConsultAction.REVIEW, audit=False
    )
    annotation = ReviewAnnotation.objects.filter(
        consult=consult, annotation_uid=annotation_uid
    ).first()
    if annotation is None:
        raise NotFound
    annotation.delete()
    _audit_annotation(actor_user, consult, annotation, AuditAction.DELETE)


def _audit_annotation(
    user: User, consult: ConsultRequest, annotation: ReviewAnnotation, action: AuditAction
) -> None:
    consult_audit(
        user=user,
        action=action,
        event="consult.review_annotation",
        consult=consult,
        resource_type="ReviewAnnotation",
        resource_id=annotation.annotation_uid,
        detail={
            "consult_id": consult.pk,
            "sop_instance_uid": annotation.sop_instance_uid,
            "tool": annotation.tool,
        },
    )
