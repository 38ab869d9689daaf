"""Each church's time zone (admin field; default America/Chicago): "today", the dashboard's "as
of", attendance dates, the 30-day and 4-week windows and every shown time are in it."""

from __future__ import annotations

import datetime
from unittest import mock
from zoneinfo import ZoneInfo

from django.utils import timezone

from attendance.forms import SessionForm
from members.models import Church, Member
from members.timezones import church_today, church_zone, most_recent_weekday
from tests.base import FlockTestCase, clear_caches

# 03:30 UTC on a Monday: still Sunday evening in Chicago, already Monday afternoon in Tokyo.
NOW = datetime.datetime(2026, 11, 30, 3, 30, tzinfo=datetime.timezone.utc)


class TimeZonesTestCase(FlockTestCase):
    def setUp(self) -> None:
        self.login(self.alice)

    def test_it_defaults_to_chicago_and_reads_the_churchs_field(self):
        self.assertEqual(self.grace.time_zone, "America/Chicago")
        self.assertEqual(church_zone(self.grace), ZoneInfo("America/Chicago"))
        self.grace.time_zone = "Asia/Tokyo"
        self.assertEqual(church_zone(self.grace), ZoneInfo("Asia/Tokyo"))
        self.grace.time_zone = "Not/AZone"  # e.g. a zone this machine's database lacks: the default, no error
        self.assertEqual(church_zone(self.grace), ZoneInfo("America/Chicago"))

    def test_it_computes_today_and_the_service_day_where_the_church_is(self):
        with mock.patch.object(timezone, "now", return_value=NOW):
            self.assertEqual(church_today(self.grace), datetime.date(2026, 11, 29))  # Sunday in Chicago
            self.grace.time_zone = "Asia/Tokyo"
            self.assertEqual(church_today(self.grace), datetime.date(2026, 11, 30))
        self.assertEqual(most_recent_weekday(datetime.date(2026, 12, 1), 6), datetime.date(2026, 11, 29))
        self.assertEqual(most_recent_weekday(datetime.date(2026, 11, 29), 6), datetime.date(2026, 11, 29))

    def test_it_refuses_dates_after_the_churchs_today(self):
        with mock.patch.object(timezone, "now", return_value=NOW):
            form = SessionForm({"date": "2026-11-30", "group": ""}, church=self.grace)
            self.assertFalse(form.is_valid())  # Monday is tomorrow in Chicago
            self.grace.time_zone = "Asia/Tokyo"
            self.assertTrue(SessionForm({"date": "2026-11-30", "group": ""}, church=self.grace).is_valid())

    def test_it_shows_the_dashboards_as_of_and_its_windows_in_the_churchs_zone(self):
        Church.objects.filter(pk=self.grace.pk).update(time_zone="Asia/Tokyo")
        clear_caches()
        Member.objects.create(church=self.grace, first_name="New", last_name="One",
                              joined_on=datetime.date(2026, 10, 31))  # 30 days before Tokyo's Monday
        self.recount()
        with mock.patch.object(timezone, "now", return_value=NOW):
            response = self.client.get("/dashboard/")
        fragment = response.context["fragment"]
        self.assertIn("Figures as of <time", fragment)
        self.assertIn(">12:30 JST</time> on Monday 30 November 2026", fragment)
        self.assertIn('data-stat="members_new_30d">1<', fragment)
        self.assertIn("joined on or after 31 Oct", fragment)
