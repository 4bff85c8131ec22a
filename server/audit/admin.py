from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from server.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    list_display = ["seq", "recorded_at", "event", "outcome", "actor_username", "patient_id"]
    list_filter = ["outcome", "action", "event"]
    search_fields = ["actor_username", "resource_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
