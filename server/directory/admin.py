"""Django admin for the consortium directory.

Patients are deliberately absent: every read of patient data goes through the access policy
and the audit trail, which the admin would bypass.
"""

from django.contrib import admin

from server.directory.models import (
    Consortium,
    Department,
    Institution,
    Practitioner,
    PractitionerRole,
)


@admin.register(Consortium)
class ConsortiumAdmin(admin.ModelAdmin[Consortium]):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


class DepartmentInline(admin.TabularInline[Department, Institution]):
    model = Department
    extra = 0
    fields = ["name", "specialty", "head"]
    raw_id_fields = ["head"]


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin[Institution]):
    list_display = ["name", "code", "level", "parent", "consortium"]
    list_filter = ["consortium", "level"]
    search_fields = ["name", "code"]
    inlines = [DepartmentInline]


class PractitionerRoleInline(admin.TabularInline[PractitionerRole, Practitioner]):
    model = PractitionerRole
    extra = 1


@admin.register(Practitioner)
class PractitionerAdmin(admin.ModelAdmin[Practitioner]):
    list_display = ["display_name", "institution", "department", "specialty", "title", "is_active"]
    list_filter = ["institution__consortium", "institution", "specialty", "title", "is_active"]
    search_fields = ["display_name", "user__username", "licence_number"]
    raw_id_fields = ["user"]
    inlines = [PractitionerRoleInline]
