"""The session picker (a date and the service or one of the church's groups), the head count
and the first-time visitor forms."""

from __future__ import annotations

import datetime

from django import forms

from members.models import Church
from members.timezones import church_today

SERVICE_LABEL = "Service"


class SessionForm(forms.Form):
    """Which session to record. Used by the start form, the checklist URL and the save POSTs.

    `group` cleans to a group id (or None for the service) rather than a Group: the view
    fetches it through `get_for_church`, so another church's group is a 404 as everywhere.
    Dates are the church's (members.timezones): "today" is today where the church is.
    """

    date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": "Enter a date as YYYY-MM-DD.", "required": "Choose a date."},
    )
    # Rendered by the template from the cached (id, name) choices: thousands of options
    # through Django's widget machinery cost a second per page.
    group = forms.CharField(required=False, label="Service or group")

    def __init__(self, *args, church: Church, **kwargs) -> None:
        self.today = church_today(church)
        # The start form may be sent with the date left empty: the session's own default day.
        kwargs.setdefault("use_required_attribute", False)
        super().__init__(*args, **kwargs)

    def clean_date(self) -> datetime.date:
        date = self.cleaned_data["date"]
        if date > self.today:
            raise forms.ValidationError("Attendance cannot be recorded for a date in the future.")
        return date

    def clean_group(self) -> int | None:
        raw = (self.cleaned_data.get("group") or "").strip()
        if not raw:
            return None
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # 18 digits fit a bigint
            raise forms.ValidationError("Choose the service or one of the church's groups.")
        return int(raw)


class HeadCountForm(forms.Form):
    """"240 present": a service counted rather than named. Empty or 0 removes the count."""

    present = forms.IntegerField(
        required=False, min_value=0, max_value=1_000_000, label="People present (head count)",
        error_messages={"invalid": "Enter the head count as a whole number, e.g. 240.",
                        "min_value": "A head count can't be negative.",
                        "max_value": "Enter a head count of at most 1,000,000."},
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": 0}),
    )
