"""The assignment page: coordinators and department heads choose the invited doctors."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from consult import services
from consult.errors import ConsultError, NotQualified
from consult.forms import AssignForm
from consult.lifecycle import AWAITING_ROUTING
from consult.models import Kind
from consult.selectors import consult_actions_for_user, consult_get_for_user
from consult.services.eligibility import MIN_YEARS_OF_INDEPENDENT_PRACTICE, Ineligible
from server.directory.errors import NotAllowed
from server.lib.http import page_error
from server.web.views import Viewer, practitioner_page

# Why a specialist cannot be chosen, as the assignment page says it.
INELIGIBLE_WORDS: dict[str, Any] = {
    Ineligible.NOT_SPECIALIST: gettext_lazy("not an active specialist"),
    Ineligible.OTHER_CONSORTIUM: gettext_lazy("not in this consortium"),
    Ineligible.SPECIALTY: gettext_lazy("another specialty than the one asked for"),
    Ineligible.TITLE: gettext_lazy("a lower title than the one asked for"),
    Ineligible.YEARS: gettext_lazy("under %(years)d years of independent practice"),
    Ineligible.REQUESTER: gettext_lazy("the requesting doctor"),
}


def _ineligible_words(problem: str) -> str:
    words = INELIGIBLE_WORDS.get(problem)
    if words is None:
        return problem
    return str(words) % {"years": MIN_YEARS_OF_INDEPENDENT_PRACTICE}


@require_http_methods(["GET", "POST"])
@practitioner_page
def consult_assign(request: HttpRequest, viewer: Viewer, consult_id: int) -> HttpResponse:
    """Coordinators and department heads choose the invited doctors (an MDT team and lead)."""
    consult = consult_get_for_user(user=viewer.user, consult_id=consult_id)
    if "assign" not in consult_actions_for_user(user=viewer.user, consult=consult):
        if consult.status not in AWAITING_ROUTING:
            messages.error(request, _("This consult is not waiting for specialists."))
            return redirect("consults:detail", consult_id=consult_id)
        raise PermissionDenied(_("You may not choose the specialists of this consult."))
    candidates = services.consult_assignment_candidates(consult=consult)
    form = AssignForm(
        request.POST if request.method == "POST" else None,
        practitioner_ids=[c.practitioner.pk for c in candidates],
    )
    mdt = consult.kind == Kind.MDT
    if request.method == "POST" and form.is_valid():
        chosen: list[int] = form.cleaned_data["practitioners"]
        lead = form.cleaned_data["lead"] if mdt else (chosen[0] if len(chosen) == 1 else None)
        try:
            services.consult_assign(
                consult_id=consult_id,
                actor_user=viewer.user,
                practitioner_ids=chosen,
                lead_id=lead or 0,
            )
        except NotAllowed:
            raise PermissionDenied(
                _("You may not choose the specialists of this consult.")
            ) from None
        except NotQualified:
            form.add_error(
                "practitioners",
                _("A chosen doctor cannot take this consult; see the reasons in the list."),
            )
        except ConsultError as error:
            page_error(request, error, form=form)
        else:
            messages.success(request, _("The specialists are invited."))
            return redirect("consults:detail", consult_id=consult_id)
    context = {
        "consult": consult,
        "form": form,
        "mdt": mdt,
        "candidates": [(c, _ineligible_words(c.problem) if c.problem else "") for c in candidates],
        "chosen": {str(v) for v in form["practitioners"].value() or []},
        "lead": str(form["lead"].value() or ""),
    }
    return render(request, "consult/assign.html", context)
