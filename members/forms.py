"""Forms for members and groups.

`MemberForm` is the one place a member's fields are validated: the add/edit pages and
every row of a CSV import go through it, so a rule added here applies everywhere.
It is a plain `Form` (not a `ModelForm`) because model validation would run a query per
constraint per form, which a 5,000-row import cannot afford; the database constraints
still back every rule (see `services`).
"""

from __future__ import annotations

from collections.abc import Set

from django import forms
from django.core.exceptions import ValidationError
from django.db.models.functions import Lower
from .models import Church, Group, Member, Membership
from .timezones import church_today
from .validators import normalize_phone, phone_example, validate_plain_text

EMAIL_TAKEN = "Another member of this church already has this email address."
GROUP_NAME_TAKEN = "This church already has a group with this name."


class MemberForm(forms.Form):
    first_name = forms.CharField(max_length=100, label="First name", validators=[validate_plain_text])
    last_name = forms.CharField(max_length=100, label="Last name", validators=[validate_plain_text])
    email = forms.EmailField(max_length=254, required=False, label="Email")
    phone = forms.CharField(
        max_length=40, required=False, label="Phone",
        help_text="As you would dial it, e.g. (808) 555-1234; other countries with their code, e.g. +44 20 7946 0018.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    # Optional so that a client posting only the contract fields (first_name, last_name,
    # email, phone) gets a member: empty means "visitor" (or, on an edit, unchanged).
    status = forms.ChoiceField(choices=Member.Status.choices, initial=Member.Status.VISITOR, label="Status",
                               required=False)
    joined_on = forms.DateField(
        required=False, label="Joined on", help_text="Leave empty for today.",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    birth_date = forms.DateField(
        required=False, label="Birth date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args, church: Church, instance: Member | None = None,
                 taken_emails: Set[str] | None = None, **kwargs) -> None:
        """`taken_emails`: lower-cased emails already used in the church, when the caller
        (the CSV import) looked them up in bulk; otherwise the form asks the database."""
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {name: getattr(instance, name) for name in self.base_fields}
        super().__init__(*args, **kwargs)
        self.church = church
        self.instance = instance
        self.taken_emails = taken_emails
        self.today = church_today(church)
        example = phone_example(church.phone_region)
        if example != "(808) 555-1234":
            self.fields["phone"].help_text = (f"As you would dial it, e.g. {example}; other countries with their "
                                              f"code, e.g. +1 808 555 1234.")

    def rebind(self, data: dict) -> MemberForm:
        """Validate another row with this same form: building a form deep-copies all its
        fields, which dominated a 5,000-row import; a bound field reads `data` afresh."""
        self.data = data
        self.is_bound = True
        self._errors = None
        return self

    def clean_first_name(self) -> str:
        return self.cleaned_data["first_name"].strip()

    def clean_last_name(self) -> str:
        return self.cleaned_data["last_name"].strip()

    def clean_email(self) -> str:
        email = (self.cleaned_data.get("email") or "").strip().lower()
        if not email:
            return ""
        if self.instance is not None and self.instance.email == email:
            return email
        if self.taken_emails is not None:
            taken = email in self.taken_emails
        else:
            # Case-insensitive, as the constraint (member_unique_email_ci_per_church) and its index.
            others = Member.objects.for_church(self.church).alias(email_ci=Lower("email")).filter(email_ci=email)
            if self.instance is not None:
                others = others.exclude(pk=self.instance.pk)
            taken = others.exists()
        if taken:
            raise ValidationError(EMAIL_TAKEN, code="email_taken")
        return email

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data.get("phone") or "", self.church.phone_region)

    def clean_status(self) -> str:
        status = self.cleaned_data.get("status")
        if status:
            return status
        return self.instance.status if self.instance is not None else Member.Status.VISITOR

    def clean_joined_on(self):
        value = self.cleaned_data.get("joined_on")
        if value is None:
            return self.instance.joined_on if self.instance is not None else self.today
        if value > self.today:
            raise ValidationError("The join date can't be in the future.", code="future_date")
        return value

    def clean_birth_date(self):
        value = self.cleaned_data.get("birth_date")
        if value is not None:
            if value > self.today:
                raise ValidationError("The birth date can't be in the future.", code="future_date")
            if value.year < 1900:
                raise ValidationError("Enter a birth date after 1900.", code="too_old")
        return value


class MemberImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 CSV with the header first_name,last_name,email,phone "
                  "(optional columns: status, joined_on, birth_date).",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class IdListField(forms.Field):
    """Several ids posted under one name (checkboxes); any non-id value is an error."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Select at least one member first.",
        "invalid": "The selection was not understood; reload the page and try again.",
        "too_many": "Select at most %(max)s members at a time.",
    }
    max_ids = 500  # a page shows 50; this bounds the UPDATE's IN list (Django refuses >1000 fields anyway)

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        if len(value) > self.max_ids:
            raise ValidationError(self.error_messages["too_many"], code="too_many",
                                  params={"max": self.max_ids})
        try:
            return sorted({int(v) for v in value})
        except (TypeError, ValueError):
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class MemberStatusForm(forms.Form):
    """The bulk status change on the member list."""

    member_ids = IdListField()
    status = forms.ChoiceField(choices=Member.Status.choices, error_messages={
        "required": "Choose the status to set.",
        "invalid_choice": "Choose one of the listed statuses.",
    })


class GroupForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ["name", "kind", "description", "meeting_day", "meeting_time", "meeting_place", "archived"]
        labels = {"archived": "Archived (hidden from the group list and attendance)",
                  "meeting_day": "Meets on", "meeting_time": "At", "meeting_place": "Where"}
        help_texts = {"meeting_day": "Attendance for the group opens on its most recent meeting day.",
                      "meeting_time": "e.g. 19:30"}
        widgets = {"meeting_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M")}

    def __init__(self, *args, church: Church, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.church = church
        if self.instance.pk is None:
            # A new group is active; archiving is an edit.
            del self.fields["archived"]

    def clean_meeting_place(self) -> str:
        return " ".join(self.cleaned_data.get("meeting_place", "").split())

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        clash = Group.objects.for_church(self.church).filter(name__iexact=name)
        if self.instance.pk is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError(GROUP_NAME_TAKEN, code="name_taken")
        return name

    def _post_clean(self) -> None:
        # The church is not a form field: set it before model validation so the
        # per-church unique constraint is checked too.
        self.instance.church = self.church
        super()._post_clean()


class MembershipRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
