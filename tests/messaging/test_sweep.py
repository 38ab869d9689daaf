"""The periodic sweep settles what no live sender holds: dead workers' claims, claims older than a
live sender can hold (its worker lost them: the database went away between the provider's answer
and the commit), and messages left without a live send task."""

from __future__ import annotations

import datetime

from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from jobs import heartbeat
from messaging import services
from messaging.models import Delivery, Message

from .support import FakeProviderTestCase, confirm, people


class SweepTestCase(FakeProviderTestCase):
    def setUp(self) -> None:
        super().setUp()
        people(self.grace, 3, group=self.group)
        self.message = confirm(self.grace, self.alice, group=self.group)
        DBTaskResult.objects.all().delete()  # the sweep is what queues a task here

    def claim(self, worker_id: str, *, age: datetime.timedelta = datetime.timedelta(0)) -> Delivery:
        heartbeat.beat(worker_id)
        step, delivery = services._claim(self.message.pk, worker_id, timezone.now())
        self.assertIsNone(step)
        Delivery.objects.filter(pk=delivery.pk).update(claimed_at=timezone.now() - age)
        return delivery

    def test_it_takes_back_a_live_workers_claim_older_than_a_sender_can_hold_one(self):
        lost = self.claim("w-live", age=services.claim_lifetime() + datetime.timedelta(seconds=1))
        held = self.claim("w-live", age=services.claim_lifetime() - datetime.timedelta(seconds=5))
        self.assertEqual(services.sweep(), "requeued=1 lost_tasks=0 restarted=1 early_statuses=0")
        lost.refresh_from_db()
        held.refresh_from_db()
        self.assertEqual((lost.state, lost.needs_reconcile, lost.claimed_by), ("queued", True, ""))
        self.assertEqual((held.state, held.claimed_by), ("sending", "w-live"))
        message = Message.objects.get(pk=self.message.pk)
        self.assertEqual((message.n_queued, message.n_sending), (2, 1))
        self.assertEqual(DBTaskResult.objects.filter(status="READY").count(), 1)  # a task to send it again

    def test_it_takes_back_a_dead_workers_claim_however_fresh(self):
        fresh = self.claim("w-dead")
        heartbeat.stopped("w-dead")
        self.assertIn("requeued=1 ", services.sweep())
        fresh.refresh_from_db()
        self.assertEqual((fresh.state, fresh.needs_reconcile), ("queued", True))

    def test_a_claim_lifetime_covers_the_send_window_and_the_providers_timeouts(self):
        with self.settings(WORKER_DEAD_SECONDS=30, SMS_PROVIDER_TIMEOUT=10):
            self.assertEqual(services.claim_lifetime(), datetime.timedelta(seconds=50))

    def test_it_restarts_the_claim_after_reconciling_so_the_send_that_follows_is_not_taken_back(self):
        delivery = self.claim("w-live", age=datetime.timedelta(minutes=5))
        Delivery.objects.filter(pk=delivery.pk).update(needs_reconcile=True)
        delivery.refresh_from_db()
        before = timezone.now()
        # Not at the provider: the attempt is counted and the claim starts again for the send.
        self.assertIsNone(services._reconcile(delivery, self.message, "w-live", services.get_backend()))
        delivery.refresh_from_db()
        self.assertEqual((delivery.state, delivery.needs_reconcile), ("sending", False))
        self.assertGreaterEqual(delivery.claimed_at, before)
