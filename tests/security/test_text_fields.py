"""Free text: control characters and bidirectional overrides are refused in names (members,
groups, churches) and in group descriptions (which may hold newlines), and a description is at
most 2,000 characters: in the staff forms, the admin (model validation) and the import."""

from __future__ import annotations

from django.urls import reverse

from members.forms import GroupForm, MemberForm
from members.models import GROUP_DESCRIPTION_MAX_LENGTH, Group
from tests.base import FlockTestCase

BAD_NAMES = ("Ann\nLee", "Ann\rLee", "Ann\tLee", "Ann\u202eeeL", "Ann\u2067", "Ann\x00", "Ann\x1b[31m", "Ann\u2029Lee")
GOOD_NAMES = ("Ann-Marie", "O'Brien", "Zoë", "\u05d9\u05d5\u05e1\u05e3", "\u0639\u0644\u064a\u200f", "李小龍", "👩‍👩‍👧")


class TextFieldsTestCase(FlockTestCase):
    def test_it_refuses_control_characters_in_member_names(self):
        for bad in BAD_NAMES:
            form = MemberForm({"first_name": bad, "last_name": "Lee"}, church=self.grace)
            self.assertFalse(form.is_valid(), repr(bad))
        for good in GOOD_NAMES:
            form = MemberForm({"first_name": good, "last_name": "Lee"}, church=self.grace)
            self.assertTrue(form.is_valid(), (good, form.errors))

    def test_it_refuses_them_in_group_names_but_allows_newlines_in_descriptions(self):
        for bad in BAD_NAMES:
            form = GroupForm({"name": bad, "kind": "other"}, church=self.grace)
            if form.is_valid():  # whitespace (newlines, tabs) is folded into single spaces
                self.assertEqual(form.cleaned_data["name"], "Ann Lee", repr(bad))
            else:
                self.assertIn("name", form.errors, repr(bad))
        form = GroupForm({"name": "Choir", "kind": "other", "description": "Sundays\r\nand Wednesdays\tat 7"},
                         church=self.grace)
        self.assertTrue(form.is_valid(), form.errors)
        for bad in ("Sings\u202e", "Sings\x07"):
            form = GroupForm({"name": "Choir", "kind": "other", "description": bad}, church=self.grace)
            self.assertFalse(form.is_valid(), repr(bad))

    def test_it_limits_a_groups_description(self):
        ok = "x" * GROUP_DESCRIPTION_MAX_LENGTH
        self.assertTrue(GroupForm({"name": "A", "kind": "other", "description": ok}, church=self.grace).is_valid())
        form = GroupForm({"name": "B", "kind": "other", "description": ok + "x"}, church=self.grace)
        self.assertFalse(form.is_valid())
        self.assertIn("at most 2000 characters", str(form.errors["description"]))
        self.login(self.dana)
        response = self.client.post(reverse("admin:members_group_add"), {
            "church": self.grace.pk, "name": "Huge", "kind": "other", "description": "x" * 2_000_000,
        })
        self.assertEqual(response.status_code, 200)
        self.assertFalse(Group.objects.filter(name="Huge").exists())

    def test_it_refuses_them_in_the_admin(self):
        self.login(self.dana)
        response = self.client.post(reverse("admin:members_church_add"), {"name": "Evil\u202eChurch", "slug": "evil"})
        self.assertContains(response, "text-direction overrides")
        response = self.client.post(reverse("admin:members_member_add"), {
            "church": self.grace.pk, "first_name": "Ann\nLee", "last_name": "Lee", "status": "visitor",
            "joined_on": "2026-03-01", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
        })
        self.assertContains(response, "control characters")
