"""Forms of the web pages: input checks only; the services decide what is allowed."""

import re
from datetime import date
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from server.directory.models import Sex

# GB 11643: 17 digits and a check character that is a digit or X.
NATIONAL_ID_FORMAT = re.compile(r"\d{17}[\dX]")


class PatientRegistrationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices)
    birth_date = forms.DateField(
        label=_("Birth date"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    national_id = forms.CharField(
        label=_("National ID number"),
        max_length=32,
        required=False,
        help_text=_("18 characters. Only a keyed hash is stored, never the number itself."),
    )
    health_card_number = forms.CharField(
        label=_("Health card number"), max_length=32, required=False
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )

    def clean_national_id(self) -> str:
        value = "".join(str(self.cleaned_data["national_id"]).split()).upper()
        if value and not NATIONAL_ID_FORMAT.fullmatch(value):
            raise forms.ValidationError(
                _(
                    "A national ID number has 18 characters: 17 digits followed by "
                    "a digit or the letter X."
                ),
                code="national_id_format",
            )
        return value

    def clean_birth_date(self) -> date:
        born: date = self.cleaned_data["birth_date"]
        if born > timezone.localdate():
            raise forms.ValidationError(
                _("The birth date cannot be in the future."), code="birth_date_future"
            )
        return born


class AuditFilterForm(forms.Form):
    """The audit browser's filters; choices come from the viewer's consortium."""

    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    user = forms.TypedChoiceField(label=_("User"), required=False, coerce=int, empty_value=None)
    patient = forms.CharField(
        label=_("Patient"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": _("Name, health card or record number")}),
    )
    event = forms.ChoiceField(label=_("Event"), required=False)
    institution = forms.TypedChoiceField(
        label=_("Institution"), required=False, coerce=int, empty_value=None
    )
    outcome = forms.ChoiceField(label=_("Outcome"), required=False)

    def __init__(
        self,
        data: Any,
        *,
        people: list[tuple[int, str]],
        events: list[tuple[str, str]],
        institutions: list[tuple[int, str]],
        outcomes: list[tuple[str, str]],
    ) -> None:
        super().__init__(data)
        every = ("", _("All"))
        self.fields["user"].choices = [every, *people]  # type: ignore[attr-defined]  # ChoiceField
        self.fields["event"].choices = [every, *events]  # type: ignore[attr-defined]  # ChoiceField
        self.fields["institution"].choices = [every, *institutions]  # type: ignore[attr-defined]  # ChoiceField
        self.fields["outcome"].choices = [every, *outcomes]  # type: ignore[attr-defined]  # ChoiceField

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date comes before the start date."))
        return data
