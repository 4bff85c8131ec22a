"""Consult requests (FHIR ServiceRequest), their choices, the doctors taking part (Task), their
status log, and specialists' duty."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from server.directory.models import (
    Consortium,
    Department,
    Institution,
    Patient,
    Practitioner,
    Specialty,
    Title,
)


class Kind(models.TextChoices):
    CONSULT = "consult", _("Consultation")
    MDT = "mdt", _("Multidisciplinary case discussion")
    IMAGING_READING = "imaging_reading", _("Imaging reading")
    ECG_READING = "ecg_reading", _("ECG reading")


class Mode(models.TextChoices):
    LIVE = "live", _("Live video")
    OFFLINE = "offline", _("Offline review")


# What a request may ask for: a clinical specialty and a clinical title. Administration (the
# directory's specialty of coordinators and administrators) and "no clinical title" are not asks.
ASKABLE_SPECIALTIES = [
    (v, label) for v, label in Specialty.choices if v != Specialty.ADMINISTRATION
]
ASKABLE_TITLES = [(v, label) for v, label in Title.choices if v != Title.NONE]


class Urgency(models.TextChoices):
    """ServiceRequest.priority: critical maps to `stat`, urgent to `urgent`."""

    CRITICAL = "critical", _("Critical")
    URGENT = "urgent", _("Urgent")
    ROUTINE = "routine", _("Routine")


class Status(models.TextChoices):
    """Lifecycle; the allowed moves are the table in consult/lifecycle.py."""

    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    ASSIGNED = "assigned", _("Assigned")
    ACCEPTED = "accepted", _("Accepted")
    SCHEDULED = "scheduled", _("Scheduled")
    UNDER_REVIEW = "under_review", _("Under review")
    IN_SESSION = "in_session", _("In session")
    NEEDS_INFO = "needs_info", _("Waiting for information")
    DECLINED = "declined", _("Declined")
    OPINION_SIGNED = "opinion_signed", _("Opinion signed")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")
    ENTERED_IN_ERROR = "entered_in_error", _("Entered in error")


class TargetKind(models.TextChoices):
    SPECIALIST = "specialist", _("Named specialist")
    DEPARTMENT = "department", _("Department queue")
    CONSULT_CENTRE = "consult_centre", _("Consortium consult centre")


class ConsentRelation(models.TextChoices):
    SELF = "self", _("Patient")
    SPOUSE = "spouse", _("Spouse")
    CHILD = "child", _("Child")
    PARENT = "parent", _("Parent")
    GUARDIAN = "guardian", _("Legal guardian")
    OTHER = "other", _("Other close relative")


class ConsentMethod(models.TextChoices):
    WRITTEN = "written", _("Signed paper form (scanned)")
    ELECTRONIC = "electronic", _("Electronic signature")
    VERBAL_WITNESSED = "verbal_witnessed", _("Verbal, witnessed")


class Disposition(models.TextChoices):
    ADOPTED = "adopted", _("Adopted")
    PARTLY = "partly", _("Partly adopted")
    NOT_ADOPTED = "not_adopted", _("Not adopted")


class DeclineCode(models.TextChoices):
    OUTSIDE_SPECIALTY = "outside_specialty", _("Outside my specialty")
    UNAVAILABLE = "unavailable", _("Not available in time")
    INSUFFICIENT_INFO = "insufficient_info", _("Information insufficient for a remote opinion")
    NEEDS_IN_PERSON = "needs_in_person", _("Needs an in-person visit or transfer")
    OTHER = "other", _("Other")


class ConsultRequest(models.Model):
    """One invitation to consult about one patient (FHIR ServiceRequest)."""

    consortium = models.ForeignKey(Consortium, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices)
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    inviting_institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="+"
    )
    requester = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("reason"))
    purpose = models.TextField(_("purpose"))
    clinical_summary = models.TextField(_("clinical summary"))
    wanted_specialty = models.CharField(
        _("wanted specialty"), max_length=32, choices=Specialty.choices
    )
    minimum_title = models.CharField(
        _("minimum title"), max_length=20, choices=Title.choices, default=Title.ATTENDING
    )
    preferred_start = models.DateTimeField(_("preferred from"), null=True, blank=True)
    preferred_end = models.DateTimeField(_("preferred until"), null=True, blank=True)
    target_kind = models.CharField(_("target"), max_length=20, choices=TargetKind.choices)
    target_practitioner = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    target_department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Consent (2018 远程医疗服务管理规范): a signer, or an emergency waiver with a follow-up.
    consent_signer = models.CharField(_("consent signed by"), max_length=100, blank=True)
    consent_relation = models.CharField(
        _("relation to patient"), max_length=12, choices=ConsentRelation.choices, blank=True
    )
    consent_method = models.CharField(
        _("consent method"), max_length=20, choices=ConsentMethod.choices, blank=True
    )
    consent_recorded_at = models.DateTimeField(null=True, blank=True)
    emergency_waiver = models.BooleanField(_("emergency consent waiver"), default=False)
    waiver_reason = models.TextField(_("waiver reason"), blank=True)
    consent_follow_up_due = models.BooleanField(default=False)
    # Set while needs_info: the status the answer returns to.
    paused_from = models.CharField(max_length=20, choices=Status.choices, blank=True)
    info_request = models.TextField(blank=True)
    scheduled_start = models.DateTimeField(null=True, blank=True)
    disposition = models.CharField(max_length=12, choices=Disposition.choices, blank=True)
    next_steps = models.TextField(blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("consult request")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["consortium", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(target_kind=TargetKind.SPECIALIST)
                | Q(target_practitioner__isnull=False),
                name="consult_specialist_target_named",
            ),
            models.CheckConstraint(
                condition=~Q(target_kind=TargetKind.DEPARTMENT)
                | Q(target_department__isnull=False),
                name="consult_department_target_named",
            ),
            models.CheckConstraint(
                condition=Q(emergency_waiver=False) | ~Q(waiver_reason=""),
                name="consult_waiver_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Consult {self.pk} ({self.status})"


class ConsultParticipant(models.Model):
    """An invited doctor's part in a consult (FHIR Task.owner); MDT consults have several."""

    consult = models.ForeignKey(
        ConsultRequest, on_delete=models.CASCADE, related_name="participants"
    )
    practitioner = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    is_lead = models.BooleanField(default=False)
    invited_at = models.DateTimeField(default=timezone.now)
    # Set when the doctor declined or was replaced; the row stays as history.
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["consult", "practitioner"],
                condition=Q(ended_at__isnull=True),
                name="participant_active_once",
            ),
            models.UniqueConstraint(
                fields=["consult"],
                condition=Q(ended_at__isnull=True, is_lead=True),
                name="participant_one_active_lead",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.consult_id}:{self.practitioner_id}{' (lead)' if self.is_lead else ''}"


class ConsultEvent(models.Model):
    """One status change; append-only, the source of every turnaround figure."""

    consult = models.ForeignKey(ConsultRequest, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, choices=Status.choices)
    to_status = models.CharField(max_length=20, choices=Status.choices)
    # Null when the system moved it (routing, expiry).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason_code = models.CharField(max_length=32, blank=True)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["consult", "at"])]

    def __str__(self) -> str:
        return f"{self.consult_id}: {self.from_status} → {self.to_status}"


class SpecialistDuty(models.Model):
    """Whether a specialist takes automatically routed consults right now."""

    practitioner = models.OneToOneField(
        Practitioner, on_delete=models.CASCADE, related_name="consult_duty"
    )
    on_duty = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.practitioner_id}: {'on' if self.on_duty else 'off'} duty"
