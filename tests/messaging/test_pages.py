"""The message list and message page (counts, deliveries, cancel), and a member's texts and
opt-out on their page: fixed query counts whatever the number of recipients."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import Group, Member
from messaging import services
from messaging.models import Delivery, Message, OptOut
from tests.base import FlockTestCase

from .support import confirm, people


class PagesTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.small = Group.objects.create(church=cls.grace, name="Small")
        cls.big = Group.objects.create(church=cls.grace, name="Big")
        people(cls.grace, 3, prefix="+1666", group=cls.small)
        people(cls.grace, 120, prefix="+1777", group=cls.big)

    def setUp(self) -> None:
        self.login(self.alice)

    def _queries(self, url: str) -> int:
        self.client.get(url)  # warm the session and user caches
        with CaptureQueriesContext(connection) as ctx:
            response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        return len(ctx.captured_queries)

    def test_it_lists_the_churchs_messages_with_their_counts(self):
        message = confirm(self.grace, self.alice, group=self.small, body="Choir practice moved to 6pm")
        confirm(self.charlie.church, self.charlie, members=people(self.hope, 1, prefix="+1888"), body="Hope only")
        response = self.client.get("/messages/")
        self.assertContains(response, "Choir practice moved")
        self.assertContains(response, '<strong data-deliveries="queued">3</strong>', html=True)
        self.assertContains(response, "alice")
        self.assertNotContains(response, "Hope only")
        self.assertContains(response, f"/messages/{message.pk}/")

    def test_it_shows_an_empty_state(self):
        self.assertContains(self.client.get("/messages/"), "No texts sent yet")

    def test_it_pins_the_list_and_message_page_queries_whatever_the_recipients(self):
        small = confirm(self.grace, self.alice, group=self.small)
        list_few = self._queries("/messages/")
        detail_few = self._queries(f"/messages/{small.pk}/")
        big = confirm(self.grace, self.alice, group=self.big)
        for _ in range(30):
            confirm(self.grace, self.alice, group=self.small)
        self.assertEqual(self._queries("/messages/"), list_few)
        self.assertEqual(self._queries(f"/messages/{big.pk}/"), detail_few)
        self.assertEqual(self._queries(f"/messages/{big.pk}/?page=3"), detail_few)
        # Exactly: the session+user come from the cache; the message, then its page of deliveries.
        with self.assertNumQueries(2):
            self.client.get(f"/messages/{big.pk}/")
        with self.assertNumQueries(2):  # the count and the page
            self.client.get("/messages/?page=2")

    def test_it_shows_every_state_count_and_the_reasons(self):
        message = confirm(self.grace, self.alice, group=self.small)
        first, second, third = Delivery.objects.filter(message=message).order_by("id")
        Delivery.objects.filter(pk=first.pk).update(state="failed", error_code="21211", attempts=1,
                                                    error_reason="The phone number is not a valid number.")
        Delivery.objects.filter(pk=second.pk).update(state="delivered", provider_sid="SMabc", attempts=1)
        Message.objects.filter(pk=message.pk).update(n_queued=1, n_failed=1, n_delivered=1)
        response = self.client.get(f"/messages/{message.pk}/")
        for state, n in {"queued": 1, "sending": 0, "sent": 0, "delivered": 1, "failed": 1, "skipped": 0,
                         "cancelled": 0}.items():
            self.assertContains(response, f'<strong data-deliveries="{state}">{n}</strong>', html=True)
        self.assertContains(response, "21211")
        self.assertContains(response, "not a valid number")
        self.assertContains(response, "SMabc")

    def test_it_paginates_the_deliveries(self):
        message = confirm(self.grace, self.alice, group=self.big)
        page1 = self.client.get(f"/messages/{message.pk}/").content.decode()
        page3 = self.client.get(f"/messages/{message.pk}/?page=3").content.decode()
        self.assertEqual(page1.count("data-delivery="), 50)
        self.assertEqual(page3.count("data-delivery="), 20)
        self.assertIn("Page 3 of 3", page3)
        self.assertEqual(self.client.get(f"/messages/{message.pk}/?page=zzz").status_code, 200)

    def test_it_cancels_what_is_not_sent_and_a_repeat_changes_nothing(self):
        message = confirm(self.grace, self.alice, group=self.small)
        sending = Delivery.objects.filter(message=message).first()
        Delivery.objects.filter(pk=sending.pk).update(state="sending")
        Message.objects.filter(pk=message.pk).update(n_queued=2, n_sending=1)
        response = self.client.post(f"/messages/{message.pk}/cancel/", follow=True)
        self.assertContains(response, "Cancelled 2 texts")
        message.refresh_from_db()
        self.assertEqual((message.n_cancelled, message.n_sending, message.n_queued), (2, 1, 0))
        self.assertEqual(message.cancelled_by, self.alice)
        again = self.client.post(f"/messages/{message.pk}/cancel/", follow=True)
        self.assertContains(again, "Nothing was left to cancel")
        message.refresh_from_db()
        self.assertEqual(message.n_cancelled, 2)
        self.assertEqual(self.client.get(f"/messages/{message.pk}/cancel/").status_code, 405)

    def test_it_shows_a_members_texts_and_opt_out_with_pinned_queries(self):
        member = Member.objects.filter(church=self.grace, phone__startswith="+1666").first()
        self.client.get(f"/members/{member.pk}/")
        with CaptureQueriesContext(connection) as few:
            self.client.get(f"/members/{member.pk}/")
        for n in range(15):
            confirm(self.grace, self.alice, group=self.small, body=f"Notice {n}")
        with CaptureQueriesContext(connection) as many:
            response = self.client.get(f"/members/{member.pk}/")
        self.assertEqual(len(many.captured_queries), len(few.captured_queries))
        html = response.content.decode()
        self.assertIn("Notice 14", html)
        self.assertNotIn("Notice 4<", html)  # only the 10 most recent
        self.assertIn("The 10 most recent texts", html)
        self.assertIn('data-optout="in"', html)

    def test_it_lets_staff_opt_a_member_out_and_back_in(self):
        member = Member.objects.filter(church=self.grace, phone__startswith="+1666").first()
        response = self.client.post(f"/members/{member.pk}/texts/opt-out/", {"opted_out": "1"}, follow=True)
        self.assertContains(response, "will get no more texts")
        self.assertContains(response, 'data-optout="out"')
        optout = OptOut.objects.get(church=self.grace, phone=member.phone)
        self.assertEqual((optout.how, optout.detail), ("staff", "alice"))
        # Now left out of a new text.
        found = services.selectors.audience(church=self.grace, group_id=self.small.pk)
        self.assertIn("opted_out", [r.skip for r in found.recipients])
        self.client.post(f"/members/{member.pk}/texts/opt-out/", {"opted_out": "0"})
        self.assertFalse(OptOut.objects.get(church=self.grace, phone=member.phone).opted_out)
        bad = self.client.post(f"/members/{member.pk}/texts/opt-out/", {"opted_out": "maybe"}, follow=True)
        self.assertContains(bad, "Choose whether")

    def test_it_refuses_to_opt_out_a_member_without_a_phone(self):
        member = Member.objects.create(church=self.grace, first_name="No", last_name="Phone")
        response = self.client.post(f"/members/{member.pk}/texts/opt-out/", {"opted_out": "1"}, follow=True)
        self.assertContains(response, "has no phone number")
        self.assertFalse(OptOut.objects.exists())

    def test_it_hides_grace_from_charlie(self):
        message = confirm(self.grace, self.alice, group=self.small)
        self.login(self.charlie)
        self.assertEqual(self.client.get(f"/messages/{message.pk}/").status_code, 404)
        self.assertEqual(self.client.post(f"/messages/{message.pk}/cancel/").status_code, 404)
        self.assertNotContains(self.client.get("/messages/"), "Small")
        message.refresh_from_db()
        self.assertEqual(message.n_queued, 3)
