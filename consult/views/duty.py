"""The specialist's home cards (consult duty, consults waiting for them) and the duty switch."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from consult import services
from consult.selectors import consults_pending_for, specialist_duty_for
from server.access import Action, Actor, institution_permits
from server.accounts.models import User
from server.directory.errors import NotAllowed
from server.directory.models import Institution
from server.lib.home import HomeCard
from server.web.views import Viewer, practitioner_page

PENDING_ON_HOME = 20


def specialist_home_cards(request: HttpRequest, actor: Actor) -> list[HomeCard]:
    """The duty switch, when the specialist may take duty, and their pending consults."""
    user = request.user
    assert isinstance(user, User)
    cards = []
    institution = Institution.objects.get(pk=actor.institution_id)
    if institution_permits(actor, Action.TAKE_CONSULT_DUTY, institution):
        duty = specialist_duty_for(practitioner_id=actor.practitioner_id)
        cards.append(HomeCard(template="consult/home/_duty.html", context={"duty": duty}))
    pending = consults_pending_for(actor=actor)
    shown = pending[:PENDING_ON_HOME]
    if shown:
        services.consult_list_record(user=user, consult_ids=[p.consult.pk for p in shown])
    cards.append(
        HomeCard(
            template="consult/home/_pending.html",
            context={"pending": shown, "total": len(pending)},
        )
    )
    return cards


@require_POST
@practitioner_page
def duty_set(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    choice = request.POST.get("on_duty")
    if choice not in ("on", "off"):
        messages.error(request, _("Choose whether to go on or off duty."))
        return redirect("web:home")
    try:
        duty = services.specialist_duty_set(actor_user=viewer.user, on_duty=choice == "on")
    except NotAllowed:
        raise PermissionDenied(_("Only specialists go on consult duty.")) from None
    if duty.on_duty:
        messages.success(
            request, _("You are on duty: the consult centre now routes consults to you.")
        )
    else:
        messages.success(
            request, _("You are off duty: the consult centre routes no more consults to you.")
        )
    return redirect("web:home")
