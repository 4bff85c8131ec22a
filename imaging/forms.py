"""Forms of the archive's pages: input checks only; the imaging services decide what is allowed."""

from django import forms
from django.utils.translation import gettext_lazy as _


class StudyDeleteForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for deleting"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Kept in the audit trail with the study's identifiers."),
    )
    confirm = forms.BooleanField(
        label=_("I understand that the study's images are deleted for good."), required=True
    )


class StudyLinkForm(forms.Form):
    patient_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
