"""Admin: read-only lists of the archive (changes go through the imaging services) and the
registry of calling AE titles that may use the DICOM SCP."""

from django.contrib import admin
from django.http import HttpRequest

from imaging.models import CallingAETitle, Study


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin[Study]):
    list_display = ["id", "institution", "source", "modalities_in_study", "instance_count"]
    list_filter = ["source", "institution"]
    readonly_fields = [field.name for field in Study._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Study | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Study | None = None) -> bool:
        return False


@admin.register(CallingAETitle)
class CallingAETitleAdmin(admin.ModelAdmin[CallingAETitle]):
    """Register the modalities and PACS that may associate with the DICOM SCP."""

    list_display = ["ae_title", "institution", "description", "active"]
    list_filter = ["active", "institution"]
    search_fields = ["ae_title", "description"]
