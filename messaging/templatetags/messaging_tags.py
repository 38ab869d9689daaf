"""`{% member_texting member %}`: the member page's texts and opt-out, from messaging.

The member page itself (members/) knows nothing of texting: it loads this tag. The texts are
read uncached and bounded (two queries: the phone's opt-out and the last texts), so a delivery's
state change never has to invalidate the cached profile.
"""

from __future__ import annotations

from django import template
from django.template.loader import render_to_string
from django.utils import timezone

from members.timezones import church_zone
from members.validators import format_phone
from messaging import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def member_texting(context, member) -> str:
    request = context["request"]
    church = request.church
    ctx = {
        "member_id": member.pk,
        "first_name": member.first_name,
        "phone": format_phone(member.phone, church.phone_region),  # shown as staff read it; stored E.164
        "optout": selectors.optout_for_phone(church=church, phone=member.phone),
        "texts": selectors.member_texts(church=church, member_id=member.pk),
        "limit": selectors.MEMBER_TEXTS_LIMIT,
    }
    with timezone.override(church_zone(church)):
        return render_to_string("messaging/_member_texts.html", ctx, request=request)
