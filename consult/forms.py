"""Forms of the consult pages: input checks only; the consult services decide what is allowed."""

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from consult.models import (
    ASKABLE_SPECIALTIES,
    ASKABLE_TITLES,
    ConsentMethod,
    ConsentRelation,
    ConsultRequest,
    DeclineCode,
    Disposition,
    Kind,
    Mode,
    TargetKind,
    Urgency,
)
from consult.services import ConsultDraft, ConsultDraftChanges, OpinionSections
from server.directory.models import Department, Patient, Practitioner, Title

TEXTAREA_ROWS = 4


def _text(label: str | Any, *, rows: int = TEXTAREA_ROWS, required: bool = True) -> forms.Field:
    return forms.CharField(
        label=label,
        max_length=20000,
        required=required,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


def _blank(choices: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [("", "—"), *choices]


class PatientChoice(forms.ModelChoiceField):  # type: ignore[type-arg]  # untyped in stubs
    def label_from_instance(self, obj: Any) -> str:
        assert isinstance(obj, Patient)
        # The health card number tells apart namesakes born the same day.
        card = obj.health_card_number or _("no health card")
        return f"{obj.name} · {card} · {obj.birth_date:%Y-%m-%d}"


class SpecialistSelect(forms.Select):
    """Each specialist's option carries their specialty and title rank, so the page can offer
    only those who fit the specialty and title asked for."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option: dict[str, Any] = super().create_option(*args, **kwargs)
        practitioner = getattr(option["value"], "instance", None)
        if isinstance(practitioner, Practitioner):
            option["attrs"]["data-specialty"] = practitioner.specialty
            option["attrs"]["data-title-rank"] = Title(practitioner.title).rank
        return option


class TitleSelect(forms.Select):
    """Each title's option carries its rank, which the specialists' options are compared to."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option: dict[str, Any] = super().create_option(*args, **kwargs)
        if option["value"] in Title.values:
            option["attrs"]["data-rank"] = Title(option["value"]).rank
        return option


class SpecialistChoice(forms.ModelChoiceField):  # type: ignore[type-arg]  # untyped in stubs
    widget = SpecialistSelect

    def label_from_instance(self, obj: Any) -> str:
        assert isinstance(obj, Practitioner)
        return f"{obj.display_name} · {obj.get_title_display()} · {obj.institution.name}"


# Required for submitting (the service checks at submit), not for saving a draft: marked in the
# HTML and visually, and the page drops the mark while an emergency waiver is ticked.
CONSENT_REQUIRED = {"required": True, "data-consent": "required"}


class DepartmentChoice(forms.ModelChoiceField):  # type: ignore[type-arg]  # untyped in stubs
    def label_from_instance(self, obj: Any) -> str:
        assert isinstance(obj, Department)
        return f"{obj.institution.name} · {obj.name}"


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


class ConsultRequestForm(forms.Form):
    """The invitation (ConsultDraft); dates are read in Asia/Shanghai, the active time zone."""

    patient = PatientChoice(label=_("Patient"), queryset=Patient.objects.none())
    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices, initial=Kind.CONSULT)
    mode = forms.ChoiceField(
        label=_("Mode"),
        choices=Mode.choices,
        initial=Mode.OFFLINE,
        help_text=_(
            "A live video session is held by phone or on the consortium's video system at the "
            "scheduled time; Yunzhen schedules it and records the opinion."
        ),
    )
    urgency = forms.ChoiceField(
        label=_("Urgency"), choices=Urgency.choices, initial=Urgency.ROUTINE
    )
    reason = _text(_("Reason for the consult"), rows=3)
    purpose = _text(_("Purpose (what you want answered)"), rows=3)
    clinical_summary = _text(_("Clinical summary"), rows=6)
    # No default: the doctor says which specialty, and the specialists on offer follow it.
    wanted_specialty = forms.ChoiceField(
        label=_("Specialty wanted"), choices=_blank(ASKABLE_SPECIALTIES)
    )
    minimum_title = forms.ChoiceField(
        label=_("Minimum title"),
        choices=ASKABLE_TITLES,
        initial=Title.ATTENDING,
        widget=TitleSelect,
    )
    preferred_start = forms.DateTimeField(
        label=_("Preferred from"), required=False, widget=LocalDateTimeInput()
    )
    preferred_end = forms.DateTimeField(
        label=_("Preferred until"), required=False, widget=LocalDateTimeInput()
    )
    target_kind = forms.ChoiceField(
        label=_("Send to"), choices=TargetKind.choices, initial=TargetKind.SPECIALIST
    )
    target_practitioner = SpecialistChoice(
        label=_("Named specialist"), queryset=Practitioner.objects.none(), required=False
    )
    target_department = DepartmentChoice(
        label=_("Department queue"), queryset=Department.objects.none(), required=False
    )
    consent_signer = forms.CharField(
        label=_("Consent signed by"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs=CONSENT_REQUIRED),
    )
    consent_relation = forms.ChoiceField(
        label=_("Relation to patient"),
        choices=_blank(ConsentRelation.choices),
        required=False,
        widget=forms.Select(attrs=CONSENT_REQUIRED),
    )
    consent_method = forms.ChoiceField(
        label=_("Consent method"),
        choices=_blank(ConsentMethod.choices),
        required=False,
        widget=forms.Select(attrs=CONSENT_REQUIRED),
    )
    emergency_waiver = forms.BooleanField(
        label=_("Emergency: consent cannot be obtained in time"), required=False
    )
    waiver_reason = _text(_("Why consent cannot be obtained"), rows=2, required=False)

    def __init__(
        self,
        data: Any = None,
        *,
        patients: QuerySet[Patient],
        specialists: QuerySet[Practitioner],
        departments: QuerySet[Department],
        initial: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(data, initial=initial)
        self.fields["patient"].queryset = patients  # type: ignore[attr-defined]  # ModelChoiceField
        self.fields["target_practitioner"].queryset = specialists  # type: ignore[attr-defined]  # ModelChoiceField
        self.fields["target_department"].queryset = departments  # type: ignore[attr-defined]  # ModelChoiceField

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        target = data.get("target_kind")
        if target == TargetKind.SPECIALIST and not data.get("target_practitioner"):
            self.add_error("target_practitioner", _("Choose the specialist."))
        if target == TargetKind.DEPARTMENT and not data.get("target_department"):
            self.add_error("target_department", _("Choose the department."))
        return data

    def draft(self) -> ConsultDraft:
        data = self.cleaned_data
        practitioner = data.get("target_practitioner")
        department = data.get("target_department")
        return ConsultDraft(
            patient_id=data["patient"].pk,
            kind=data["kind"],
            mode=data["mode"],
            urgency=data["urgency"],
            reason=data["reason"],
            purpose=data["purpose"],
            clinical_summary=data["clinical_summary"],
            wanted_specialty=data["wanted_specialty"],
            minimum_title=data["minimum_title"],
            target_kind=data["target_kind"],
            target_practitioner_id=practitioner.pk if practitioner else None,
            target_department_id=department.pk if department else None,
            preferred_start=data.get("preferred_start"),
            preferred_end=data.get("preferred_end"),
            consent_signer=data.get("consent_signer", ""),
            consent_relation=data.get("consent_relation", ""),
            consent_method=data.get("consent_method", ""),
            emergency_waiver=bool(data.get("emergency_waiver")),
            waiver_reason=data.get("waiver_reason", ""),
        )

    def changes(self) -> ConsultDraftChanges:
        """Every field but the patient, which a draft keeps."""
        fields = dataclasses.asdict(self.draft())
        del fields["patient_id"]
        return cast(ConsultDraftChanges, fields)


def consult_request_initial(consult: ConsultRequest) -> dict[str, Any]:
    """The request form filled in with a saved draft."""
    names = [name for name in ConsultRequestForm.base_fields if not name.startswith("target_")]
    initial = {name: getattr(consult, name) for name in names if name != "patient"}
    return {
        **initial,
        "patient": consult.patient_id,
        "target_kind": consult.target_kind,
        "target_practitioner": consult.target_practitioner_id,
        "target_department": consult.target_department_id,
    }


# Field names of ConsultDraft that the form names differently.
DRAFT_FIELD_NAMES = {
    "patient_id": "patient",
    "target_practitioner_id": "target_practitioner",
    "target_department_id": "target_department",
}


class QuestionForm(forms.Form):
    prefix = "question"
    reason = _text(_("Your question"), rows=3)


class AnswerForm(forms.Form):
    prefix = "answer"
    reason = _text(_("Your answer"), rows=3)


class CancelForm(forms.Form):
    prefix = "cancel"
    reason = _text(_("Why the request is cancelled"), rows=2)


class DeclineForm(forms.Form):
    prefix = "decline"
    reason_code = forms.ChoiceField(label=_("Reason"), choices=_blank(DeclineCode.choices))
    reason = _text(_("Explanation"), rows=3)


class AttachStudyForm(forms.Form):
    study_instance_uid = forms.RegexField(label=_("Study"), regex=r"^[0-9.]{1,64}$", max_length=64)


class ScheduleForm(forms.Form):
    scheduled_start = forms.DateTimeField(label=_("Session starts"), widget=LocalDateTimeInput())


class OpinionForm(forms.Form):
    findings = _text(_("Findings"), rows=5, required=False)
    impression = _text(_("Impression / diagnosis"), rows=4, required=False)
    recommendations = _text(_("Recommendations"), rows=5, required=False)
    referral_advised = forms.BooleanField(label=_("Referral advised"), required=False)
    follow_up_advice = _text(_("Follow-up advice"), rows=3, required=False)
    amendment_reason = _text(_("Reason for the amendment"), rows=2, required=False)

    @classmethod
    def posted_in(cls, data: Mapping[str, object]) -> bool:
        """Whether a post carries the editor's text (the text areas are always sent)."""
        return "impression" in data

    def sections(self) -> OpinionSections:
        data = self.cleaned_data
        return OpinionSections(
            findings=data["findings"],
            impression=data["impression"],
            recommendations=data["recommendations"],
            referral_advised=bool(data["referral_advised"]),
            follow_up_advice=data["follow_up_advice"],
        )


class SignForm(forms.Form):
    password = forms.CharField(
        label=_("Your password, to sign"),
        strip=False,
        # The editor's form carries it, so the signature goes with the fields on screen.
        widget=forms.PasswordInput(
            attrs={"autocomplete": "current-password", "form": "opinion-form"}
        ),
    )


class ContributionForm(forms.Form):
    text = _text(_("Your contribution"), rows=5)


class AcknowledgeForm(forms.Form):
    disposition = forms.ChoiceField(
        label=_("The opinion was"), choices=Disposition.choices, widget=forms.RadioSelect
    )
    next_steps = _text(_("Next steps for the patient"), rows=3, required=False)


class AssignForm(forms.Form):
    """The invited doctors (one, or an MDT team) and the lead; ids of the listed candidates."""

    practitioners = forms.TypedMultipleChoiceField(
        label=_("Invited doctors"), coerce=int, error_messages={"required": _("Choose a doctor.")}
    )
    lead = forms.TypedChoiceField(label=_("Lead"), coerce=int, required=False, empty_value=None)

    def __init__(self, data: Any = None, *, practitioner_ids: list[int]) -> None:
        super().__init__(data)
        choices = [(str(i), str(i)) for i in practitioner_ids]
        self.fields["practitioners"].choices = choices  # type: ignore[attr-defined]  # ChoiceField
        self.fields["lead"].choices = [("", "—"), *choices]  # type: ignore[attr-defined]  # ChoiceField
