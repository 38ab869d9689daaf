"""The Django admin for platform admins: staff accounts with a church, changelists without N+1."""

from __future__ import annotations

from django.test.utils import CaptureQueriesContext
from django.db import connection
from django.urls import reverse

from members.models import Group, Member, Membership, User
from tests.base import PASSWORD, FlockTestCase


class AdminTestCase(FlockTestCase):
    def setUp(self) -> None:
        self.login(self.dana)
        self.client.get(reverse("admin:index"))  # warms the cached login user

    def _rows(self, count: int, start: int = 0) -> None:
        members = Member.objects.bulk_create([
            Member(church=self.grace if i % 2 else self.hope, first_name=f"F{i}", last_name=f"L{i}",
                   email=f"m{i}@x.test") for i in range(start, start + count)
        ])
        groups = Group.objects.bulk_create([
            Group(church=self.grace if i % 2 else self.hope, name=f"G{i}") for i in range(start, start + count)
        ])
        Membership.objects.bulk_create([Membership(group=g, member=m) for g, m in zip(groups, members)])

    def _queries(self, url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        return len(ctx.captured_queries)

    def test_it_shows_changelists_in_a_number_of_queries_that_does_not_grow_with_rows(self):
        urls = [reverse(f"admin:members_{model}_changelist") for model in ("member", "membership", "group", "user")]
        self._rows(3)
        small = {url: self._queries(url) for url in urls}
        self._rows(57, start=3)
        for url in urls:
            with self.subTest(url=url):
                with self.assertNumQueries(small[url]):
                    response = self.client.get(url)
                self.assertEqual(response.status_code, 200)

    def test_it_shows_the_member_and_membership_changelists_in_few_queries(self):
        self._rows(60)
        # The church filter's choices, the count for the paginator, one page of rows with the
        # church joined (no second, unfiltered COUNT: show_full_result_count is off).
        with self.assertNumQueries(3):
            response = self.client.get(reverse("admin:members_member_changelist"))
        self.assertContains(response, "m53@x.test")
        with self.assertNumQueries(2):  # count, one page of rows with member, group and church joined
            response = self.client.get(reverse("admin:members_membership_changelist"))
        self.assertContains(response, "F59 L59 in G59")

    def test_it_searches_members_and_filters_by_church(self):
        self._rows(6)
        # Names are matched as link text: a bare "F3" also turns up inside a random CSRF token.
        response = self.client.get(reverse("admin:members_member_changelist"), {"q": "m3@x.test"})
        self.assertContains(response, ">F3</a>")
        self.assertNotContains(response, ">F4</a>")
        response = self.client.get(reverse("admin:members_member_changelist"), {"church__id__exact": self.hope.pk})
        self.assertContains(response, ">F4</a>")
        self.assertNotContains(response, ">F3</a>")

    def test_it_creates_a_staff_account_for_a_church(self):
        response = self.client.get(reverse("admin:members_user_add"))
        self.assertContains(response, 'name="church"')
        response = self.client.post(reverse("admin:members_user_add"), {
            "username": "erin", "email": "erin@grace.test", "church": self.grace.pk, "usable_password": "true",
            "password1": PASSWORD, "password2": PASSWORD, "_save": "Save",
        })
        self.assertEqual(response.status_code, 302, response.content[:2000])
        erin = User.objects.get(username="erin")
        self.assertEqual(erin.church, self.grace)
        self.assertTrue(erin.is_church_staff)
        self.assertTrue(erin.check_password(PASSWORD))

    def test_it_shows_the_church_on_the_user_list_and_change_form(self):
        response = self.client.get(reverse("admin:members_user_changelist"), {"church__id__exact": self.hope.pk})
        self.assertContains(response, "charlie")
        self.assertNotContains(response, ">alice<")
        response = self.client.get(reverse("admin:members_user_change", args=[self.alice.pk]))
        self.assertContains(response, 'name="church"')

    def test_it_opens_the_member_and_group_change_forms(self):
        self._rows(2)
        member = Member.objects.filter(memberships__isnull=False).first()
        response = self.client.get(reverse("admin:members_member_change", args=[member.pk]))
        self.assertContains(response, member.first_name)
        self.assertContains(response, 'class="vForeignKeyRawIdAdminField"')
        group = Group.objects.first()
        self.assertEqual(self.client.get(reverse("admin:members_group_change", args=[group.pk])).status_code, 200)
        self.assertEqual(self.client.get(reverse("admin:members_church_changelist")).status_code, 200)

    def test_it_refreshes_the_staff_pages_after_admin_edits_and_deletes(self):
        member = Member.objects.create(church=self.grace, first_name="Ada", last_name="Admin")
        group = Group.objects.create(church=self.grace, name="Admins")
        Membership.objects.create(group=group, member=member, role="leader")
        self.recount()
        self.client.force_login(self.alice)
        self.assertContains(self.client.get(reverse("member_list")), "Admin, Ada")
        self.assertContains(self.client.get(reverse("group_list")), "Ada Admin")
        self.client.force_login(self.dana)
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(reverse("admin:members_member_change", args=[member.pk]), {
                "church": self.grace.pk, "first_name": "Ada", "last_name": "Byron", "email": "", "phone": "",
                "status": "member", "joined_on": "2024-01-01", "birth_date": "",
                "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "1",
                "memberships-0-id": Membership.objects.get(member=member).pk, "memberships-0-member": member.pk,
                "memberships-0-group": group.pk, "memberships-0-role": "leader", "memberships-0-joined_on": "2024-01-01",
            })
        self.assertEqual(response.status_code, 302, response.content[-3000:])
        self.client.force_login(self.alice)
        self.assertContains(self.client.get(reverse("member_list")), "Byron, Ada")
        self.assertContains(self.client.get(reverse("group_list")), "Ada Byron")
        self.client.force_login(self.dana)
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(reverse("admin:members_membership_changelist"), {
                "action": "delete_selected", "_selected_action": [Membership.objects.get(member=member).pk],
                "post": "yes"})
        self.assertFalse(Membership.objects.filter(member=member).exists())
        self.client.force_login(self.alice)
        self.assertEqual(self.client.get(reverse("group_list")).context["groups"][0]["size"], 0)
