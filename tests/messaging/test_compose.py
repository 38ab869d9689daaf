"""Composing a text: the form, the preview (who gets it, who is left out and why), and the
confirmation that queues it once, in one transaction with its tasks."""

from __future__ import annotations

import datetime
import re
import threading
from zoneinfo import ZoneInfo

import pytest

from django.db import connection
from django.test import TransactionTestCase
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from members.models import Church, Group, Member, Membership
from messaging import gsm, services
from messaging.models import Delivery, Message, OptOut
from tests.base import FlockTestCase, make_user

from .support import people

TOKEN_RE = re.compile(r'name="token" value="([^"]+)"')


class ComposeTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.group = Group.objects.create(church=cls.grace, name="Choir")
        cls.hope_group = Group.objects.create(church=cls.hope, name="Hope Choir")
        cls.ann = Member.objects.create(church=cls.grace, first_name="Ann", last_name="Able", phone="+15550001001")
        cls.ben = Member.objects.create(church=cls.grace, first_name="Ben", last_name="Baker", phone="+15550001001")
        cls.cat = Member.objects.create(church=cls.grace, first_name="Cat", last_name="Cole", phone="")
        cls.dan = Member.objects.create(church=cls.grace, first_name="Dan", last_name="Dunn", phone="+15550001004",
                                        status=Member.Status.INACTIVE)
        cls.eve = Member.objects.create(church=cls.grace, first_name="Eve", last_name="Eden", phone="+15550001005")
        cls.fay = Member.objects.create(church=cls.grace, first_name="Fay", last_name="Ford", phone="+15550001006")
        for m in (cls.ann, cls.ben, cls.cat, cls.dan, cls.eve, cls.fay):
            Membership.objects.create(group=cls.group, member=m)
        OptOut.objects.create(church=cls.grace, phone="+15550001005", how="keyword", detail="STOP")
        # Hope's opt-out of Fay's number must not keep Grace's text from her.
        OptOut.objects.create(church=cls.hope, phone="+15550001006", how="keyword", detail="STOP")

    def setUp(self) -> None:
        self.login(self.alice)

    def preview(self, **data):
        return self.client.post("/messages/new/", {"body": "See you Sunday!", **data})

    def test_it_shows_the_compose_form_with_the_churchs_groups_and_the_counter_script(self):
        response = self.client.get("/messages/new/")
        self.assertContains(response, 'name="body"')
        self.assertContains(response, 'name="group"')
        self.assertContains(response, "Choir")
        self.assertNotContains(response, "Hope Choir")
        self.assertContains(response, "js/sms-counter.js")
        self.assertContains(response, 'data-sms-counter="sms-count"')
        self.assertNotContains(response, "onclick")

    def test_it_previews_who_gets_it_and_who_is_left_out_and_why(self):
        response = self.preview(group=self.group.pk)
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "<strong data-recipients>2</strong>", html=False)
        html = response.content.decode()
        self.assertIn('data-left-out="duplicate_phone"', html)  # Ben shares Ann's phone
        self.assertIn('data-left-out="no_phone"', html)
        self.assertIn('data-left-out="inactive"', html)
        self.assertIn('data-left-out="opted_out"', html)
        self.assertIn("Ben Baker", html)
        self.assertEqual(Message.objects.count(), 0)  # nothing queued before the confirmation
        self.assertEqual(DBTaskResult.objects.count(), 0)

    def test_it_queues_the_message_its_deliveries_and_its_task_on_confirm(self):
        token = TOKEN_RE.search(self.preview(group=self.group.pk).content.decode()).group(1)
        response = self.client.post("/messages/new/confirm/", {"token": token})
        message = Message.objects.get()
        self.assertRedirects(response, f"/messages/{message.pk}/", fetch_redirect_response=False)
        self.assertEqual((message.n_queued, message.n_skipped, message.recipients), (2, 4, 6))
        self.assertEqual(set(Delivery.objects.filter(state="queued").values_list("name", flat=True)),
                         {"Ann Able", "Fay Ford"})
        reasons = dict(Delivery.objects.filter(state="skipped").values_list("name", "skip_reason"))
        self.assertEqual(reasons, {"Ben Baker": "duplicate_phone", "Cat Cole": "no_phone", "Dan Dunn": "inactive",
                                   "Eve Eden": "opted_out"})
        task = DBTaskResult.objects.get()
        self.assertEqual((task.status, task.args_kwargs["kwargs"]), ("READY", {"message_id": message.pk}))
        self.assertEqual(message.created_by, self.alice)
        self.assertEqual(message.audience, "Choir")

    def test_it_queues_once_when_the_preview_is_confirmed_twice(self):
        token = TOKEN_RE.search(self.preview(group=self.group.pk).content.decode()).group(1)
        first = self.client.post("/messages/new/confirm/", {"token": token})
        second = self.client.post("/messages/new/confirm/", {"token": token}, follow=True)
        self.assertEqual(Message.objects.count(), 1)
        self.assertEqual(first["Location"], second.redirect_chain[0][0])
        self.assertContains(second, "already queued")
        self.assertEqual(DBTaskResult.objects.count(), 1)

    def test_it_refuses_a_tampered_or_other_users_token(self):
        token = TOKEN_RE.search(self.preview(group=self.group.pk).content.decode()).group(1)
        response = self.client.post("/messages/new/confirm/", {"token": token[:-2] + "xx"}, follow=True)
        self.assertContains(response, "not valid")
        self.login(self.bob)
        self.client.post("/messages/new/confirm/", {"token": token})
        self.login(self.charlie)
        self.client.post("/messages/new/confirm/", {"token": token})
        self.assertEqual(Message.objects.count(), 0)

    def test_it_refuses_another_churchs_group_and_ignores_its_members(self):
        response = self.preview(group=self.hope_group.pk)
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Select a valid choice")
        hal = Member.objects.create(church=self.hope, first_name="Hal", last_name="Hope", phone="+15550009999")
        response = self.preview(member_ids=[hal.pk, self.ann.pk])
        self.assertContains(response, "<strong data-recipients>1</strong>", html=False)
        self.assertNotContains(response, "Hal")

    def test_it_texts_the_members_ticked_on_the_member_list(self):
        page = self.client.get("/members/")
        self.assertContains(page, 'formaction="/messages/new/"')
        response = self.client.post("/messages/new/", {"member_ids": [self.ann.pk, self.fay.pk], "compose": "1",
                                                       "status": "member", "next": "/members/"})
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, f'name="member_ids" value="{self.ann.pk}"')
        self.assertContains(response, "the 2 people you ticked")
        self.assertNotContains(response, "errorlist")
        preview = self.preview(member_ids=[self.ann.pk, self.fay.pk])
        self.assertContains(preview, "<strong data-recipients>2</strong>", html=False)
        self.assertContains(preview, "2 selected members")

    def test_it_explains_what_is_wrong_with_the_form(self):
        self.assertContains(self.client.post("/messages/new/", {"body": "Hi"}), "Choose a group")
        self.assertContains(self.preview(group=self.group.pk, body="   "), "This field is required")
        self.assertContains(self.preview(group=self.group.pk, body="x" * 1600), "keep it to 10")
        self.assertContains(self.preview(group=self.group.pk, send_at="2001-01-01T10:00"), "in the future")
        self.assertContains(self.preview(group=self.group.pk, send_at="tomorrow"), "Enter a valid date/time")
        self.assertContains(self.preview(member_ids=["x"]), "not valid")
        self.assertEqual(Message.objects.count(), 0)

    def test_it_schedules_in_the_churchs_time_zone(self):
        local = (timezone.now() + datetime.timedelta(days=2)).astimezone(ZoneInfo("America/Chicago"))
        typed = local.strftime("%Y-%m-%dT%H:%M")
        response = self.preview(group=self.group.pk, send_at=typed)
        self.assertContains(response, local.strftime("%H:%M"))
        token = TOKEN_RE.search(response.content.decode()).group(1)
        self.client.post("/messages/new/confirm/", {"token": token})
        message = Message.objects.get()
        expected = local.replace(second=0, microsecond=0)
        self.assertEqual(message.scheduled_for, expected)
        self.assertEqual(min(Delivery.objects.filter(state="queued").values_list("due_at", flat=True)), expected)
        self.assertEqual(DBTaskResult.objects.get().run_after, expected)

    def test_it_follows_the_churchs_own_zone(self):
        from members.models import Church
        from tests.base import clear_caches

        Church.objects.filter(pk=self.grace.pk).update(time_zone="Asia/Tokyo")  # the admin's field
        clear_caches()  # the cached login carries the church's row
        at = timezone.now() + datetime.timedelta(days=1)
        typed = at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%dT%H:%M")
        token = TOKEN_RE.search(self.preview(group=self.group.pk, send_at=typed).content.decode()).group(1)
        self.client.post("/messages/new/confirm/", {"token": token})
        self.assertEqual(Message.objects.get().scheduled_for, at.replace(second=0, microsecond=0))

    def test_it_says_so_when_nobody_can_be_texted(self):
        lonely = Group.objects.create(church=self.grace, name="Lonely")
        Membership.objects.create(group=lonely, member=self.cat)
        response = self.preview(group=lonely.pk)
        self.assertContains(response, "<strong data-recipients>0</strong>", html=False)
        self.assertContains(response, "Nobody in this selection can be texted")
        self.assertNotContains(response, 'name="token"')


