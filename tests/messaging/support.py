"""Helpers for the messaging tests: people to text, a confirmed message, a sender loop."""

from __future__ import annotations

import time
import uuid

from django.test import override_settings
from django.utils import timezone

from jobs import heartbeat
from members.models import Church, Group, Member, Membership, User
from messaging import services
from messaging.models import Message
from tests.base import FlockTestCase

from .fake_twilio import FakeTwilio

WORKER = "test-worker"


def people(church: Church, n: int, *, prefix: str = "+1555", group: Group | None = None, **extra) -> list[Member]:
    """`n` members with distinct phones (prefix + 7 digits), optionally in `group`."""
    made = Member.objects.bulk_create([
        Member(church=church, first_name=f"P{i:05d}", last_name=extra.get("last_name", "Person"),
               phone=f"{prefix}{church.pk:02d}{i:05d}", status=extra.get("status", Member.Status.MEMBER))
        for i in range(n)
    ])
    if group is not None:
        Membership.objects.bulk_create([Membership(group=group, member=m) for m in made])
    return made


def confirm(church: Church, user: User, *, group: Group | None = None, members=(), body: str = "Hello from church",
            send_at=None) -> Message:
    draft = services.Draft(body=body, group_id=group.pk if group else None,
                           member_ids=tuple(m.pk for m in members), send_at=send_at, key=uuid.uuid4().hex)
    message, created = services.message_confirm(church=church, user=user, draft=draft)
    assert created
    return message


def twilio_settings(fake: FakeTwilio, **extra):
    values = dict(SMS_BACKEND="twilio", TWILIO_API_BASE=fake.url, TWILIO_ACCOUNT_SID=fake.sid,
                  TWILIO_AUTH_TOKEN=fake.token, TWILIO_FROM="+15005550006", SMS_RATE_PER_SECOND=1000,
                  SMS_RETRY_BASE_SECONDS=0.05, SMS_RETRY_MAX_SECONDS=0.2, SMS_PROVIDER_TIMEOUT=1.0)
    values.update(extra)
    return override_settings(**values)


def drain(message: Message, *, worker_id: str = WORKER, timeout: float = 20) -> list[str]:
    """Run send_next for the message until nothing is left (waiting out short waits); the steps."""
    heartbeat.beat(worker_id)
    steps, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        step = services.send_next(message=Message.objects.get(pk=message.pk), worker_id=worker_id)
        if step.kind == "done":
            return steps
        if step.kind == "wait":
            time.sleep(max(0.0, min(1.0, (step.until - timezone.now()).total_seconds())))
            continue
        steps.append(step.kind)
    raise AssertionError(f"message {message.pk} not drained in {timeout}s: {steps}")


class FakeProviderTestCase(FlockTestCase):
    """Sending through the Twilio backend against one fake provider for the class (its record
    cleared before each test), with a group "Choir" of Grace to text."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.fake = FakeTwilio().start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.fake.stop()
        super().tearDownClass()

    def setUp(self) -> None:
        self.fake.messages.clear()
        self.fake.requests.clear()
        self.fake._scripts.clear()
        self.settings_cm = twilio_settings(self.fake)
        self.settings_cm.enable()
        self.addCleanup(self.settings_cm.disable)
        self.group = Group.objects.create(church=self.grace, name="Choir")
