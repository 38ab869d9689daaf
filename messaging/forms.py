"""The compose form: a group or ticked members, the text, and optionally when to send it.

Times are typed in the church's time zone: the views validate and render this form inside
`timezone.override(church_zone(church))`, so the naive time typed becomes the right instant
(a time that does not exist, or exists twice, on a daylight-saving change is refused).
"""

from __future__ import annotations

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from members.models import Church, Group

from . import gsm
from .services import BODY_MAX_SEGMENTS, SCHEDULE_MAX_DAYS

MAX_SELECTED = 20_000


class MemberIdsField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        values = value if isinstance(value, (list, tuple)) else [value]
        if len(values) > MAX_SELECTED:
            raise ValidationError(f"Select at most {MAX_SELECTED:,} people at a time.")
        ids = []
        for raw in values:
            try:
                ids.append(int(str(raw).strip()))
            except ValueError:
                raise ValidationError("The selection of people is not valid: select them again.") from None
        return sorted(set(i for i in ids if 0 < i < 2**63))


class ComposeForm(forms.Form):
    group = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Group")
    member_ids = MemberIdsField(required=False)
    body = forms.CharField(
        label="Text", strip=True,
        widget=forms.Textarea(attrs={"rows": 5, "data-sms-counter": "sms-count", "maxlength": 1600}),
        max_length=1600,
    )
    send_at = forms.DateTimeField(
        label="Send at (optional)", required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, church: Church, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.church = church
        groups = Group.objects.for_church(church).filter(archived=False).order_by("name", "id")
        self.fields["group"].choices = [("", "— the ticked members —"), *groups.values_list("id", "name")]

    def clean_body(self) -> str:
        body = self.cleaned_data["body"]
        length = gsm.measure(body)
        if length.segments > BODY_MAX_SEGMENTS:
            raise ValidationError(
                f"This text takes {length.segments} segments; keep it to {BODY_MAX_SEGMENTS} ({length.encoding}).")
        return body

    def clean_send_at(self) -> datetime.datetime | None:
        when = self.cleaned_data.get("send_at")
        if when is None:
            return None
        now = timezone.now()
        if when <= now:
            raise ValidationError("Choose a time in the future, or leave it empty to send now.")
        if when > now + datetime.timedelta(days=SCHEDULE_MAX_DAYS):
            raise ValidationError(f"Texts can be scheduled up to {SCHEDULE_MAX_DAYS} days ahead.")
        return when

    def clean(self) -> dict:
        data = super().clean()
        if data.get("group") is None and not data.get("member_ids"):
            raise ValidationError("Choose a group, or tick people on the member list and press “Text selected”.")
        return data
