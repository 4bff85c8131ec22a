"""The sign-in and password-change forms: Django's, counted by the lock-out after failures."""

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm

from server.accounts.errors import AccountLocked
from server.accounts.models import User
from server.accounts.services import (
    login_check_not_locked,
    login_failure_record,
    login_locked_record,
    login_success_record,
    password_confirm,
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


class ThrottledAdminAuthenticationForm(ThrottledAuthenticationForm, AdminAuthenticationForm):
    """The admin site's sign-in, counted by the same lock-out (staff accounts only, as Django's)."""


class ThrottledPasswordChangeForm(PasswordChangeForm):
    """The old password is checked by `password_confirm`, so guessing it counts too."""

    def clean_old_password(self) -> str:
        old_password: str = self.cleaned_data["old_password"]
        assert isinstance(self.user, User)
        try:
            right = password_confirm(user=self.user, password=old_password)
        except AccountLocked as locked:
            raise _locked_error(locked) from None
        if not right:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password
