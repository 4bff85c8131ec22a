"""Run the DICOM SCP in its own process: `manage.py dicom_scp`."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from imaging.dimse import scp_serve
from server.lib.startup import process_ready


class Command(BaseCommand):
    help = (
        "Serve C-ECHO, C-STORE, C-FIND and C-GET to registered calling AE titles on "
        "DICOM_SCP_BIND:DICOM_SCP_PORT as DICOM_SCP_AE_TITLE."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        process_ready()
        scp_serve(
            bind=settings.DICOM_SCP_BIND,
            port=settings.DICOM_SCP_PORT,
            ae_title=settings.DICOM_SCP_AE_TITLE,
            max_associations=settings.DICOM_SCP_MAX_ASSOCIATIONS,
            acse_timeout=settings.DICOM_SCP_ACSE_TIMEOUT,
            network_timeout=settings.DICOM_SCP_NETWORK_TIMEOUT,
        )
