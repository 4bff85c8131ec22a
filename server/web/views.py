"""Server-rendered pages: role home pages, patients, duplicates, audit trail, notifications."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import update_wrapper
from typing import Any, Concatenate, ParamSpec

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponsePermanentRedirect,
)
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from server.access import (
    Action,
    Actor,
    actor_for,
    institution_permits,
    patient_permits,
)
from server.accounts.models import User
from server.audit.labels import event_choices
from server.audit.models import AuditOutcome
from server.audit.selectors import (
    AuditFilters,
    audit_events_about_patient,
    audit_events_for_institution,
    audit_patient_ids_matching,
    audit_people_choices,
    audit_rows,
)
from server.directory.errors import (
    DuplicateAlreadyReviewed,
    NotAllowed,
    PatientAlreadyRegistered,
    PatientInvalid,
)
from server.directory.models import Institution, Practitioner, Role
from server.directory.selectors import (
    colleagues_of,
    duplicates_open_count,
    duplicates_open_for_review,
    institutions_of_consortium,
    patient_get_for_user,
    patient_page_for_user,
    practitioner_for_user,
)
from server.directory.services import patient_duplicate_resolve, patient_register
from server.lib.home import home_cards
from server.lib.http import page_error
from server.notifications.selectors import notifications_for_user
from server.notifications.services import notifications_mark_read
from server.web.forms import AuditFilterForm, PatientRegistrationForm
from server.web.paging import Pager, page_number, page_offset

PATIENTS_PER_PAGE = 25
AUDIT_EVENTS_PER_PAGE = 50
AUDIT_EVENTS_ON_HOME = 10
NOTIFICATIONS_PER_PAGE = 25

# A user with several roles gets the home page of the first one here.
HOME_ROLE_PRIORITY = [Role.CLINIC_DOCTOR, Role.SPECIALIST, Role.COORDINATOR, Role.INSTITUTION_ADMIN]


@dataclass(frozen=True)
class Viewer:
    """The signed-in practitioner a page is rendered for."""

    user: User
    actor: Actor
    practitioner: Practitioner

    def permits(self, action: Action) -> bool:
        return institution_permits(self.actor, action, self.practitioner.institution)


P = ParamSpec("P")


def practitioner_page(
    view: Callable[Concatenate[HttpRequest, Viewer, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Require a signed-in user linked to a practitioner record, and pass it to the view."""

    def wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        user = request.user
        assert isinstance(user, User)
        practitioner = practitioner_for_user(user=user)
        actor = actor_for(user)
        if practitioner is None or actor is None:
            return render(request, "web/unlinked.html", status=403)
        return view(request, Viewer(user, actor, practitioner), *args, **kwargs)

    update_wrapper(wrapper, view)
    return login_required(wrapper)


@dataclass
class InstitutionNode:
    institution: Institution
    children: list["InstitutionNode"] = field(default_factory=list)


def institution_tree(institutions: Iterable[Institution]) -> list[InstitutionNode]:
    """Arrange institutions under their parents; those without one in the list are roots."""
    nodes = {institution.pk: InstitutionNode(institution) for institution in institutions}
    roots: list[InstitutionNode] = []
    for node in nodes.values():
        parent_id = node.institution.parent_id
        parent = nodes.get(parent_id) if parent_id is not None else None
        (parent.children if parent is not None else roots).append(node)
    return roots


def _patients_context(request: HttpRequest, viewer: Viewer, search: str) -> dict[str, Any]:
    number = page_number(request.GET.get("page"))
    page = patient_page_for_user(
        user=viewer.user,
        search=search,
        offset=page_offset(number, PATIENTS_PER_PAGE),
        limit=PATIENTS_PER_PAGE,
    )
    return {
        "patients": page.items,
        "pager": Pager(number=number, per_page=PATIENTS_PER_PAGE, total=page.total),
        "search": search,
    }


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers and bookmark tools ask for without reading the page's
    <link rel="icon">: the site's SVG icon (a frontend static file)."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


def _clinician_home(request: HttpRequest, viewer: Viewer) -> dict[str, Any]:
    return _patients_context(request, viewer, search="")


