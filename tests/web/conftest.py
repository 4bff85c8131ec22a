"""Web test setup: the frontend build and the Chinese catalogue must exist."""

from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture
def built_assets() -> None:
    """Fail with the command to run when the pages cannot render for want of a build."""
    manifest = Path(settings.FRONTEND_DIST) / ".vite" / "manifest.json"
    if not manifest.exists():
        pytest.fail(f"{manifest} is missing: run npm run build in frontend/ (or make build).")
    catalogue = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"
    if not catalogue.exists():
        pytest.fail(f"{catalogue} is missing: run .venv/bin/python manage.py compilemessages.")
