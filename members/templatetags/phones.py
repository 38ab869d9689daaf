"""`{{ member.phone|phone:phone_region }}`: a stored E.164 number as staff read it (national for
the church's own country, international otherwise; members.validators.format_phone)."""

from django import template

from members.validators import format_phone

register = template.Library()


@register.filter
def phone(value: str, region: str) -> str:
    return format_phone(value or "", region or "")
