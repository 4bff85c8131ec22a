"""Opinion reads: a consult's signed versions, draft and contributions, and its key images."""

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser

from consult.models import ConsultRequest, OpinionContribution, OpinionKeyImage, OpinionVersion
from consult.selectors.visibility import consult_facts, consult_get_for_user
from server.access import ConsultAction, NotFound, actor_for, consult_permits
from server.accounts.models import User


@dataclass(frozen=True)
class OpinionState:
    """The signed versions of a consult's opinion, oldest first, and the open draft."""

    signed: list[OpinionVersion]
    draft: OpinionVersion | None
    contributions: list[OpinionContribution]

    @property
    def current(self) -> OpinionVersion | None:
        return self.signed[-1] if self.signed else None


def consult_opinion_state(*, consult: ConsultRequest) -> OpinionState:
    """The opinion of a consult the caller has already been allowed to see."""
    versions = list(
        OpinionVersion.objects.filter(opinion__consult=consult)
        .select_related("signed_by", "edited_by")
        .order_by("number")
    )
    return OpinionState(
        signed=[v for v in versions if v.is_signed],
        draft=next((v for v in versions if not v.is_signed), None),
        contributions=list(
            OpinionContribution.objects.filter(opinion__consult=consult)
            .select_related("practitioner")
            .order_by("practitioner_id")
        ),
    )


def opinion_key_image_for_user(
    *, user: User | AnonymousUser, consult_id: int, key_image_id: int
) -> OpinionKeyImage:
    """A key image of the consult's opinion: a signed version's for those who may view the
    consult, a draft's for those who write it. The consult read is audited.

    Raises: NotFound.
    """
    consult = consult_get_for_user(user=user, consult_id=consult_id)
    key_image = (
        OpinionKeyImage.objects.select_related("version")
        .filter(pk=key_image_id, version__opinion__consult=consult)
        .first()
    )
    if key_image is None:
        raise NotFound
    if not key_image.version.is_signed and not consult_permits(
        actor_for(user), ConsultAction.CONTRIBUTE, consult_facts(consult=consult)
    ):
        raise NotFound
    return key_image
