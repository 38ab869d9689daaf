"""Input normalisation shared by the member form, the CSV import and the seeder: phone numbers
(libphonenumber's metadata through `phonenumbers`), names, time zones and regions."""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_NOISE = re.compile(r"[\s\-().]")
PHONE_EXAMPLE = {"US": "(808) 555-1234", "CA": "(416) 555-0123", "GB": "020 7946 0018"}


def phone_example(region: str) -> str:
    """A number as a person of `region` would type it, for help texts and messages."""
    if region in PHONE_EXAMPLE:
        return PHONE_EXAMPLE[region]
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL) if example else "+1 808 555 1234"


def normalize_phone(raw: str, region: str = "") -> str:
    """Return `raw` as E.164 (`+18085551234`), or raise ValidationError with a clear message.

    Typed as people type them: `(808) 555-1234` is read in the church's `region` (default
    settings.DEFAULT_PHONE_REGION), `+44 20 7946 0018` or `0044 20 7946 0018` in any region. What
    is a valid number comes from libphonenumber's metadata (the `phonenumbers` package), not from
    hand-written rules: a number too short or too long for its country is refused.
    """
    value = (raw or "").strip()
    if not value:
        return ""
    region = region or settings.DEFAULT_PHONE_REGION
    digits = _PHONE_NOISE.sub("", value)
    if digits.startswith("00"):
        value = "+" + digits[2:]
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        number = None
    reason = phonenumbers.is_possible_number_with_reason(number) if number is not None else None
    if reason == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        raise ValidationError(f"Add the area code, e.g. {phone_example(region)}.", code="invalid_phone")
    # A number of a valid pattern for its country, or at least of a full length for it (numbers in
    # ranges libphonenumber does not list, such as the 555 numbers of films and test data).
    if number is None or not (phonenumbers.is_valid_number(number) or reason == phonenumbers.ValidationResult.IS_POSSIBLE):
        raise ValidationError(
            f"Enter a valid phone number, e.g. {phone_example(region)}, or with its country code, "
            f"e.g. +44 20 7946 0018.",
            code="invalid_phone",
        )
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.extension or not E164.match(formatted):  # the stored form has no room for an extension
        raise ValidationError("Enter the phone number without an extension.", code="invalid_phone")
    return formatted


@functools.lru_cache(maxsize=20_000)
def format_phone(value: str, region: str) -> str:
    """A stored E.164 number as staff read it: national format for numbers of the church's
    `region`'s country code ("(808) 555-1234"), international otherwise ("+44 20 7946 0018"). Cached per
    process: a list page shows 50 of them and the same ones again on every visit."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    # By country calling code, not region: +1 numbers dial alike across the US and Canada, and a
    # number in a range the metadata does not list (555 test numbers) has no region at all.
    own = number.country_code == phonenumbers.country_code_for_region(region)
    style = phonenumbers.PhoneNumberFormat.NATIONAL if own else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)


def phone_query_digits(text: str, region: str) -> str | None:
    """The digits of the stored E.164 number that a typed phone search means, when `text` is a
    whole valid number in `region` (or with its country code): "(808) 555-1234" -> "18085551234".
    None for a fragment ("555-12"): the caller matches its digits as they are."""
    try:
        number = phonenumbers.parse(text, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def validate_e164(value: str) -> None:
    if value and not E164.match(value):
        raise ValidationError("Phone numbers are stored in E.164 format, e.g. +18085551234.", code="invalid_phone")


def validate_phone_region(value: str) -> None:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"{value!r} is not a country code libphonenumber knows (e.g. US, GB, DE).",
                              code="invalid_region")


def validate_time_zone(value: str) -> None:
    if value not in available_time_zones():
        raise ValidationError(f"{value!r} is not a time zone name (e.g. America/Chicago, Europe/London).",
                              code="invalid_time_zone")


@functools.cache
def available_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


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
