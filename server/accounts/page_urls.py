"""URLs of the sign-in pages, mounted at /accounts/."""

from django.contrib.auth.views import LogoutView
from django.urls import path

from server.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("logout-everywhere/", views.logout_everywhere, name="logout_everywhere"),
    path("password/", views.ChangePasswordView.as_view(), name="password_change"),
]
