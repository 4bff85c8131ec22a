"""Consult requests (FHIR ServiceRequest), each party's work on them (Task), opinions, deadlines."""

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

OPINION_LABEL = "会诊意见（供参考）"  # noqa: RUF001 - the fullwidth brackets are the label


class Kind(models.TextChoices):
    CONSULT = "consult", _("Consultation")
    MDT = "mdt", _("Multidisciplinary case discussion")
    IMAGING_READING = "imaging_reading", _("Imaging reading")
    ECG_READING = "ecg_reading", _("ECG reading")


class Mode(models.TextChoices):
    LIVE = "live", _("Live video")
    OFFLINE = "offline", _("Offline review")


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


class SpecialistDuty(models.Model):
    """Whether a specialist takes automatically routed consults right now."""

    practitioner = models.OneToOneField(
        Practitioner, on_delete=models.CASCADE, related_name="consult_duty"
    )
    on_duty = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.practitioner_id}: {'on' if self.on_duty else 'off'} duty"


class Opinion(models.Model):
    """The written answer to a consult; its content lives in versions."""

    consult = models.OneToOneField(ConsultRequest, on_delete=models.CASCADE, related_name="opinion")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Opinion on {self.consult_id}"


class OpinionVersion(models.Model):
    """One version: a draft being written, or a signed and frozen one (amendments add more)."""

    opinion = models.ForeignKey(Opinion, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    findings = models.TextField(_("findings"), blank=True)
    impression = models.TextField(_("impression / diagnosis"), blank=True)
    recommendations = models.TextField(_("recommendations"), blank=True)
    referral_advised = models.BooleanField(_("referral advised"), default=False)
    follow_up_advice = models.TextField(_("follow-up advice"), blank=True)
    amendment_reason = models.TextField(blank=True)
    # MDT members' contributions as signed: [{"practitioner_id", "name", "text"}].
    contributions = models.JSONField(default=list)
    edited_by = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, null=True, related_name="+"
    )
    signed_by = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["opinion", "number"], name="opinion_version_once"),
            models.UniqueConstraint(
                fields=["opinion"],
                condition=Q(signed_at__isnull=True),
                name="opinion_one_draft",
            ),
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True)
                | (Q(signed_by__isnull=False) & ~Q(content_sha256="")),
                name="opinion_signed_has_hash",
            ),
        ]

    def __str__(self) -> str:
        return f"Opinion {self.opinion_id} v{self.number}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class OpinionContribution(models.Model):
    """An MDT member's part of the discussion, editable until the lead signs."""

    opinion = models.ForeignKey(Opinion, on_delete=models.CASCADE, related_name="contributions")
    practitioner = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["opinion", "practitioner"], name="contribution_once_per_member"
            )
        ]

    def __str__(self) -> str:
        return f"{self.opinion_id}:{self.practitioner_id}"


class AttachmentKind(models.TextChoices):
    PHOTO = "photo", _("Photo")
    DOCUMENT = "document", _("Document")
    ECG = "ecg", _("ECG tracing")
    CONSENT_FORM = "consent_form", _("Scanned consent form")


def _attachment_path(instance: "ConsultAttachment", filename: str) -> str:
    # Stored under its content hash: the uploaded name may carry the patient's name.
    return f"consult/{instance.consult_id}/{instance.sha256}{instance.extension}"


class ConsultAttachment(models.Model):
    """A file sent with the request; type and size are checked in consult/files.py."""

    consult = models.ForeignKey(
        ConsultRequest, on_delete=models.CASCADE, related_name="attachments"
    )
    kind = models.CharField(max_length=16, choices=AttachmentKind.choices)
    file = models.FileField(upload_to=_attachment_path, max_length=200)
    content_type = models.CharField(max_length=64)
    extension = models.CharField(max_length=8)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=200)
    uploaded_by = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return f"{self.consult_id}:{self.kind}:{self.pk}"


