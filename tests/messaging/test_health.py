"""Queue health: the admin API (403 for non-admins, 503 when stalled), the admin page, /metrics."""

from __future__ import annotations

import datetime

from django.test import override_settings
from django.utils import timezone

from jobs import heartbeat
from jobs.models import WorkerHeartbeat
from members.models import Group
from messaging.models import Delivery
from tests.base import FlockTestCase

from .support import confirm, people

URL = "/api/admin/queue/health"
KEYS = {"status", "queued", "oldest_queued_age_seconds", "sending", "sent_last_hour", "failed_last_hour",
        "workers_seen"}


class QueueHealthTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.group = Group.objects.create(church=cls.grace, name="Choir")
        people(cls.grace, 4, group=cls.group)

    def test_it_is_for_platform_admins_only(self):
        response = self.client.get(URL)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response["Content-Type"], "application/json")
        self.login(self.alice)
        self.assertEqual(self.client.get(URL).status_code, 403)
        self.assertEqual(self.client.get("/admin/queue/").status_code, 302)

    def test_it_answers_ok_with_the_figures(self):
        heartbeat.beat("w1")
        self.login(self.dana)
        response = self.client.get(URL)
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertTrue(KEYS <= set(body))
        self.assertEqual((body["status"], body["queued"], body["workers_seen"]), ("ok", 0, 1))

    def test_it_is_stalled_when_work_is_due_and_no_worker_was_seen(self):
        confirm(self.grace, self.alice, group=self.group)
        self.login(self.dana)
        response = self.client.get(URL)
        self.assertEqual(response.status_code, 503)
        body = response.json()
        self.assertEqual((body["status"], body["queued"], body["workers_seen"]), ("stalled", 4, 0))
        self.assertIn("no worker", " ".join(body["reasons"]))
        # A worker that stopped cleanly, or was last heard from two minutes ago, is not seen.
        WorkerHeartbeat.objects.create(worker_id="gone", hostname="h", pid=1,
                                       seen_at=timezone.now() - datetime.timedelta(minutes=2))
        self.assertEqual(self.client.get(URL).status_code, 503)
        heartbeat.beat("w1")
        self.assertEqual(self.client.get(URL).status_code, 200)

    @override_settings(QUEUE_STALL_SECONDS=60)
    def test_it_is_stalled_when_the_oldest_due_text_is_too_old_measured_from_when_it_was_due(self):
        heartbeat.beat("w1")
        message = confirm(self.grace, self.alice, group=self.group)
        self.login(self.dana)
        Delivery.objects.filter(message=message).update(due_at=timezone.now() - datetime.timedelta(seconds=90))
        body = self.client.get(URL).json()
        self.assertEqual(body["status"], "stalled")
        self.assertGreaterEqual(body["oldest_queued_age_seconds"], 90)
        # A scheduled text written long ago but due in the future is not late (Rock #3038).
        Delivery.objects.filter(message=message).update(due_at=timezone.now() + datetime.timedelta(hours=1))
        body = self.client.get(URL).json()
        self.assertEqual((body["status"], body["oldest_queued_age_seconds"], body["queued"]), ("ok", 0, 4))

    def test_it_counts_the_last_hours_outcomes(self):
        heartbeat.beat("w1")
        message = confirm(self.grace, self.alice, group=self.group)
        a, b, c, _ = Delivery.objects.filter(message=message).order_by("id")
        now = timezone.now()
        Delivery.objects.filter(pk=a.pk).update(state="sent", sent_at=now, provider_ms=120)
        Delivery.objects.filter(pk=b.pk).update(state="delivered", sent_at=now, provider_ms=80)
        Delivery.objects.filter(pk=c.pk).update(state="failed", finished_at=now)
        self.login(self.dana)
        body = self.client.get(URL).json()
        self.assertEqual((body["sent_last_hour"], body["failed_last_hour"], body["queued"]), (2, 1, 1))
        page = self.client.get("/admin/queue/")
        self.assertContains(page, 'data-figure="queued">1<', html=False)
        self.assertContains(page, "Queue health")
        self.assertContains(page, "w1")
        self.assertContains(self.client.get("/admin/"), "/admin/queue/")

    def test_it_exports_the_queue_to_prometheus(self):
        heartbeat.beat("w1")
        confirm(self.grace, self.alice, group=self.group)
        Delivery.objects.filter(state="queued").update(sent_at=timezone.now(), provider_ms=50)
        text = self.client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
        self.assertIn('flock_sms_queue_depth{state="queued"} 4.0', text)
        self.assertIn("flock_sms_workers_seen 1.0", text)
        self.assertIn("flock_sms_oldest_queued_age_seconds", text)
        self.assertIn('flock_sms_sends_last_hour{outcome="sent"} 4.0', text)
        self.assertIn('flock_sms_provider_latency_seconds{quantile="0.5"} 0.05', text)
