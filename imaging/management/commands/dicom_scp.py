"""Run the DICOM SCP in its own process: `manage.py dicom_scp`."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from imaging.dimse import scp_serve


class Command(BaseCommand):
    help = (
        "Serve C-ECHO, C-STORE, C-FIND and C-GET to registered calling AE titles on "
        "DICOM_SCP_BIND:DICOM_SCP_PORT as DICOM_SCP_AE_TITLE."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        scp_serve(
            bind=settings.DICOM_SCP_BIND,
            port=settings.DICOM_SCP_PORT,
            ae_title=settings.DICOM_SCP_AE_TITLE,
        )
