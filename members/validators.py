"""Input normalisation shared by the member form, the CSV import and the seeder."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_NOISE = re.compile(r"[\s\-().]")


def normalize_phone(raw: str) -> str:
    """Return `raw` as E.164 (`+15551234567`), or raise ValidationError with a clear message.

    Spaces, dashes, dots and parentheses are dropped; a leading `00` becomes `+`.
    """
    value = _PHONE_NOISE.sub("", raw or "")
    if not value:
        return ""
    if value.startswith("00"):
        value = "+" + value[2:]
    if not E164.match(value):
        raise ValidationError(
            "Enter the phone number in international format, starting with + and the "
            "country code, e.g. +15551234567.",
            code="invalid_phone",
        )
    return value


def validate_e164(value: str) -> None:
    if value and not E164.match(value):
        raise ValidationError("Phone numbers are stored in E.164 format, e.g. +15551234567.", code="invalid_phone")