def _coordinator_home(request: HttpRequest, viewer: Viewer) -> dict[str, Any]:
    return {
        "tree": institution_tree(institutions_of_consortium(actor=viewer.actor)),
        "open_duplicates": duplicates_open_count(actor=viewer.actor),
    }


def _institution_admin_home(request: HttpRequest, viewer: Viewer) -> dict[str, Any]:
    if not viewer.permits(Action.VIEW_AUDIT):
        return {"audit_rows": []}
    events = audit_events_for_institution(institution_id=viewer.actor.institution_id)
    return {"audit_rows": audit_rows(actor=viewer.actor, events=events[:AUDIT_EVENTS_ON_HOME])}


# What each role's home page shows besides the colleagues and the apps' cards; the selectors
# and the policy decide what of it the viewer may see.
HOME_CONTEXT: dict[Role, Callable[[HttpRequest, Viewer], dict[str, Any]]] = {
    Role.CLINIC_DOCTOR: _clinician_home,
    Role.SPECIALIST: _clinician_home,
    Role.COORDINATOR: _coordinator_home,
    Role.INSTITUTION_ADMIN: _institution_admin_home,
}


@require_safe
@practitioner_page
def home(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    actor = viewer.actor
    held = actor.role_list()
    role = next((role for role in HOME_ROLE_PRIORITY if role in held), None)
    context: dict[str, Any] = {
        "practitioner": viewer.practitioner,
        "colleagues": colleagues_of(actor=actor),
        # The apps' cards for this role (the consult app's duty switch and pending consults).
        "cards": home_cards(request=request, actor=actor, role=role) if role is not None else [],
    }
    if role is not None:
        context.update(HOME_CONTEXT[role](request, viewer))
    template = f"web/home/{role.value}.html" if role is not None else "web/home/base.html"
    return render(request, template, context)


@require_safe
@practitioner_page
def patient_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:100]
    return render(request, "web/patients/list.html", _patients_context(request, viewer, search))


@require_safe
@practitioner_page
def patient_detail(request: HttpRequest, viewer: Viewer, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=viewer.user, patient_id=patient_id)
    context = {
        "patient": patient,
        "can_request_consult": patient.merged_into_id is None
        and patient_permits(viewer.actor, Action.REQUEST_CONSULT, patient),
        "can_view_access_log": patient_permits(viewer.actor, Action.VIEW_ACCESS_LOG, patient),
    }
    return render(request, "web/patients/detail.html", context)


