"""Consult pages: worklists, the request form and its draft, detail, opinion, acknowledgement.

Each view parses a form, calls one consult service or selector, and renders or redirects. The
services decide what is allowed; their refusals are shown to the user in words.
"""

import json
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from consult import services
from consult.errors import ConsultError, NotEditable
from consult.files import LIMITS
from consult.forms import (
    DRAFT_FIELD_NAMES,
    AcknowledgeForm,
    AnswerForm,
    AttachStudyForm,
    CancelForm,
    ConsultRequestForm,
    ContributionForm,
    DeclineForm,
    OpinionForm,
    QuestionForm,
    ScheduleForm,
    SignForm,
    consult_request_initial,
)
from consult.lifecycle import AWAITING_ROUTING
from consult.models import (
    OPINION_LABEL,
    AttachmentKind,
    ConsultRequest,
    DeclineCode,
    Mode,
    Status,
)
from consult.selectors import (
    Worklist,
    consult_actions_for_user,
    consult_attachable_studies,
    consult_clocks,
    consult_department_choices,
    consult_detail_for_user,
    consult_get_for_user,
    consult_opinion_state,
    consult_page_for_user,
    consult_patient_choices,
    consult_specialist_choices,
)
from consult.sessions import session_join_window
from server.access import Action, actor_permits
from server.accounts.errors import AccountLocked
from server.directory.errors import NotAllowed
from server.lib.http import page_error
from server.web.paging import Pager, page_number, page_offset
from server.web.views import Viewer, practitioner_page

CONSULTS_PER_PAGE = 20
# What the consult page's "What you can do" card offers (other actions live in their cards).
ACTIONS_CARD = frozenset(
    {
        "edit",
        "assign",
        "submit",
        "claim",
        "accept",
        "start_review",
        "start_session",
        "schedule",
        "request_info",
        "answer_info",
        "decline",
        "cancel",
    }
)
# Statuses of a live consult whose session is still to come or under way.
LIVE_SESSION_AHEAD = frozenset(
    {
        Status.DRAFT,
        Status.SUBMITTED,
        Status.ASSIGNED,
        Status.ACCEPTED,
        Status.NEEDS_INFO,
        Status.DECLINED,
        Status.SCHEDULED,
        Status.IN_SESSION,
    }
)

WORKLIST_LABELS: dict[str, Any] = {
    "incoming": gettext_lazy("Incoming"),
    "queue": gettext_lazy("Department queue"),
    "my_requests": gettext_lazy("My requests"),
    "overdue": gettext_lazy("Overdue"),
    "all": gettext_lazy("All consults"),
}


def _worklists_for(viewer: Viewer) -> list[Worklist]:
    actor = viewer.actor
    lists: list[Worklist] = []
    if actor_permits(actor, Action.ANSWER_CONSULTS):
        lists += ["incoming", "queue"]
    if actor_permits(actor, Action.REQUEST_CONSULT):
        lists.append("my_requests")
    if actor_permits(actor, Action.COORDINATE_CONSULTS):
        lists += ["overdue", "queue", "all"]
    return list(dict.fromkeys(lists)) or ["all"]


# Carries the signed list of consults a worklist page view has shown (consult_list_record).
WORKLIST_SHOWN_HEADER = "X-Worklist-Shown"


