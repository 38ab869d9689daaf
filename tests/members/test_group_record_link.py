"""The group page's "Record attendance" link: today's session of that group."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from members.models import Group
from tests.base import FlockTestCase


class GroupRecordLinkTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.choir = Group.objects.create(church=cls.grace, name="Choir", kind="ministry")
        cls.old = Group.objects.create(church=cls.grace, name="Old Choir", archived=True)

    def setUp(self) -> None:
        self.login(self.alice)

    def test_it_links_to_recording_todays_attendance_of_the_group(self):
        response = self.client.get(reverse("group_detail", args=[self.choir.pk]))
        url = f"{reverse('attendance_record')}?date={timezone.localdate():%Y-%m-%d}&group={self.choir.pk}"
        self.assertContains(response, f'href="{url.replace("&", "&amp;")}">Record attendance</a>', html=False)
        followed = self.client.get(url)
        self.assertEqual(followed.status_code, 200)
        self.assertContains(followed, "Choir")

    def test_it_offers_no_recording_for_an_archived_group(self):
        response = self.client.get(reverse("group_detail", args=[self.old.pk]))
        self.assertEqual(response.status_code, 200)
        self.assertNotContains(response, "Record attendance")
