"""Consult deadlines: each consortium's limits, its working calendar, and missed deadlines."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consult.models.requests import ConsultRequest, Urgency
from server.directory.models import Consortium


class DeadlineKind(models.TextChoices):
    ACCEPT = "accept", _("Acceptance")
    OPINION = "opinion", _("Signed opinion")


class DeadlineUnit(models.TextChoices):
    MINUTES = "minutes", _("Minutes")
    HOURS = "hours", _("Hours")
    # Monday to Friday in Asia/Shanghai, corrected by CalendarDay rows (holidays, 调休).
    WORKING_DAYS = "working_days", _("Working days")


class DeadlinePolicy(models.Model):
    """A consortium's deadlines for one urgency; consortia without a row use the defaults."""

    consortium = models.ForeignKey(Consortium, on_delete=models.CASCADE, related_name="+")
    urgency = models.CharField(max_length=10, choices=Urgency.choices)
    accept_within = models.PositiveIntegerField()
    accept_unit = models.CharField(max_length=14, choices=DeadlineUnit.choices)
    opinion_within = models.PositiveIntegerField()
    opinion_unit = models.CharField(max_length=14, choices=DeadlineUnit.choices)

    class Meta:
        verbose_name = _("deadline policy")
        verbose_name_plural = _("deadline policies")
        constraints = [
            models.UniqueConstraint(fields=["consortium", "urgency"], name="deadline_policy_once")
        ]

    def __str__(self) -> str:
        return f"{self.consortium_id}:{self.urgency}"


class CalendarDay(models.Model):
    """A day that breaks the Monday-to-Friday rule: a public holiday, or a make-up working day.

    Rows without a consortium are the national calendar (loaded by `calendar_load_cn`); a
    consortium's own row for the same date overrides it, e.g. a local holiday of an autonomous
    region, or a hospital group that keeps a national holiday as a working day.
    """

    consortium = models.ForeignKey(
        Consortium,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty for the national calendar; set to override it for one consortium."),
    )
    date = models.DateField(_("date"))
    is_working_day = models.BooleanField(_("working day"))
    name = models.CharField(_("name"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["date", "consortium_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["date"],
                condition=Q(consortium__isnull=True),
                name="calendar_day_national_once",
            ),
            models.UniqueConstraint(
                fields=["consortium", "date"], name="calendar_day_consortium_once"
            ),
        ]

    def __str__(self) -> str:
        kind = "working" if self.is_working_day else "holiday"
        return f"{self.date:%Y-%m-%d} {kind} ({self.consortium_id or 'national'})"


class Escalation(models.Model):
    """A missed deadline, raised once: the unique constraint is what makes it exactly once."""

    consult = models.ForeignKey(
        ConsultRequest, on_delete=models.CASCADE, related_name="escalations"
    )
    deadline = models.CharField(max_length=10, choices=DeadlineKind.choices)
    due_at = models.DateTimeField()
    escalated_at = models.DateTimeField(default=timezone.now)
    recipient_ids = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consult", "deadline"], name="escalation_once")
        ]

    def __str__(self) -> str:
        return f"{self.consult_id}:{self.deadline}"