@require_http_methods(["GET", "POST"])
@practitioner_page
def patient_new(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    refusal = _("Only clinicians can register patients, and only at their own institution.")
    if not viewer.permits(Action.REGISTER_PATIENT):
        raise PermissionDenied(refusal)
    form = PatientRegistrationForm(request.POST if request.method == "POST" else None)
    if not form.is_valid():
        return render(request, "web/patients/new.html", {"form": form})
    try:
        registration = patient_register(user=viewer.user, **form.cleaned_data)
    except NotAllowed:
        raise PermissionDenied(refusal) from None
    except PatientInvalid as invalid:
        page_error(request, invalid, form=form)
        return render(request, "web/patients/new.html", {"form": form})
    except PatientAlreadyRegistered as registered:
        form.add_error(None, registered.message)
        context = {"form": form, "registered_patient_id": registered.patient_id}
        return render(request, "web/patients/new.html", context, status=409)
    messages.success(request, _("The patient has been registered."))
    if registration.duplicates:
        messages.warning(
            request,
            _(
                "This patient may already be registered in the consortium. "
                "A coordinator will review the possible duplicate."
            ),
        )
    return redirect("web:patient_detail", patient_id=registration.patient.pk)


def _require_duplicate_reviewer(viewer: Viewer) -> None:
    if not viewer.permits(Action.REVIEW_DUPLICATES):
        raise Http404


@require_safe
@practitioner_page
def duplicate_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    _require_duplicate_reviewer(viewer)
    duplicates = duplicates_open_for_review(user=viewer.user, actor=viewer.actor)
    return render(request, "web/duplicates.html", {"duplicates": duplicates})


@require_POST
@practitioner_page
def duplicate_resolve(request: HttpRequest, viewer: Viewer, duplicate_id: int) -> HttpResponse:
    _require_duplicate_reviewer(viewer)
    decision = request.POST.get("decision")
    if decision not in ("merge", "dismiss"):
        return HttpResponseBadRequest(_("Choose whether to merge the records or keep both."))
    merge = decision == "merge"
    try:
        patient_duplicate_resolve(user=viewer.user, duplicate_id=duplicate_id, merge=merge)
    except DuplicateAlreadyReviewed:
        messages.info(request, _("Someone has already reviewed this possible duplicate."))
        return redirect("web:duplicates")
    if merge:
        messages.success(request, _("The records have been merged."))
    else:
        messages.success(request, _("Both records are kept: they are different people."))
    return redirect("web:duplicates")


def _audit_filters(form: AuditFilterForm, actor: Actor) -> AuditFilters | None:
    """The filters a valid form asks for; None when the form has errors."""
    if not form.is_bound:
        return AuditFilters()
    if not form.is_valid():
        return None
    data = form.cleaned_data
    term: str = data["patient"]
    return AuditFilters(
        date_from=data["date_from"],
        date_to=data["date_to"],
        actor_id=data["user"],
        patient_ids=audit_patient_ids_matching(actor=actor, term=term) if term.strip() else None,
        event=data["event"],
        institution_id=data["institution"],
        outcome=data["outcome"],
    )


@require_safe
@practitioner_page
def audit_log(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    if not viewer.permits(Action.VIEW_AUDIT):
        raise Http404
    actor = viewer.actor
    form = AuditFilterForm(
        request.GET if set(request.GET) - {"page"} else None,
        people=audit_people_choices(actor=actor),
        events=event_choices(),
        institutions=[(i.pk, i.name) for i in institutions_of_consortium(actor=actor)],
        outcomes=[(value, str(label)) for value, label in AuditOutcome.choices],
    )
    filters = _audit_filters(form, actor)
    number = page_number(request.GET.get("page"))
    offset = page_offset(number, AUDIT_EVENTS_PER_PAGE)
    rows, total = [], 0
    if filters is not None:
        events = audit_events_for_institution(institution_id=actor.institution_id, filters=filters)
        rows = audit_rows(actor=actor, events=events[offset : offset + AUDIT_EVENTS_PER_PAGE])
        total = events.count()
    context = {
        "rows": rows,
        "pager": Pager(number=number, per_page=AUDIT_EVENTS_PER_PAGE, total=total),
        "form": form,
    }
    return render(request, "web/audit.html", context)


# A printed report longer than this lists the latest accesses and says that it is cut.
ACCESS_LOG_LIMIT = 2000


@require_safe
@practitioner_page
def patient_access_log(request: HttpRequest, viewer: Viewer, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(
        user=viewer.user, patient_id=patient_id, action=Action.VIEW_ACCESS_LOG
    )
    events = list(audit_events_about_patient(patient=patient)[: ACCESS_LOG_LIMIT + 1])
    context = {
        "patient": patient,
        "rows": audit_rows(actor=viewer.actor, events=events[:ACCESS_LOG_LIMIT]),
        "truncated": len(events) > ACCESS_LOG_LIMIT,
        "practitioner": viewer.practitioner,
    }
    return render(request, "web/patients/access_log.html", context)


@require_safe
@practitioner_page
def notification_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    notifications = notifications_for_user(user_id=viewer.user.pk)
    number = page_number(request.GET.get("page"))
    offset = page_offset(number, NOTIFICATIONS_PER_PAGE)
    context = {
        "notifications": notifications[offset : offset + NOTIFICATIONS_PER_PAGE],
        "pager": Pager(number=number, per_page=NOTIFICATIONS_PER_PAGE, total=notifications.count()),
    }
    return render(request, "web/notifications.html", context)


@require_POST
@practitioner_page
def notifications_read(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    changed = notifications_mark_read(user=viewer.user)
    if changed:
        messages.success(request, _("All notifications are marked as read."))
    return redirect("web:notifications")
