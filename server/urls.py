"""Top-level URLs: pages, the REST API and its schema, health probes, admin."""

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from server import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Both for the signed-in only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]); the docs page
    # loads its script from a URL of its own, as the Content-Security-Policy allows no inline one.
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        login_required(
            SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api_docs.html")
        ),
        name="api-docs",
    ),
    path("api/v1/", include("server.directory.api_urls")),
    path("api/v1/consults/", include("consult.api_urls")),
    path("api/v1/imaging/", include("imaging.api_urls")),
    path("dicomweb/", include("imaging.dicomweb_urls")),
    # The admin's password change would check the old password without the sign-in lock-out;
    # the product's page counts it (and keeps the session as the admin's does).
    path(
        "admin/password_change/",
        RedirectView.as_view(pattern_name="accounts:password_change"),
        name="admin-password-change",
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("server.accounts.page_urls")),
    path("consults/", include("consult.page_urls")),
    path("imaging/", include("imaging.page_urls")),
    path("", include("server.web.page_urls")),
]
