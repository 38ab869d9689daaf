"""Input normalisation shared by the member form, the CSV import and the seeder."""

from __future__ import annotations

import re
import unicodedata

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


# Characters that change how the text around them is shown without being seen themselves:
# the bidirectional embeddings, overrides and isolates (U+202E turns "exe.txt" into what looks
# like "txt.exe"), and the line and paragraph separators. Marks (LRM, RLM, ALM) stay allowed:
# right-to-left names need them and they cannot reorder their neighbours.
_INVISIBLE_FORMATTING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")
_MULTILINE_WHITESPACE = frozenset("\n\r\t")


def _bad_character(value: str, allowed: frozenset[str]) -> str | None:
    for char in value:
        if char in allowed:
            continue
        if char in _INVISIBLE_FORMATTING or unicodedata.category(char) == "Cc":
            return char
    return None


def _refuse(char: str, what: str) -> None:
    raise ValidationError(
        f"{what} can't contain control characters or text-direction overrides "
        f"(found U+{ord(char):04X}). Retype the text rather than pasting it.",
        code="control_character",
    )


def validate_plain_text(value: str) -> None:
    """One-line text shown to other people (names): no control character (newlines included)
    and no bidirectional override or isolate."""
    char = _bad_character(value or "", frozenset())
    if char is not None:
        _refuse(char, "Names")


def validate_multiline_text(value: str) -> None:
    """Free text over several lines (a group's description): newlines and tabs are fine,
    other control characters and bidirectional overrides are not."""
    char = _bad_character(value or "", _MULTILINE_WHITESPACE)
    if char is not None:
        _refuse(char, "Text")
