"""Sign-in, sign-out and "sign out everywhere" pages."""

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import LoginView, PasswordChangeView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from server.accounts.forms import ThrottledAuthenticationForm, ThrottledPasswordChangeForm
from server.accounts.models import User
from server.accounts.services import user_logout_everywhere


class SignInView(LoginView):
    form_class = ThrottledAuthenticationForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class ChangePasswordView(PasswordChangeView):
    """Django's password change, checked by AUTH_PASSWORD_VALIDATORS; keeps this session.

    The old password is counted by the sign-in lock-out (`ThrottledPasswordChangeForm`).
    """

    form_class = ThrottledPasswordChangeForm
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("web:home")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, _("Your password has been changed."))
        return response


@require_POST
@login_required
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    user_logout_everywhere(user=request.user)
    logout(request)
    messages.success(request, _("You have been signed out on every device."))
    return redirect("accounts:login")