class SegmentsTestCase(FlockTestCase):
    def test_it_counts_gsm7_and_ucs2_segments(self):
        cases = [("", "GSM-7", 0), ("a" * 160, "GSM-7", 1), ("a" * 161, "GSM-7", 2), ("a" * 306, "GSM-7", 2),
                 ("a" * 307, "GSM-7", 3), ("€" * 80, "GSM-7", 1), ("€" * 81, "GSM-7", 2),
                 ("é" * 160, "GSM-7", 1), ("ç" * 70, "UCS-2", 1), ("ç" * 71, "UCS-2", 2),
                 ("🙂" * 35, "UCS-2", 1), ("🙂" * 36, "UCS-2", 2), ("a" * 134 + "’", "UCS-2", 3)]
        for body, encoding, segments in cases:
            with self.subTest(body=body[:10], n=len(body)):
                got = gsm.measure(body)
                self.assertEqual((got.encoding, got.segments), (encoding, segments))


@pytest.mark.postgres
class ConfirmConcurrencyTestCase(TransactionTestCase):
    """Two submits of one preview at the same moment, in real concurrent transactions (SQLite's
    in-memory test database cannot have two; its IMMEDIATE transactions serialize them anyway)."""

    def test_it_queues_one_message_for_two_simultaneous_confirms(self):
        church = Church.objects.create(name="Grace", slug="grace")
        user = make_user("alice", church=church)
        group = Group.objects.create(church=church, name="Choir")
        people(church, 30, group=group)
        draft = services.Draft(body="Hi", group_id=group.pk, key="0" * 31 + "1")
        results, errors = [], []
        barrier = threading.Barrier(2)

        def confirm() -> None:
            try:
                barrier.wait()
                results.append(services.message_confirm(church=church, user=user, draft=draft))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=confirm) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertEqual(sorted(created for _, created in results), [False, True])
        self.assertEqual(Message.objects.count(), 1)
        self.assertEqual(Delivery.objects.count(), 30)
        self.assertEqual(DBTaskResult.objects.count(), 1)
