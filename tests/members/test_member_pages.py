"""Adding, viewing, editing and deleting one member."""

from __future__ import annotations

import datetime

from django.urls import reverse

from attendance.models import Attendance
from attendance.services import attendance_record
from members.models import Group, Member, Membership
from tests.base import FlockTestCase, church_day

VALID = {"first_name": "Ruth", "last_name": "Moab", "email": "Ruth@Example.ORG", "phone": "+1 (555) 010-9999",
         "status": "regular", "joined_on": "2024-05-01", "birth_date": "1990-02-03"}


class MemberPagesTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.naomi = Member.objects.create(church=cls.grace, first_name="Naomi", last_name="Bethlehem",
                                          email="naomi@grace.test", phone="+15550001111")
        cls.hope_naomi = Member.objects.create(church=cls.hope, first_name="Other", last_name="Naomi",
                                               email="ruth@example.org")

    def setUp(self) -> None:
        self.login(self.alice)
        self.client.get(reverse("member_new"))  # warms the cached login user

    def test_it_creates_a_member_with_normalised_email_and_phone(self):
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(reverse("member_new"), VALID)
        ruth = Member.objects.get(church=self.grace, first_name="Ruth")
        self.assertRedirects(response, f"/members/{ruth.pk}/", fetch_redirect_response=False)
        self.assertEqual(ruth.email, "ruth@example.org")  # Hope's member with that email is another church
        self.assertEqual(ruth.phone, "+15550109999")
        self.assertEqual((ruth.status, ruth.joined_on, ruth.birth_date),
                         ("regular", datetime.date(2024, 5, 1), datetime.date(1990, 2, 3)))

    def test_it_creates_a_member_from_the_four_contract_fields_only(self):
        response = self.client.post(reverse("member_new"), {"first_name": "Orpah", "last_name": "Moab",
                                                            "email": "orpah@example.org", "phone": "+15550102222"})
        orpah = Member.objects.get(church=self.grace, email="orpah@example.org")
        self.assertRedirects(response, f"/members/{orpah.pk}/", fetch_redirect_response=False)
        self.assertEqual((orpah.status, orpah.joined_on), ("visitor", church_day()))

    def test_it_defaults_the_join_date_to_today(self):
        self.client.post(reverse("member_new"), {**VALID, "joined_on": "", "birth_date": ""})
        ruth = Member.objects.get(church=self.grace, first_name="Ruth")
        self.assertEqual(ruth.joined_on, church_day())
        self.assertIsNone(ruth.birth_date)

    def test_it_rejects_bad_input_with_clear_messages_and_changes_nothing(self):
        tomorrow = (church_day() + datetime.timedelta(days=1)).isoformat()
        cases = [
            ({"first_name": ""}, "This field is required."),
            ({"email": "not-an-email"}, "Enter a valid email address."),
            ({"email": "NAOMI@grace.test"}, "Another member of this church already has this email address."),
            ({"phone": "555-1234"}, "Add the area code, e.g. (808) 555-1234."),
            ({"phone": "12345"}, "Enter a valid phone number, e.g. (808) 555-1234"),
            ({"birth_date": tomorrow}, "The birth date can&#x27;t be in the future."),
            ({"joined_on": tomorrow}, "The join date can&#x27;t be in the future."),
            ({"joined_on": "31/31/2020"}, "Enter a valid date."),
            ({"status": "boss"}, "Select a valid choice. boss is not one of the available choices."),
        ]
        before = Member.objects.count()
        for change, message in cases:
            with self.subTest(change=change):
                response = self.client.post(reverse("member_new"), {**VALID, **change})
                self.assertEqual(response.status_code, 200)
                self.assertContains(response, message)
        self.assertEqual(Member.objects.count(), before)

    def test_it_shows_fields_groups_and_attendance_history(self):
        choir = Group.objects.create(church=self.grace, name="Choir")
        Membership.objects.create(group=choir, member=self.naomi, role="leader")
        Attendance.objects.create(church=self.grace, member=self.naomi, date=datetime.date(2026, 1, 4))
        Attendance.objects.create(church=self.grace, member=self.naomi, group=choir, date=datetime.date(2026, 1, 7))
        response = self.client.get(f"/members/{self.naomi.pk}/")
        self.assertContains(response, "naomi@grace.test")
        # The church's own (US) numbers in national format; dialled as stored.
        self.assertContains(response, '<a class="target" href="tel:+15550001111">(555) 000-1111</a>', html=True)
        self.assertContains(response, f'<a class="target" href="/groups/{choir.pk}/"><bdi>Choir</bdi></a>', html=True)
        self.assertContains(response, '<td data-label="Role">Leader</td>', html=True)
        self.assertContains(response, "Sun 4 Jan 2026")
        self.assertContains(response, '<td data-label="Where">Service</td>', html=True)
        self.assertContains(response, "Wed 7 Jan 2026")
        self.assertContains(response, '<dd data-last-attended>Wed 7 Jan 2026, <bdi>Choir</bdi></dd>', html=True)

    def test_it_lists_current_groups_by_name_then_archived_ones(self):
        for name, archived in (("Youth", False), ("Alpha", True), ("Choir", False)):
            group = Group.objects.create(church=self.grace, name=name, archived=archived)
            Membership.objects.create(group=group, member=self.naomi, role="member")
        groups = [ms.group.name for ms in self.client.get(f"/members/{self.naomi.pk}/").context["memberships"]]
        self.assertEqual(groups, ["Choir", "Youth", "Alpha"])

    def test_it_shows_empty_states_on_the_detail_page(self):
        response = self.client.get(f"/members/{self.naomi.pk}/")
        self.assertContains(response, "Not in any group yet.")
        self.assertContains(response, "No attendance recorded for <bdi>Naomi</bdi> yet.")

    def _detail_queries(self, rows: int) -> None:
        groups = Group.objects.bulk_create([Group(church=self.grace, name=f"G{i}") for i in range(rows)])
        Membership.objects.bulk_create([Membership(group=g, member=self.naomi) for g in groups])
        Attendance.objects.bulk_create([
            Attendance(church=self.grace, member=self.naomi, group=groups[i % rows],
                       date=datetime.date(2025, 1, 1) + datetime.timedelta(days=i))
            for i in range(rows)
        ])
        # Plus, on every view, the texting section (messaging, uncached by design): the phone's opt-out
        # and the last texts.
        with self.assertNumQueries(2 + 2):  # member joined to memberships and groups, attendance with groups
            self.client.get(f"/members/{self.naomi.pk}/")
        with self.assertNumQueries(0 + 2):  # the profile is cached
            response = self.client.get(f"/members/{self.naomi.pk}/")
        self.assertContains(response, "G0")

    def test_it_shows_a_fresh_profile_after_an_edit(self):
        self.client.get(f"/members/{self.naomi.pk}/")  # warms the cached profile
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(reverse("member_edit", args=[self.naomi.pk]), {
                "first_name": "Naomi", "last_name": "Renamed", "email": "naomi@grace.test", "phone": "",
                "status": "member", "joined_on": "2024-01-01",
            })
        self.assertEqual(response.status_code, 302)
        self.assertContains(self.client.get(f"/members/{self.naomi.pk}/"), "Renamed")

    def test_it_shows_a_fresh_profile_after_attendance_is_recorded(self):
        self.client.get(f"/members/{self.naomi.pk}/")
        with self.captureOnCommitCallbacks(execute=True):
            attendance_record(church=self.grace, date=datetime.date(2026, 1, 4), group=None,
                              present_member_ids=[self.naomi.pk], shown_member_ids=[self.naomi.pk])
        self.assertContains(self.client.get(f"/members/{self.naomi.pk}/"), "Sun 4 Jan 2026")

    def test_it_runs_a_fixed_number_of_queries_on_the_detail_page_3(self):
        self._detail_queries(3)

    def test_it_runs_a_fixed_number_of_queries_on_the_detail_page_60(self):
        self._detail_queries(60)

    def test_it_edits_a_member_keeping_their_own_email(self):
        response = self.client.get(reverse("member_edit", args=[self.naomi.pk]))
        self.assertContains(response, 'value="naomi@grace.test"')
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(reverse("member_edit", args=[self.naomi.pk]), {
                "first_name": "Naomi", "last_name": "Mara", "email": "naomi@grace.test", "phone": "",
                "status": "member", "joined_on": "2020-01-01", "birth_date": ""})
        self.assertRedirects(response, f"/members/{self.naomi.pk}/", fetch_redirect_response=False)
        self.naomi.refresh_from_db()
        self.assertEqual((self.naomi.last_name, self.naomi.phone, self.naomi.status), ("Mara", "", "member"))

    def test_it_refuses_an_edit_to_another_members_email(self):
        Member.objects.create(church=self.grace, first_name="Boaz", last_name="B", email="boaz@grace.test")
        response = self.client.post(reverse("member_edit", args=[self.naomi.pk]), {
            "first_name": "Naomi", "last_name": "B", "email": "Boaz@Grace.test", "status": "member"})
        self.assertContains(response, "Another member of this church already has this email address.")
        self.naomi.refresh_from_db()
        self.assertEqual(self.naomi.email, "naomi@grace.test")

    def test_it_confirms_before_deleting_and_cascades(self):
        choir = Group.objects.create(church=self.grace, name="Choir")
        Membership.objects.create(group=choir, member=self.naomi)
        Attendance.objects.create(church=self.grace, member=self.naomi, date=datetime.date(2026, 1, 4))
        self.recount()
        response = self.client.get(reverse("member_delete", args=[self.naomi.pk]))
        self.assertContains(response, "Delete <bdi>Naomi Bethlehem</bdi>?")
        self.assertContains(response, "1 group membership")
        self.assertContains(response, "1 attendance record")
        self.assertTrue(Member.objects.filter(pk=self.naomi.pk).exists())
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(reverse("member_delete", args=[self.naomi.pk]))
        self.assertRedirects(response, reverse("member_list"), fetch_redirect_response=False)
        self.assertFalse(Member.objects.filter(pk=self.naomi.pk).exists())
        self.assertFalse(Membership.objects.filter(group=choir).exists())
        self.assertFalse(Attendance.objects.filter(church=self.grace).exists())
        self.assertTrue(Member.objects.filter(pk=self.hope_naomi.pk).exists())

    def test_it_refreshes_the_cached_group_list_when_a_leader_is_renamed(self):
        choir = Group.objects.create(church=self.grace, name="Choir")
        Membership.objects.create(group=choir, member=self.naomi, role="leader")
        self.assertContains(self.client.get(reverse("group_list")), "Naomi Bethlehem")
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(reverse("member_edit", args=[self.naomi.pk]), {
                "first_name": "Naomi", "last_name": "Mara", "email": "naomi@grace.test", "status": "member"})
        self.assertContains(self.client.get(reverse("group_list")), "Naomi Mara")
