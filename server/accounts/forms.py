"""The sign-in form: Django's, with lock-out after repeated failures."""

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from server.accounts.errors import AccountLocked
from server.accounts.models import User
from server.accounts.services import (
    login_check_not_locked,
    login_failure_record,
    login_locked_record,
    login_success_record,
)


def _locked_error(locked: AccountLocked) -> forms.ValidationError:
    return forms.ValidationError(locked.message, code="locked")


class ThrottledAuthenticationForm(AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        try:
            login_check_not_locked(username=username)
        except AccountLocked as locked:
            login_locked_record(username=username)
            raise _locked_error(locked) from None
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttle = login_failure_record(username=username)
            if throttle.locked_until is not None:
                raise _locked_error(AccountLocked(throttle.locked_until)) from None
            raise
        user = self.get_user()
        assert isinstance(user, User)
        login_success_record(user=user)
        return cleaned
