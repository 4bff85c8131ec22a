"""The consortium directory: institutions, departments, practitioners, patients, grants."""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Consortium(models.Model):
    code = models.SlugField(unique=True)
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        verbose_name = _("consortium")
        verbose_name_plural = _("consortia")

    def __str__(self) -> str:
        return self.name


class InstitutionLevel(models.TextChoices):
    TOWNSHIP = "township", _("Township health centre")
    COUNTY = "county", _("County hospital")
    CITY = "city", _("City hospital")


class Institution(models.Model):
    consortium = models.ForeignKey(
        Consortium, on_delete=models.PROTECT, related_name="institutions"
    )
    code = models.SlugField(unique=True)
    name = models.CharField(_("name"), max_length=200)
    level = models.CharField(_("level"), max_length=16, choices=InstitutionLevel.choices)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["consortium_id", "name"]

    def __str__(self) -> str:
        return self.name


class Specialty(models.TextChoices):
    GENERAL_PRACTICE = "general_practice", _("General practice")
    INTERNAL_MEDICINE = "internal_medicine", _("Internal medicine")
    CARDIOLOGY = "cardiology", _("Cardiology")
    RADIOLOGY = "radiology", _("Radiology")
    OBSTETRICS = "obstetrics", _("Obstetrics")
    ADMINISTRATION = "administration", _("Administration")


class Department(models.Model):
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="departments"
    )
    name = models.CharField(_("name"), max_length=200)
    specialty = models.CharField(_("specialty"), max_length=32, choices=Specialty.choices)
    head = models.ForeignKey(
        "Practitioner", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        constraints = [
            models.UniqueConstraint(fields=["institution", "name"], name="department_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.institution} · {self.name}"


class Title(models.TextChoices):
    """Clinical titles, in rising order; `rank` compares them."""

    RESIDENT = "resident", _("Resident physician")
    ATTENDING = "attending", _("Attending physician")
    ASSOCIATE_CHIEF = "associate_chief", _("Associate chief physician")
    CHIEF = "chief", _("Chief physician")
    NONE = "none", _("No clinical title")

    @property
    def rank(self) -> int:
        order = [Title.NONE, Title.RESIDENT, Title.ATTENDING, Title.ASSOCIATE_CHIEF, Title.CHIEF]
        return order.index(self)


class Role(models.TextChoices):
    CLINIC_DOCTOR = "clinic_doctor", _("Clinic doctor")
    SPECIALIST = "specialist", _("Specialist")
    COORDINATOR = "coordinator", _("Coordinator")
    INSTITUTION_ADMIN = "institution_admin", _("Institution administrator")


class Practitioner(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="practitioner"
    )
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="practitioners"
    )
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="practitioners"
    )
    display_name = models.CharField(pgettext_lazy("person", "name"), max_length=100)
    specialty = models.CharField(_("specialty"), max_length=32, choices=Specialty.choices)
    title = models.CharField(_("title"), max_length=20, choices=Title.choices, default=Title.NONE)
    licence_number = models.CharField(_("licence number"), max_length=32, blank=True)
    independent_practice_since = models.DateField(
        _("independent practice since"), null=True, blank=True
    )
    # Work mobile for urgent consult messages (SMS/WeChat); never shown to patients.
    mobile = models.CharField(_("mobile phone"), max_length=32, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("practitioner")
        verbose_name_plural = _("practitioners")
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["licence_number"],
                condition=~Q(licence_number=""),
                name="practitioner_unique_licence",
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def years_of_independent_practice(self) -> int:
        since = self.independent_practice_since
        if since is None:
            return 0
        today = timezone.localdate()
        return today.year - since.year - ((today.month, today.day) < (since.month, since.day))


class PractitionerRole(models.Model):
    practitioner = models.ForeignKey(Practitioner, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=32, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["practitioner", "role"], name="practitioner_role_once")
        ]

    def __str__(self) -> str:
        return f"{self.practitioner_id}:{self.role}"


class Sex(models.TextChoices):
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Unknown")


class Patient(models.Model):
    """A consortium-wide patient identity."""

    consortium = models.ForeignKey(Consortium, on_delete=models.PROTECT, related_name="patients")
    home_institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="home_patients"
    )
    # HMAC-SHA256 of the normalised national ID; the number itself is never stored.
    national_id_hash = models.CharField(max_length=64, blank=True, db_index=True)
    health_card_number = models.CharField(_("health card number"), max_length=32, blank=True)
    name = models.CharField(pgettext_lazy("person", "name"), max_length=100)
    sex = models.CharField(_("sex"), max_length=8, choices=Sex.choices)
    birth_date = models.DateField(_("birth date"))
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="merged_from"
    )
    registered_by = models.ForeignKey(
        Practitioner, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    registered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        indexes = [
            models.Index(fields=["consortium", "name", "birth_date", "sex"]),
            models.Index(fields=["consortium", "health_card_number"]),
        ]
        constraints = [
            # A national ID number names one person: one current record per consortium.
            # A record merged into another keeps its hash for history.
            models.UniqueConstraint(
                fields=["consortium", "national_id_hash"],
                condition=~Q(national_id_hash="") & Q(merged_into__isnull=True),
                name="patient_unique_national_id",
            )
        ]

    def __str__(self) -> str:
        return f"Patient {self.pk}"

    @property
    def age(self) -> int:
        today = timezone.localdate()
        born: date = self.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


class DuplicateReason(models.TextChoices):
    SAME_NATIONAL_ID = "same_national_id", _("Same national ID")
    SAME_HEALTH_CARD = "same_health_card", _("Same health card number")
    SAME_DEMOGRAPHICS = "same_demographics", _("Same name, birth date and sex")


class DuplicateStatus(models.TextChoices):
    OPEN = "open", _("Awaiting review")
    MERGED = "merged", _("Merged")
    DISMISSED = "dismissed", _("Not the same person")


class PatientDuplicate(models.Model):
    """A suspected duplicate found at registration, waiting for a coordinator's review."""

    consortium = models.ForeignKey(Consortium, on_delete=models.PROTECT, related_name="+")
    new_patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    existing_patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=24, choices=DuplicateReason.choices)
    status = models.CharField(
        max_length=12, choices=DuplicateStatus.choices, default=DuplicateStatus.OPEN
    )
    detected_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(
        Practitioner, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["new_patient", "existing_patient"], name="duplicate_pair_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.new_patient_id}~{self.existing_patient_id} ({self.status})"


def access_grant_default_end() -> datetime:
    """When a grant opened now ends unless its source renews or closes it first."""
    return timezone.now() + timedelta(days=settings.ACCESS_GRANT_DAYS)


class AccessGrant(models.Model):
    """Access to one patient for one person, opened by a consult or referral: from its start
    until its end (every grant has one), or until its source closes it."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="access_grants")
    # Where the person works: the grant holds only while they work there.
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+")
    # The person the grant is for. Rows from before issue 15 name none and gave the whole
    # institution the patient; they are ended, and the policy reads no such row.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    source_type = models.CharField(max_length=32)
    source_id = models.CharField(max_length=64)
    reason = models.CharField(max_length=200)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(default=access_grant_default_end)

    class Meta:
        indexes = [
            models.Index(fields=["institution", "patient"]),
            models.Index(fields=["user", "patient"]),
            models.Index(fields=["source_type", "source_id"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_type", "source_id", "institution", "user", "patient"],
                name="grant_once_per_source",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_type}:{self.source_id} → {self.institution_id}"
