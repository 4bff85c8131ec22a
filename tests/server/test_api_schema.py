"""The OpenAPI schema describes the API and its docs page is served locally."""

import io

from django.core.management import call_command
from django.test import Client

from tests.conftest import World
from tests.factories import PASSWORD


def test_openapi_schema_lists_the_patient_endpoints(world: World) -> None:
    client = Client()
    client.login(username="clinic", password=PASSWORD)
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/patients/", "/api/v1/patients/{patient_id}/", "/api/v1/me/"} <= set(
        schema["paths"]
    )
    assert "post" in schema["paths"]["/api/v1/patients/"]


def test_api_docs_page_uses_no_public_cdn(world: World) -> None:
    client = Client()
    client.login(username="clinic", password=PASSWORD)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert "cdn.jsdelivr.net" not in response.content.decode()


def test_admin_does_not_expose_patients(admin_client: Client) -> None:
    assert admin_client.get("/admin/directory/patient/").status_code == 404
    assert admin_client.get("/admin/directory/institution/").status_code == 200


def test_schema_generates_without_warnings(db: None) -> None:
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=io.StringIO())
