"""Reads for the messaging pages: who a text would go to, the message list and page, a member's
texts and opt-out. Nothing here is cached: these pages must show a delivery's state the moment
it changes, and each read is one bounded query whatever the size of the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Exists, OuterRef

from members.models import Church, Group, Member

from .models import Delivery, Message, OptOut, SenderNumber

MESSAGES_PER_PAGE = 25
DELIVERIES_PER_PAGE = 50
MEMBER_TEXTS_LIMIT = 10
# The preview lists this many of the people left out for each reason (all of them are counted).
LEFT_OUT_SHOWN = 50


@dataclass
class Recipient:
    member_id: int
    name: str
    phone: str
    skip: str = ""  # a Delivery.Skip value, or "" when the text goes to them


@dataclass
class Audience:
    label: str
    group: Group | None
    recipients: list[Recipient] = field(default_factory=list)

    @property
    def sendable(self) -> list[Recipient]:
        return [r for r in self.recipients if not r.skip]

    @property
    def left_out(self) -> list[tuple[str, str, int, list[Recipient]]]:
        """(reason code, reason in words, how many, the first LEFT_OUT_SHOWN of them) per reason."""
        out = []
        for code, label in Delivery.Skip.choices:
            people = [r for r in self.recipients if r.skip == code]
            if people:
                out.append((code, label, len(people), people[:LEFT_OUT_SHOWN]))
        return out


def sender_for(church: Church | int) -> str:
    """The number the church's texts come from: its own, or the shared TWILIO_FROM."""
    church_id = church if isinstance(church, int) else church.pk
    own = SenderNumber.objects.filter(church_id=church_id).values_list("phone", flat=True).first()
    return own or settings.TWILIO_FROM


def churches_for_sender(number: str) -> list[int]:
    """The churches whose texts come from `number` (a reply to it is a reply to them): the one
    that owns it, or, for the shared TWILIO_FROM, every church without a number of its own."""
    own = list(SenderNumber.objects.filter(phone=number).values_list("church_id", flat=True))
    if own:
        return own
    if number and number == settings.TWILIO_FROM:
        return list(Church.objects.exclude(sender_number__isnull=False).values_list("id", flat=True))
    return []


def _opted_out(church: Church) -> Exists:
    return Exists(OptOut.objects.filter(church=church, phone=OuterRef("phone"), opted_out=True))


def audience(*, church: Church, group_id: int | None = None, member_ids: list[int] | None = None) -> Audience | None:
    """Who a text to the church's group (or to these of its members) goes to, and who is left out
    and why. One query for the people (opt-outs joined in), in name order, so of two people
    sharing a phone the first by name gets the text. None when the group is not the church's."""
    if group_id is not None:
        group = Group.objects.for_church(church).filter(pk=group_id).first()
        if group is None:
            return None
        people = Member.objects.for_church(church).filter(memberships__group=group)
        label = group.name
    else:
        group = None
        people = Member.objects.for_church(church).filter(pk__in=member_ids or [])
    rows = list(
        people.annotate(opted_out=_opted_out(church)).order_by("last_name", "first_name", "id")
        .values_list("id", "first_name", "last_name", "phone", "status", "opted_out")
    )
    if group is None:
        label = f"{len(rows)} selected member{'s' if len(rows) != 1 else ''}"
    found = Audience(label=label, group=group)
    phones: set[str] = set()
    for member_id, first, last, phone, status, opted_out in rows:
        recipient = Recipient(member_id=member_id, name=f"{first} {last}".strip(), phone=phone or "")
        if status == Member.Status.INACTIVE:
            recipient.skip = Delivery.Skip.INACTIVE
        elif not phone:
            recipient.skip = Delivery.Skip.NO_PHONE
        elif opted_out:
            recipient.skip = Delivery.Skip.OPTED_OUT
        elif phone in phones:
            recipient.skip = Delivery.Skip.DUPLICATE
        else:
            phones.add(phone)
        found.recipients.append(recipient)
    return found


def message_list_page(*, church: Church, page: object) -> Page:
    """One page of the church's messages, newest first, with their author and per-state counts
    (kept on the message: no count over deliveries). Two queries: the count and the page."""
    qs = Message.objects.for_church(church).select_related("created_by").order_by("-created_at", "-id")
    return Paginator(qs, MESSAGES_PER_PAGE).get_page(page)


def message_get(*, church: Church, message_id: int) -> Message | None:
    return Message.objects.for_church(church).select_related("created_by", "cancelled_by").filter(pk=message_id).first()


def message_deliveries_page(*, message: Message, page: object) -> Page:
    """One page of a message's deliveries, in the order they were written (name order). The
    total comes from the message's counters, so the page is one query however many there are."""
    qs = Delivery.objects.filter(message=message).order_by("id").only(
        "id", "member_id", "name", "phone", "state", "skip_reason", "attempts", "provider_sid", "error_code",
        "error_reason", "sent_at", "finished_at", "next_attempt_at", "needs_reconcile",
    )
    paginator = Paginator(qs, DELIVERIES_PER_PAGE)
    # The counters are exact; COUNT(*) would read every delivery of the message.
    paginator.count = message.recipients
    return paginator.get_page(page)


def member_texts(*, church: Church, member_id: int, limit: int = MEMBER_TEXTS_LIMIT) -> list[Delivery]:
    """The member's most recent texts (one query, at most `limit`), newest first."""
    return list(
        Delivery.objects.for_church(church).filter(member_id=member_id).select_related("message")
        .order_by("-id")[:limit]
    )


def optout_for_phone(*, church: Church, phone: str) -> OptOut | None:
    """The church's record of this phone's choice (opted out or back in), if any."""
    if not phone:
        return None
    return OptOut.objects.for_church(church).filter(phone=phone).first()

