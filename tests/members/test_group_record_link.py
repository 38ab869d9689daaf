"""The group page's "Record attendance" link: the group's most recent meeting (today when it has
no meeting day)."""

from __future__ import annotations

import datetime

from django.urls import reverse

from members.models import Group
from members.timezones import church_today
from tests.base import FlockTestCase


class GroupRecordLinkTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.choir = Group.objects.create(church=cls.grace, name="Choir", kind="ministry")
        cls.old = Group.objects.create(church=cls.grace, name="Old Choir", archived=True)

    def setUp(self) -> None:
        self.login(self.alice)

    def test_it_links_to_recording_the_groups_most_recent_meeting(self):
        response = self.client.get(reverse("group_detail", args=[self.choir.pk]))
        link = f"{reverse('attendance_record')}?group={self.choir.pk}"
        self.assertContains(response, f'href="{link}">Record attendance</a>', html=False)
        today = church_today(self.grace)
        followed = self.client.get(link)
        self.assertRedirects(followed, f"{reverse('attendance_record')}?date={today:%Y-%m-%d}&group={self.choir.pk}")
        Group.objects.filter(pk=self.choir.pk).update(meeting_day=(today.weekday() - 2) % 7)  # two days ago
        followed = self.client.get(link, follow=True)
        self.assertEqual(followed.context["date"], today - datetime.timedelta(days=2))
        self.assertContains(followed, "Choir")

    def test_it_offers_no_recording_for_an_archived_group(self):
        response = self.client.get(reverse("group_detail", args=[self.old.pk]))
        self.assertEqual(response.status_code, 200)
        self.assertNotContains(response, "Record attendance")
