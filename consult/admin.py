"""Admin for consult configuration only; consults themselves carry patient data and stay out."""

from django.contrib import admin

from consult.models import CalendarDay, DeadlinePolicy, SpecialistDuty


@admin.register(DeadlinePolicy)
class DeadlinePolicyAdmin(admin.ModelAdmin[DeadlinePolicy]):
    list_display = [
        "consortium",
        "urgency",
        "accept_within",
        "accept_unit",
        "opinion_within",
        "opinion_unit",
    ]
    list_filter = ["consortium", "urgency"]


@admin.register(SpecialistDuty)
class SpecialistDutyAdmin(admin.ModelAdmin[SpecialistDuty]):
    list_display = ["practitioner", "on_duty", "changed_at"]
    list_filter = ["on_duty"]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin[CalendarDay]):
    """Holidays and make-up working days; rows without a consortium are the national calendar."""

    list_display = ["date", "is_working_day", "name", "consortium"]
    list_filter = ["is_working_day", "consortium"]
    date_hierarchy = "date"
    search_fields = ["name"]
