"""The one error model: DomainError, the one API handler and the one page helper."""

from importlib import import_module
from importlib.util import find_spec

import pytest
from django import forms
from django.apps import apps
from django.contrib import messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import Http404, HttpRequest
from django.test import RequestFactory
from django.utils import translation
from rest_framework.exceptions import ValidationError

import server.access
from server.directory.errors import PatientAlreadyRegistered
from server.lib.api import exception_handler
from server.lib.errors import NON_FIELD, DomainError, ErrorKind
from server.lib.http import NotFoundMiddleware, page_error


def _every_domain_error() -> list[type[DomainError]]:
    """DomainError's subclasses in every app's errors module and the access policy."""
    for config in apps.get_app_configs():
        if find_spec(f"{config.name}.errors") is not None:
            import_module(f"{config.name}.errors")
    found: list[type[DomainError]] = []
    waiting = [DomainError]
    while waiting:
        for subclass in waiting.pop().__subclasses__():
            found.append(subclass)
            waiting.append(subclass)
    return found


def test_every_app_s_errors_are_found() -> None:
    names = {error.__name__ for error in _every_domain_error()}

    assert server.access.NotFound.__name__ in names
    assert names >= {
        "NotAllowed",
        "PatientAlreadyRegistered",
        "AccountLocked",
        "ConsultError",
        "NotEditable",
        "PasswordMismatch",
        "StudyAlreadyMatched",
        "UploadRefused",
    }


@pytest.mark.parametrize("error", _every_domain_error(), ids=lambda error: error.__name__)
def test_every_domain_error_has_words_of_its_own_in_both_languages(
    error: type[DomainError],
) -> None:
    with translation.override("en"):
        english = str(error.default_message)
    with translation.override("zh-hans"):
        chinese = str(error.default_message)

    assert english.strip()
    assert chinese.strip()
    assert chinese != english, "no zh-Hans translation"
    assert isinstance(error.kind, ErrorKind)


class _Refused(DomainError):
    default_message = "Refused."


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (ErrorKind.INVALID, 400),
        (ErrorKind.FORBIDDEN, 403),
        (ErrorKind.NOT_FOUND, 404),
        (ErrorKind.CONFLICT, 409),
    ],
)
def test_the_api_handler_answers_each_kind_with_its_status(kind: ErrorKind, status: int) -> None:
    error = _Refused("Not like this.", field="reason")
    error.kind = kind  # type: ignore[misc]  # kind is a class attribute; one instance is enough

    response = exception_handler(error, {})

    assert response is not None
    assert (response.status_code, response.data) == (status, {"reason": ["Not like this."]})


def test_the_api_handler_answers_an_error_without_a_field_as_detail() -> None:
    with translation.override("en"):
        response = exception_handler(server.access.NotFound(), {})

    assert response is not None
    assert (response.status_code, response.data) == (404, {"detail": "Not found."})


def test_the_api_handler_answers_in_the_reader_s_language() -> None:
    with translation.override("zh-hans"):
        response = exception_handler(server.access.NotFound(), {})

    assert response is not None
    assert response.data == {"detail": "未找到。"}


def test_the_api_handler_adds_an_error_s_details() -> None:
    shown = exception_handler(PatientAlreadyRegistered("Registered.", patient_id=7), {})
    hidden = exception_handler(PatientAlreadyRegistered("Registered.", patient_id=None), {})

    assert shown is not None
    assert hidden is not None
    assert (shown.status_code, shown.data) == (
        409,
        {"national_id": ["Registered."], "patient_id": 7},
    )
    assert hidden.data == {"national_id": ["Registered."]}


def test_the_api_handler_leaves_other_errors_to_rest_framework() -> None:
    response = exception_handler(ValidationError({"urgency": ["Bad."]}), {})

    assert response is not None
    assert (response.status_code, response.data) == (400, {"urgency": ["Bad."]})
    assert exception_handler(ValueError("a bug"), {}) is None


class _DraftForm(forms.Form):
    patient = forms.CharField(required=False)
    reason = forms.CharField(required=False)


def _request() -> HttpRequest:
    request = RequestFactory().post("/")
    request._messages = CookieStorage(request)  # type: ignore[attr-defined]  # as the middleware does
    return request


def _form() -> _DraftForm:
    form = _DraftForm({})
    assert form.is_valid()
    return form


def test_the_page_helper_puts_the_words_on_the_field_the_error_names() -> None:
    form = _form()

    page_error(_request(), _Refused("Say why.", field="reason"), form=form)

    assert form.errors == {"reason": ["Say why."]}


def test_the_page_helper_maps_a_service_s_input_name_to_the_form_s() -> None:
    form = _form()

    page_error(
        _request(),
        _Refused("No such patient.", field="patient_id"),
        form=form,
        fields={"patient_id": "patient"},
    )

    assert form.errors == {"patient": ["No such patient."]}


@pytest.mark.parametrize("field", ["", NON_FIELD, "scheduled_start"])
def test_the_page_helper_puts_other_errors_on_the_whole_form(field: str) -> None:
    form = _form()

    page_error(_request(), _Refused("Not now.", field=field), form=form)

    assert form.non_field_errors() == ["Not now."]
    assert list(form.errors) == [NON_FIELD_ERRORS]


def test_the_page_helper_without_a_form_leaves_a_message() -> None:
    request = _request()

    page_error(request, _Refused("Not now.", field="reason"))

    shown = list(messages.get_messages(request))
    assert [(m.level, m.message) for m in shown] == [(messages.ERROR, "Not now.")]


def test_a_hidden_object_is_a_404_page() -> None:
    middleware = NotFoundMiddleware(lambda request: pytest.fail("not called"))

    with pytest.raises(Http404):
        middleware.process_exception(_request(), server.access.NotFound())
    middleware.process_exception(_request(), _Refused())  # not a 404: Django's to handle


def test_a_domain_error_reads_in_the_language_active_when_shown() -> None:
    error = server.access.NotFound()

    with translation.override("en"):
        assert (str(error), error.message, error.field) == ("Not found.", "Not found.", "")
    with translation.override("zh-hans"):
        assert str(error) == "未找到。"