class ConsultStudy(models.Model):
    """An archive study attached to a consult (FHIR ServiceRequest.supportingInfo): its
    participants may see it for as long as the consult is open."""

    consult = models.ForeignKey(ConsultRequest, on_delete=models.CASCADE, related_name="studies")
    study = models.ForeignKey("imaging.Study", on_delete=models.CASCADE, related_name="+")
    attached_by = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    attached_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["attached_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["consult", "study"], name="consult_study_once"),
        ]

    def __str__(self) -> str:
        return f"{self.consult_id}:study {self.study_id}"


class MessageReason(models.TextChoices):
    CRITICAL_ASSIGNED = "critical_assigned", _("Critical consult assigned")
    CRITICAL_ESCALATED = "critical_escalated", _("Critical consult missed a deadline")


class MessageState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    NO_PHONE = "no_phone", _("Not sent: no mobile phone on file")


class OutboundMessage(models.Model):
    """An SMS/WeChat message about a consult; the unique key makes it one message, however
    often it is queued or its task retried."""

    key = models.CharField(max_length=100, unique=True)
    consult = models.ForeignKey(ConsultRequest, on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    reason = models.CharField(max_length=24, choices=MessageReason.choices)
    # Ids only: the text never names the patient, since it leaves the system.
    text = models.CharField(max_length=300)
    state = models.CharField(
        max_length=10, choices=MessageState.choices, default=MessageState.PENDING
    )
    channel = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class ReviewSession(models.Model):
    """Participants of a consult looking at one of its studies together, following one lead."""

    consult = models.ForeignKey(
        ConsultRequest, on_delete=models.CASCADE, related_name="review_sessions"
    )
    study = models.ForeignKey("imaging.Study", on_delete=models.CASCADE, related_name="+")
    # Null while nobody is in the review; the first to join leads.
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consult", "study"], name="review_session_once")
        ]

    def __str__(self) -> str:
        return f"Review of study {self.study_id} in consult {self.consult_id}"


class ReviewPresence(models.Model):
    """One open socket in a review; a user with two tabs is present twice."""

    session = models.ForeignKey(ReviewSession, on_delete=models.CASCADE, related_name="presences")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=100, unique=True)
    joined_at = models.DateTimeField(default=timezone.now)
    # Refreshed by the socket's pings; a row not seen for a while is a socket whose server
    # process died without saying goodbye, and no longer counts as present.
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["joined_at", "pk"]

    def __str__(self) -> str:
        return f"{self.session_id}:{self.user_id}"


class ReviewAnnotation(models.Model):
    """A measurement or annotation drawn on a consult's study (Cornerstone's annotation JSON)."""

    consult = models.ForeignKey(
        ConsultRequest, on_delete=models.CASCADE, related_name="review_annotations"
    )
    study = models.ForeignKey("imaging.Study", on_delete=models.CASCADE, related_name="+")
    annotation_uid = models.CharField(max_length=64)
    series_instance_uid = models.CharField(max_length=64)
    sop_instance_uid = models.CharField(max_length=64)
    tool = models.CharField(max_length=32)
    data = models.JSONField()
    author = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["consult", "annotation_uid"], name="review_annotation_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.consult_id}:{self.tool}:{self.annotation_uid}"


def _key_image_path(instance: "OpinionKeyImage", filename: str) -> str:
    # Named by content: the same picture kept by an amendment is stored once.
    return f"consult/{instance.version.opinion.consult_id}/key-images/{instance.sha256}.png"


class OpinionKeyImage(models.Model):
    """An image of the study, drawn with its annotations, chosen to illustrate the opinion.

    It belongs to one version: added to the draft, frozen (and hashed) when it is signed.
    """

    version = models.ForeignKey(OpinionVersion, on_delete=models.CASCADE, related_name="key_images")
    study_instance_uid = models.CharField(max_length=64)
    sop_instance_uid = models.CharField(max_length=64)
    caption = models.CharField(_("caption"), max_length=200, blank=True)
    file = models.FileField(upload_to=_key_image_path, max_length=200)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    added_by = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added_at", "pk"]

    def __str__(self) -> str:
        return f"{self.version_id}:key image {self.pk}"
