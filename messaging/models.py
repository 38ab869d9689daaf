"""Text messages: a message, one delivery per recipient, opt-outs, sender numbers, send rates.

A Delivery is the unit of work and its state machine is the queue's truth (see services.py):

    queued -> sending -> sent -> delivered          (sent -> failed: the carrier gave up)
       ^         |
       +---------+  a temporary error, or a dead worker's send reconciled with the provider
    queued -> skipped (opted out before it was sent) / cancelled;  sending -> failed

`due_at` is when the delivery became due (the scheduled time for a scheduled message) and never
changes: the queue's age is measured from it. `next_attempt_at` is when a sender may try it next.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from members.models import Church, Group, Member, TenantQuerySet, validate_one_church
from members.validators import validate_e164


class SenderNumber(models.Model):
    """The number a church's texts come from (and that its members reply to). Without one, a
    church sends from settings.TWILIO_FROM, shared with every other church that has none."""

    church = models.OneToOneField(Church, on_delete=models.CASCADE, related_name="sender_number")
    phone = models.CharField(max_length=16, unique=True, validators=[validate_e164],
                             help_text="E.164, e.g. +15551234567: a number of the Twilio account.")

    def __str__(self) -> str:
        return f"{self.phone} ({self.church})"


class Message(models.Model):
    church = models.ForeignKey(Church, on_delete=models.CASCADE, related_name="messages", db_index=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Who it went to, as staff chose it then ("Choir", "12 selected members"): groups get renamed.
    audience = models.CharField(max_length=200)
    body = models.TextField()
    encoding = models.CharField(max_length=5)  # GSM-7 or UCS-2
    segments = models.PositiveSmallIntegerField()
    sender = models.CharField(max_length=16, blank=True, help_text="The From number the texts use.")
    created_at = models.DateTimeField(default=timezone.now)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    # The preview's one-time key: confirming the same preview twice finds this message again.
    confirm_key = models.UUIDField()
    recipients = models.PositiveIntegerField(default=0, help_text="Deliveries, skipped ones included.")
    # Deliveries per state, kept by the services in the transaction of every state change, so
    # pages never count a 10,000-recipient message's deliveries.
    n_queued = models.PositiveIntegerField(default=0)
    n_sending = models.PositiveIntegerField(default=0)
    n_sent = models.PositiveIntegerField(default=0)
    n_delivered = models.PositiveIntegerField(default=0)
    n_failed = models.PositiveIntegerField(default=0)
    n_skipped = models.PositiveIntegerField(default=0)
    n_cancelled = models.PositiveIntegerField(default=0)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(F("church"), F("created_at").desc(), F("id").desc(), name="message_church_recent_idx"),
            # The sweep looks for messages with work left.
            models.Index(fields=["id"], condition=Q(n_queued__gt=0), name="message_queued_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["church", "confirm_key"], name="message_confirm_once"),
        ]

    def __str__(self) -> str:
        return f"{self.audience}: {self.body[:40]}"

    def get_absolute_url(self) -> str:
        return reverse("message_detail", args=[self.pk])

    def clean(self) -> None:
        super().clean()
        validate_one_church(self)  # the group and the staff accounts are the message's church's

    def counts(self) -> dict[str, int]:
        return {state: getattr(self, f"n_{state}") for state in Delivery.State.values}

    @property
    def in_flight(self) -> int:
        return self.n_queued + self.n_sending

    @property
    def state(self) -> str:
        if self.in_flight:
            if self.scheduled_for and self.scheduled_for > timezone.now() and not (self.n_sending or self.n_sent):
                return "scheduled"
            return "sending"
        if self.cancelled_at:
            return "cancelled"
        return "finished"

    @property
    def state_label(self) -> str:
        return {"scheduled": "Scheduled", "sending": "Sending", "cancelled": "Cancelled", "finished": "Finished"}[self.state]


class Delivery(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"

    class Skip(models.TextChoices):
        NO_PHONE = "no_phone", "No usable phone number"
        OPTED_OUT = "opted_out", "Opted out of texts"
        INACTIVE = "inactive", "Inactive member"
        DUPLICATE = "duplicate_phone", "Same phone as another recipient (one text per phone)"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    church = models.ForeignKey(Church, on_delete=models.CASCADE, related_name="+", db_index=False)
    member = models.ForeignKey(Member, null=True, on_delete=models.SET_NULL, related_name="deliveries")
    name = models.CharField(max_length=201, help_text="The recipient's name when the message was sent.")
    phone = models.CharField(max_length=16, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    skip_reason = models.CharField(max_length=20, choices=Skip.choices, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_sid = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=16, blank=True)
    error_reason = models.TextField(blank=True)
    due_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    # The last attempt's outcome is unknown (a timeout after the request went out, or a dead
    # worker): the provider is asked whether it has the text before anything is sent again.
    needs_reconcile = models.BooleanField(default=False)
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    provider_ms = models.FloatField(null=True, blank=True, help_text="The provider's answer time, last attempt.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        indexes = [
            # The senders' claim: a message's due deliveries in order.
            models.Index(fields=["message", "state", "next_attempt_at"], name="delivery_claim_idx"),
            # Queue health: the oldest due delivery, the in-flight ones, the last hour's outcomes.
            models.Index(fields=["due_at"], condition=Q(state="queued"), name="delivery_queued_due_idx"),
            # Where a new message of the church starts in its rate schedule.
            models.Index(fields=["church", "due_at"], condition=Q(state="queued"), name="delivery_church_queued_idx"),
            models.Index(fields=["claimed_at"], condition=Q(state="sending"), name="delivery_sending_idx"),
            models.Index(fields=["sent_at"], name="delivery_sent_at_idx"),
            models.Index(fields=["finished_at"], condition=Q(state="failed"), name="delivery_failed_idx"),
            # Status callbacks find their delivery by the provider's id.
            models.Index(fields=["provider_sid"], condition=~Q(provider_sid=""), name="delivery_sid_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["message", "member"], name="delivery_once_per_member"),
            # One text per phone: the skipped duplicates keep their phone to show why.
            models.UniqueConstraint(fields=["message", "phone"], condition=~Q(state="skipped"),
                                    name="delivery_once_per_phone"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.phone} ({self.state})"

    def clean(self) -> None:
        super().clean()
        validate_one_church(self)  # the message and the member are the delivery's church's

    @property
    def reason(self) -> str:
        """Why it was not sent, in words (skipped or failed)."""
        if self.state == self.State.SKIPPED:
            return self.Skip(self.skip_reason).label if self.skip_reason else ""
        return self.error_reason


class OptOut(models.Model):
    """A phone's choice about one church's texts: STOP to that church's number (or staff, or the
    provider refusing with 21610) opts it out; START opts it back in. Other churches are not
    affected. The row stays after an opt-in, saying when and how it happened."""

    class How(models.TextChoices):
        KEYWORD = "keyword", "Replied with a keyword"
        STAFF = "staff", "Set by staff"
        PROVIDER = "provider", "The provider reported the number unsubscribed"

    church = models.ForeignKey(Church, on_delete=models.CASCADE, related_name="+", db_index=False)
    phone = models.CharField(max_length=16, validators=[validate_e164])
    opted_out = models.BooleanField(default=True)
    changed_at = models.DateTimeField(default=timezone.now)
    how = models.CharField(max_length=10, choices=How.choices)
    detail = models.CharField(max_length=150, blank=True, help_text="The keyword, or who set it.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["church", "phone"], name="optout_one_per_church_phone")]

    def __str__(self) -> str:
        return f"{self.phone} {'opted out' if self.opted_out else 'opted in'} ({self.church_id})"


class SendRate(models.Model):
    """A church's next free send slot: every sender of every worker and host takes a slot from
    this row (locked in the claim's transaction), so SMS_RATE_PER_SECOND holds across them."""

    church = models.OneToOneField(Church, on_delete=models.CASCADE, primary_key=True, related_name="+")
    next_free = models.DateTimeField(default=timezone.now)


class PendingStatus(models.Model):
    """A status callback for a provider id no delivery has yet: the callback raced the sender's
    commit of that id. The sender applies it when it records the id."""

    provider_sid = models.CharField(max_length=64)
    status = models.CharField(max_length=20)
    error_code = models.CharField(max_length=16, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider_sid", "status"], name="pendingstatus_once")]
