"""Demo data: `seed_demo` gives each church it makes a few texts already sent (so the messaging
pages are not empty on `make run`)."""

from __future__ import annotations

import datetime
import uuid
from collections import Counter

from django.dispatch import receiver
from django.utils import timezone

from members.models import Group
from members.signals import demo_seeded

from . import gsm, selectors
from .models import Delivery, Message

DEMO_TEXTS = (
    "Reminder: potluck after the service this Sunday. Bring a dish to share if you can!",
    "Small group tonight at 7pm in the fellowship hall. See you there.",
    "Thank you for serving this weekend. The rota for next month is on the notice board.",
)


@receiver(demo_seeded)
def seed_messages(sender, churches, **kwargs) -> None:
    now = timezone.now()
    for church in churches:
        groups = list(Group.objects.for_church(church).filter(archived=False, member_count__gt=0).order_by("id")[:3])
        for n, (group, body) in enumerate(zip(groups, DEMO_TEXTS)):
            _sent_message(church, group, body, now - datetime.timedelta(days=7 * (len(groups) - n), hours=2))


def _sent_message(church, group, body: str, at: datetime.datetime) -> None:
    found = selectors.audience(church=church, group_id=group.pk)
    if found is None or not found.recipients:
        return
    length = gsm.measure(body)
    message = Message.objects.create(
        church=church, group=group, audience=group.name, body=body, encoding=length.encoding,
        segments=length.segments, sender=selectors.sender_for(church), created_at=at, confirm_key=uuid.uuid4(),
        recipients=len(found.recipients),
    )
    counts: Counter = Counter()
    rows = []
    for i, r in enumerate(found.recipients):
        if r.skip:
            state = Delivery.State.SKIPPED
        else:
            # Most are delivered; the carrier reports now and then a number that is out of service.
            state = Delivery.State.FAILED if i % 17 == 5 else Delivery.State.DELIVERED
        counts[state] += 1
        sent = state != Delivery.State.SKIPPED
        rows.append(Delivery(
            message=message, church=church, member_id=r.member_id, name=r.name, phone=r.phone, state=state,
            skip_reason=r.skip, attempts=1 if sent else 0, due_at=at, next_attempt_at=at,
            provider_sid=f"SMdemo{uuid.uuid4().hex[:26]}" if sent else "", sent_at=at if sent else None,
            finished_at=at + datetime.timedelta(seconds=5), provider_ms=180.0 if sent else None,
            error_code="30005" if state == Delivery.State.FAILED else "",
            error_reason="The number is unknown or no longer in service." if state == Delivery.State.FAILED else "",
        ))
    Delivery.objects.bulk_create(rows, batch_size=2000)
    Message.objects.filter(pk=message.pk).update(**{f"n_{state}": n for state, n in counts.items()})
