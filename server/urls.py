"""Top-level URLs: pages, the REST API and its schema, health probes, admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from server import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("server.directory.api_urls")),
    path("api/v1/consults/", include("consult.api_urls")),
    path("api/v1/imaging/", include("imaging.api_urls")),
    path("dicomweb/", include("imaging.dicomweb_urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("server.accounts.page_urls")),
    path("consults/", include("consult.page_urls")),
    path("imaging/", include("imaging.page_urls")),
    path("", include("server.web.page_urls")),
]