@require_safe
@practitioner_page
def worklist(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    lists = _worklists_for(viewer)
    chosen = request.GET.get("list", "")
    current: Worklist = next((w for w in lists if w == chosen), lists[0])
    consults = consult_page_for_user(user=viewer.user, worklist=current)
    number = page_number(request.GET.get("page"))
    offset = page_offset(number, CONSULTS_PER_PAGE)
    page = list(consults[offset : offset + CONSULTS_PER_PAGE])
    fragment = bool(request.GET.get("fragment"))
    shown = services.consult_list_record(
        user=viewer.user,
        consult_ids=[c.pk for c in page],
        shown=request.headers.get(WORKLIST_SHOWN_HEADER, "") if fragment else "",
    )
    context = {
        "consults": page,
        "pager": Pager(number=number, per_page=CONSULTS_PER_PAGE, total=consults.count()),
        "current": current,
        "tabs": [(w, WORKLIST_LABELS[w]) for w in lists],
        "can_request": actor_permits(viewer.actor, Action.REQUEST_CONSULT),
        # Coordinators may route every consult of their consortium (server.access ROUTE).
        "routable": [str(s) for s in AWAITING_ROUTING]
        if actor_permits(viewer.actor, Action.COORDINATE_CONSULTS)
        else [],
        "shown": shown,
    }
    template = "consult/_worklist.html" if fragment else "consult/worklist.html"
    response = render(request, template, context)
    response[WORKLIST_SHOWN_HEADER] = shown
    return response


def _request_form(
    request: HttpRequest, viewer: Viewer, initial: dict[str, Any] | None = None
) -> ConsultRequestForm:
    return ConsultRequestForm(
        request.POST if request.method == "POST" else None,
        patients=consult_patient_choices(user=viewer.user),
        specialists=consult_specialist_choices(user=viewer.user),
        departments=consult_department_choices(user=viewer.user),
        initial=initial,
    )


@require_http_methods(["GET", "POST"])
@practitioner_page
def consult_new(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    form = _request_form(request, viewer)
    if request.method == "GET" and "patient" in request.GET:
        form.initial["patient"] = request.GET["patient"]
    if not form.is_valid():
        return render(request, "consult/new.html", {"form": form})
    try:
        consult = services.consult_request_create(actor_user=viewer.user, draft=form.draft())
    except NotAllowed:
        raise Http404 from None
    except ConsultError as error:
        page_error(request, error, form=form, fields=DRAFT_FIELD_NAMES)
        return render(request, "consult/new.html", {"form": form})
    messages.success(
        request,
        _("The draft is saved. Attach files if needed, then submit it to send the invitation."),
    )
    return redirect("consults:detail", consult_id=consult.pk)


@require_http_methods(["GET", "POST"])
@practitioner_page
def consult_edit(request: HttpRequest, viewer: Viewer, consult_id: int) -> HttpResponse:
    consult = consult_get_for_user(user=viewer.user, consult_id=consult_id)
    if "edit" not in consult_actions_for_user(user=viewer.user, consult=consult):
        if consult.status != Status.DRAFT:
            messages.error(request, _("Only a draft can be edited; this request has been sent."))
            return redirect("consults:detail", consult_id=consult_id)
        raise PermissionDenied(_("Only the requesting doctor may edit the draft."))
    form = _request_form(request, viewer, initial=consult_request_initial(consult))
    form.fields["patient"].disabled = True
    context = {"form": form, "consult": consult}
    if request.method == "GET" or not form.is_valid():
        return render(request, "consult/new.html", context)
    try:
        services.consult_draft_update(
            actor_user=viewer.user, consult_id=consult_id, **form.changes()
        )
    except NotAllowed as error:
        raise PermissionDenied(str(error)) from None
    except NotEditable as error:
        page_error(request, error)
        return redirect("consults:detail", consult_id=consult_id)
    except ConsultError as error:
        page_error(request, error, form=form, fields=DRAFT_FIELD_NAMES)
        return render(request, "consult/new.html", context)
    messages.success(request, _("The draft is saved."))
    return redirect("consults:detail", consult_id=consult_id)


@require_safe
@practitioner_page
def consult_detail(request: HttpRequest, viewer: Viewer, consult_id: int) -> HttpResponse:
    consult = consult_detail_for_user(user=viewer.user, consult_id=consult_id)
    events = list(consult.events.select_related("actor__practitioner"))
    decline_reasons = dict(DeclineCode.choices)
    actions = consult_actions_for_user(user=viewer.user, consult=consult)
    context = {
        "consult": consult,
        "events": events,
        "timeline": [(e, decline_reasons.get(e.reason_code, e.reason_code)) for e in events],
        "clocks": consult_clocks(consult=consult, events=events),
        "actions": actions,
        # The actions card holds these; with none of them it is not shown at all.
        "card_actions": actions & ACTIONS_CARD,
        "opinion": consult_opinion_state(consult=consult),
        "participants": list(consult.participants.all()),
        "attachments": list(consult.attachments.all()),
        "studies": [link.study for link in consult.studies.all()],
        "attachable_studies": consult_attachable_studies(user=viewer.user, consult=consult)
        if "attach_study" in actions
        else [],
        "attachment_kinds": AttachmentKind.choices,
        "limits_json": json.dumps(
            {kind: {"types": sorted(t), "max": m} for kind, (t, m) in LIMITS.items()}
        ),
        "decline_form": DeclineForm(),
        "question_form": QuestionForm(),
        "answer_form": AnswerForm(),
        "cancel_form": CancelForm(),
        "schedule_form": ScheduleForm(),
        "acknowledge_form": AcknowledgeForm(),
        "opinion_label": OPINION_LABEL,
        # Live video is not in Yunzhen yet: the page says where the session is held.
        "held_outside": consult.mode == Mode.LIVE and consult.status in LIVE_SESSION_AHEAD,
        **_join_window(consult),
    }
    return render(request, "consult/detail.html", context)


def _join_window(consult: ConsultRequest) -> dict[str, Any]:
    """When the scheduled session may be started, for the start button and its words."""
    if consult.scheduled_start is None:
        return {"join_window": None, "join_state": ""}
    window = session_join_window(consult.scheduled_start)
    return {"join_window": window, "join_state": str(window.state(timezone.now()))}


def _act(
    request: HttpRequest,
    consult_id: int,
    form: Any,
    call: Callable[[dict[str, Any]], ConsultRequest | object],
    done: str,
    *,
    then: str = "consults:detail",
) -> HttpResponse:
    """Validate the form, call the service, and go back with a message in words."""
    if form is not None and not form.is_valid():
        for name, errors in form.errors.items():
            label = form.fields[name].label if name in form.fields else ""
            for error in errors:
                messages.error(request, f"{label}: {error}" if label else error)
        return redirect("consults:detail", consult_id=consult_id)
    try:
        call(form.cleaned_data if form is not None else {})
    except NotAllowed:
        messages.error(request, _("You may not make this change to the consult."))
        return redirect("consults:detail", consult_id=consult_id)
    except ConsultError as error:
        page_error(request, error)
        return redirect("consults:detail", consult_id=consult_id)
    messages.success(request, done)
    return redirect(then, consult_id=consult_id)


@require_POST
@practitioner_page
def consult_act(request: HttpRequest, viewer: Viewer, consult_id: int, action: str) -> HttpResponse:
    user = viewer.user
    post = request.POST
    # action name: (form, service call, success message)
    table: dict[str, tuple[Any, Callable[[dict[str, Any]], object], str]] = {
        "submit": (
            None,
            lambda d: services.consult_submit(consult_id=consult_id, actor_user=user),
            _("The consult has been submitted."),
        ),
        "claim": (
            None,
            lambda d: services.consult_claim(consult_id=consult_id, actor_user=user),
            _("You have taken the consult."),
        ),
        "accept": (
            None,
            lambda d: services.consult_accept(consult_id=consult_id, actor_user=user),
            _("You have accepted the consult."),
        ),
        "decline": (
            DeclineForm(post),
            lambda d: services.consult_decline(
                consult_id=consult_id,
                actor_user=user,
                reason_code=d["reason_code"],
                reason=d["reason"],
            ),
            _("You have declined the consult; it goes back to routing."),
        ),
        "request_info": (
            QuestionForm(post),
            lambda d: services.consult_request_info(
                consult_id=consult_id, actor_user=user, question=d["reason"]
            ),
            _("Your question has been sent; the deadlines are paused until it is answered."),
        ),
        "answer_info": (
            AnswerForm(post),
            lambda d: services.consult_answer_info(
                consult_id=consult_id, actor_user=user, answer=d["reason"]
            ),
            _("Your answer has been sent."),
        ),
        "schedule": (
            ScheduleForm(post),
            lambda d: services.consult_schedule(
                consult_id=consult_id, actor_user=user, starts_at=d["scheduled_start"]
            ),
            _("The session has been scheduled."),
        ),
        "start_review": (
            None,
            lambda d: services.consult_start_review(consult_id=consult_id, actor_user=user),
            _("The review has started."),
        ),
        "start_session": (
            None,
            lambda d: services.consult_start_session(consult_id=consult_id, actor_user=user),
            _(
                "The session is marked as started. Hold it by phone or on the consortium's "
                "video system, then write the opinion here."
            ),
        ),
        "attach_study": (
            AttachStudyForm(post),
            lambda d: services.consult_study_attach(
                consult_id=consult_id,
                actor_user=user,
                study_instance_uid=d["study_instance_uid"],
            ),
            _("The study is attached to the consult."),
        ),
        "cancel": (
            CancelForm(post),
            lambda d: services.consult_cancel(
                consult_id=consult_id, actor_user=user, reason=d["reason"]
            ),
            _("The consult has been cancelled."),
        ),
        "acknowledge": (
            AcknowledgeForm(post),
            lambda d: services.consult_acknowledge(
                consult_id=consult_id,
                actor_user=user,
                disposition=d["disposition"],
                next_steps=d["next_steps"],
            ),
            _("Your acknowledgement is recorded and the consult is closed."),
        ),
    }
    if action not in table:
        raise Http404
    form, call, done = table[action]
    return _act(request, consult_id, form, call, done)


def _opinion_editor(
    request: HttpRequest,
    viewer: Viewer,
    consult_id: int,
    *,
    posted: OpinionForm | None = None,
    sign_error: str = "",
) -> HttpResponse:
    """The opinion editor, with the fields as typed when a save or a signature was refused."""
    consult = consult_detail_for_user(user=viewer.user, consult_id=consult_id)
    actions = consult_actions_for_user(user=viewer.user, consult=consult)
    if not actions & {"write_opinion", "contribute"}:
        raise Http404
    state = consult_opinion_state(consult=consult)
    base = state.draft or state.current
    initial = (
        {
            "findings": base.findings,
            "impression": base.impression,
            "recommendations": base.recommendations,
            "referral_advised": base.referral_advised,
            "follow_up_advice": base.follow_up_advice,
            "amendment_reason": base.amendment_reason if state.draft else "",
        }
        if base
        else {}
    )
    mine = next(
        (c for c in state.contributions if c.practitioner_id == viewer.practitioner.pk), None
    )
    context = {
        "consult": consult,
        "form": posted if posted is not None else OpinionForm(initial=initial),
        "opinion": state,
        "sign_form": SignForm(),
        "sign_error": sign_error,
        "contribution_form": ContributionForm(initial={"text": mine.text if mine else ""}),
        "actions": actions,
        "amending": state.current is not None,
        "opinion_label": OPINION_LABEL,
    }
    return render(request, "consult/opinion_edit.html", context)


@require_http_methods(["GET", "POST"])
@practitioner_page
def opinion_edit(request: HttpRequest, viewer: Viewer, consult_id: int) -> HttpResponse:
    if request.method != "POST":
        return _opinion_editor(request, viewer, consult_id)
    form = OpinionForm(request.POST)
    if form.is_valid():
        try:
            services.opinion_draft_save(
                consult_id=consult_id,
                actor_user=viewer.user,
                sections=form.sections(),
                amendment_reason=form.cleaned_data["amendment_reason"],
            )
        except ConsultError as error:
            page_error(request, error, form=form)
        else:
            messages.success(request, _("The draft opinion is saved. Sign it when it is ready."))
            return redirect("consults:opinion_edit", consult_id=consult_id)
    return _opinion_editor(request, viewer, consult_id, posted=form)


@require_POST
@practitioner_page
def opinion_sign(request: HttpRequest, viewer: Viewer, consult_id: int) -> HttpResponse:
    """Sign what is on the screen: the editor's fields come with the password.

    A post without the fields (an older page) signs the saved draft as it is.
    """
    form = OpinionForm(request.POST) if OpinionForm.posted_in(request.POST) else None
    if form is not None and not form.is_valid():
        return _opinion_editor(request, viewer, consult_id, posted=form)
    sign = SignForm(request.POST)
    if not sign.is_valid():
        words = _("Enter your password to sign.")
    else:
        try:
            services.opinion_sign(
                consult_id=consult_id,
                actor_user=viewer.user,
                password=sign.cleaned_data["password"],
                sections=form.sections() if form is not None else None,
                amendment_reason=form.cleaned_data["amendment_reason"] if form else "",
            )
        except (ConsultError, AccountLocked) as error:
            words = error.message
        else:
            messages.success(request, _("The opinion is signed and frozen."))
            return redirect("consults:opinion", consult_id=consult_id)
    if form is not None:
        _opinion_keep(viewer, consult_id, form)
    return _opinion_editor(request, viewer, consult_id, posted=form, sign_error=words)


def _opinion_keep(viewer: Viewer, consult_id: int, form: OpinionForm) -> None:
    """After a refused signature, keep the typed text as the draft (as the autosave would).

    A second service call on purpose: the signature rolled back, the draft should not. If the
    draft cannot be saved either, the page still shows the text and the refusal says why.
    """
    with suppress(ConsultError):
        services.opinion_draft_save(
            consult_id=consult_id,
            actor_user=viewer.user,
            sections=form.sections(),
            amendment_reason=form.cleaned_data["amendment_reason"],
        )


@require_POST
@practitioner_page
def opinion_contribute(request: HttpRequest, viewer: Viewer, consult_id: int) -> HttpResponse:
    return _act(
        request,
        consult_id,
        ContributionForm(request.POST),
        lambda d: services.opinion_contribute(
            consult_id=consult_id, actor_user=viewer.user, text=d["text"]
        ),
        _("Your contribution is saved."),
        then="consults:opinion_edit",
    )


@require_POST
@practitioner_page
def opinion_key_image_remove(
    request: HttpRequest, viewer: Viewer, consult_id: int, key_image_id: int
) -> HttpResponse:
    # Only a draft's key images, only by who may add them (the service refuses the rest as
    # NotFound, which the middleware answers with 404); the removal is audited.
    services.opinion_key_image_remove(
        consult_id=consult_id, actor_user=viewer.user, key_image_id=key_image_id
    )
    messages.success(request, _("The key image is removed from the draft."))
    return redirect("consults:opinion_edit", consult_id=consult_id)


@require_safe
@practitioner_page
def opinion_view(request: HttpRequest, viewer: Viewer, consult_id: int) -> HttpResponse:
    consult = consult_get_for_user(user=viewer.user, consult_id=consult_id)
    state = consult_opinion_state(consult=consult)
    if state.current is None:
        raise Http404
    context = {
        "consult": consult,
        "opinion": state,
        "version": state.current,
        "actions": consult_actions_for_user(user=viewer.user, consult=consult),
        "acknowledge_form": AcknowledgeForm(),
        "opinion_label": OPINION_LABEL,
        "closed": consult.status == Status.CLOSED,
    }
    return render(request, "consult/opinion.html", context)
