"""Sending through the Twilio backend against the fake provider on loopback: retries, permanent
failures, 429, unknown outcomes reconciled before any retry, opt-outs, scheduling, the rate."""

from __future__ import annotations

import datetime

from django.test import override_settings
from django.utils import timezone

from jobs import heartbeat
from messaging import services
from messaging.models import Delivery, Message, OptOut, SendRate

from .support import WORKER, FakeProviderTestCase, confirm, drain, people


class SendingTestCase(FakeProviderTestCase):

    def _one(self, phone_suffix: int = 0) -> tuple[Message, Delivery]:
        member = people(self.grace, 1, prefix=f"+1777{phone_suffix}")[0]
        message = confirm(self.grace, self.alice, members=[member])
        return message, Delivery.objects.get(message=message)

    def test_it_sends_each_recipient_once_and_counts_it(self):
        people(self.grace, 5, group=self.group)
        message = confirm(self.grace, self.alice, group=self.group)
        self.assertEqual(drain(message), ["sent"] * 5)
        self.assertEqual(sorted(self.fake.bodies_by_number().values()), [1] * 5)
        message.refresh_from_db()
        self.assertEqual((message.n_sent, message.n_queued, message.n_sending), (5, 0, 0))
        for d in Delivery.objects.filter(message=message):
            self.assertEqual((d.state, d.attempts), ("sent", 1))
            self.assertTrue(d.provider_sid.startswith("SM"))
        post = next(params for method, _, params in self.fake.requests if method == "POST")
        self.assertEqual(post["From"], "+15005550006")
        self.assertEqual(post["Body"], "Hello from church")

    def test_it_retries_temporary_failures_then_succeeds(self):
        message, delivery = self._one()
        self.fake.script(delivery.phone, [503, 503, "ok"])
        self.assertEqual(drain(message), ["retry", "retry", "sent"])
        delivery.refresh_from_db()
        self.assertEqual((delivery.state, delivery.attempts), ("sent", 3))
        self.assertEqual(len(self.fake.sent_to(delivery.phone)), 1)

    def test_it_backs_off_exponentially_with_jitter_and_the_first_retry_within_30s(self):
        with override_settings(SMS_RETRY_BASE_SECONDS=5, SMS_RETRY_MAX_SECONDS=300):
            delays = [services._backoff(n, None) for n in (1, 2, 3, 4)]
            self.assertLessEqual(delays[0], 7.5)
            self.assertGreaterEqual(delays[0], 2.5)
            self.assertGreater(delays[3], delays[0])
            self.assertGreaterEqual(services._backoff(1, 60), 60)  # Retry-After is a floor
            jittered = {round(services._backoff(2, None), 3) for _ in range(20)}
            self.assertGreater(len(jittered), 1)

    def test_it_does_not_retry_a_permanent_failure(self):
        message, delivery = self._one()
        self.fake.script(delivery.phone, [("error", 400, 21211)])
        self.assertEqual(drain(message), ["failed"])
        delivery.refresh_from_db()
        self.assertEqual((delivery.state, delivery.attempts, delivery.error_code), ("failed", 1, "21211"))
        self.assertEqual(delivery.error_reason, "The phone number is not a valid number.")
        self.assertEqual(self.fake.posts(), 1)
        message.refresh_from_db()
        self.assertEqual(message.n_failed, 1)

    def test_it_opts_out_a_phone_the_provider_says_unsubscribed(self):
        message, delivery = self._one()
        self.fake.script(delivery.phone, [("error", 400, 21610)])
        drain(message)
        optout = OptOut.objects.get(church=self.grace, phone=delivery.phone)
        self.assertEqual((optout.opted_out, optout.how), (True, "provider"))
        self.assertFalse(OptOut.objects.filter(church=self.hope).exists())

    def test_it_gives_up_after_the_bounded_number_of_attempts(self):
        message, delivery = self._one()
        with override_settings(SMS_MAX_ATTEMPTS=3):
            self.fake.script(delivery.phone, [503, 503, 503, 503])
            self.assertEqual(drain(message), ["retry", "retry", "failed"])
        delivery.refresh_from_db()
        self.assertEqual((delivery.state, delivery.attempts), ("failed", 3))
        self.assertIn("Gave up after 3 attempts", delivery.error_reason)
        self.assertEqual(self.fake.sent_to(delivery.phone), [])

    def test_it_honours_retry_after_on_429_for_the_whole_church(self):
        message, delivery = self._one()
        self.fake.script(delivery.phone, [("429", 30)])
        before = timezone.now()
        heartbeat.beat(WORKER)
        step = services.send_next(message=message, worker_id=WORKER)
        self.assertEqual(step.kind, "retry")
        delivery.refresh_from_db()
        self.assertEqual(delivery.state, "queued")
        self.assertGreaterEqual(delivery.next_attempt_at, before + datetime.timedelta(seconds=30))
        self.assertGreaterEqual(SendRate.objects.get(church=self.grace).next_free,
                                before + datetime.timedelta(seconds=30))
        # Not retried early: the next call waits.
        self.assertEqual(services.send_next(message=message, worker_id=WORKER).kind, "wait")
        self.assertEqual(self.fake.posts(), 1)

    def test_it_reconciles_an_unknown_outcome_instead_of_sending_again(self):
        message, delivery = self._one()
        self.fake.timeout_delay = 2.0
        self.fake.script(delivery.phone, ["timeout"])  # the fake takes the text, the client times out
        steps = drain(message)
        self.assertEqual(steps, ["retry", "reconciled"])
        delivery.refresh_from_db()
        self.assertEqual((delivery.state, delivery.attempts), ("sent", 1))
        self.assertEqual(delivery.provider_sid, self.fake.sent_to(delivery.phone)[0]["sid"])
        self.assertEqual(len(self.fake.sent_to(delivery.phone)), 1)
        self.assertEqual(self.fake.posts(), 1)

    def test_it_sends_again_after_reconciling_when_the_provider_never_took_it(self):
        message, delivery = self._one()
        self.fake.script(delivery.phone, ["drop", "ok"])  # the connection cut before an answer
        self.assertEqual(drain(message), ["retry", "sent"])
        gets = [r for r in self.fake.requests if r[0] == "GET"]
        self.assertEqual(len(gets), 1)
        self.assertEqual(gets[0][2]["To"], [delivery.phone])
        self.assertEqual(len(self.fake.sent_to(delivery.phone)), 1)

    def test_it_skips_someone_who_opted_out_after_the_message_was_confirmed(self):
        message, delivery = self._one()
        services.optout_set(church_id=self.grace.pk, phone=delivery.phone, opted_out=True, how="keyword",
                            detail="STOP")
        self.assertEqual(drain(message), ["skipped"])
        delivery.refresh_from_db()
        self.assertEqual((delivery.state, delivery.skip_reason), ("skipped", "opted_out"))
        self.assertEqual(self.fake.posts(), 0)

    def test_it_does_not_send_a_scheduled_message_early(self):
        member = people(self.grace, 1)[0]
        at = timezone.now() + datetime.timedelta(hours=2)
        message = confirm(self.grace, self.alice, members=[member], send_at=at)
        heartbeat.beat(WORKER)
        step = services.send_next(message=message, worker_id=WORKER)
        self.assertEqual(step.kind, "wait")
        self.assertEqual(step.until, at)
        self.assertEqual(self.fake.posts(), 0)
        delivery = Delivery.objects.get(message=message)
        self.assertEqual(delivery.due_at, at)  # measured as due from the scheduled time
        message.refresh_from_db()
        self.assertEqual(message.state, "scheduled")

    def test_it_takes_the_churchs_rate_slots_across_senders(self):
        people(self.grace, 3, group=self.group)
        message = confirm(self.grace, self.alice, group=self.group)  # all due now
        heartbeat.beat(WORKER)
        heartbeat.beat("other-worker")
        before = timezone.now()
        with override_settings(SMS_RATE_PER_SECOND=0.01):  # a slot every 100 s
            self.assertEqual(services.send_next(message=message, worker_id=WORKER).kind, "sent")
            # Another worker (another host, for all it matters), the same church: the slot is taken.
            step = services.send_next(message=message, worker_id="other-worker")
        self.assertEqual(step.kind, "wait")
        self.assertGreaterEqual(step.until, before + datetime.timedelta(seconds=100))
        self.assertEqual(self.fake.posts(), 1)

    def test_a_send_task_waits_out_the_rate_itself_when_nothing_else_is_queued(self):
        from django_tasks_db.models import DBTaskResult

        people(self.grace, 3, group=self.group)
        with override_settings(SMS_RATE_PER_SECOND=4):
            message = confirm(self.grace, self.alice, group=self.group)
            DBTaskResult.objects.all().delete()  # the confirm's task: this test is that task
            heartbeat.beat(WORKER)
            result = services.send_batch(message_id=message.pk, worker_id=WORKER)
        self.assertEqual((result["sent"], result["done"]), (3, 1))
        self.assertFalse(DBTaskResult.objects.exists())  # no continuation task per text
        sent_at = sorted(Delivery.objects.filter(message=message).values_list("sent_at", flat=True))
        self.assertGreaterEqual((sent_at[2] - sent_at[0]).total_seconds(), 0.45)  # 4 a second, not faster

    def test_it_records_nothing_when_its_claim_was_taken_away(self):
        message, delivery = self._one()
        heartbeat.beat(WORKER)
        step, claimed = services._claim(message.pk, WORKER, timezone.now())
        self.assertIsNone(step)
        # A sweep thought this worker dead and re-queued the delivery meanwhile.
        Delivery.objects.filter(pk=claimed.pk).update(state="queued", claimed_by="", needs_reconcile=True)
        self.assertIsNone(services._settle(claimed, WORKER, lambda d: services._sent(d, "SMx", 1.0)))
        claimed.refresh_from_db()
        self.assertEqual((claimed.state, claimed.provider_sid), ("queued", ""))
