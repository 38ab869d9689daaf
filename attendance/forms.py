"""The session picker: a date and the service or one of the church's groups."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone

SERVICE_LABEL = "Service"


class SessionForm(forms.Form):
    """Which session to record. Used by the start form, the checklist URL and the save POST.

    `group` cleans to a group id (or None for the service) rather than a Group: the view
    fetches it through `get_for_church`, so another church's group is a 404 as everywhere.
    """

    date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": "Enter a date as YYYY-MM-DD.", "required": "Choose a date."},
    )
    # Rendered by the template from the cached (id, name) choices: thousands of options
    # through Django's widget machinery cost a second per page.
    group = forms.CharField(required=False, label="Service or group")

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("initial", {"date": timezone.localdate()})
        super().__init__(*args, **kwargs)

    def clean_date(self) -> datetime.date:
        date = self.cleaned_data["date"]
        if date > timezone.localdate():
            raise forms.ValidationError("Attendance cannot be recorded for a date in the future.")
        return date

    def clean_group(self) -> int | None:
        raw = (self.cleaned_data.get("group") or "").strip()
        if not raw:
            return None
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # 18 digits fit a bigint
            raise forms.ValidationError("Choose the service or one of the church's groups.")
        return int(raw)
