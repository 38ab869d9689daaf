"""Groups: list with sizes and leaders, create/edit/archive, roster, add/remove/leader."""

from __future__ import annotations

from django.urls import reverse

from members.models import Group, Member, Membership
from tests.base import FlockTestCase


class GroupsTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.choir = Group.objects.create(church=cls.grace, name="Choir", kind="ministry")
        cls.ruth = Member.objects.create(church=cls.grace, first_name="Ruth", last_name="Moab", email="ruth@g.test")
        cls.boaz = Member.objects.create(church=cls.grace, first_name="Boaz", last_name="Bethlehem",
                                         phone="+15551234567")
        cls.hope_member = Member.objects.create(church=cls.hope, first_name="Ruthie", last_name="Hope")
        cls.hope_group = Group.objects.create(church=cls.hope, name="Hope Youth")

    def setUp(self) -> None:
        self.login(self.alice)
        self.client.get(reverse("member_new"))  # warms the cached login user

    def _people(self, count: int, prefix: str = "P") -> list[Member]:
        return Member.objects.bulk_create([
            Member(church=self.grace, first_name=f"{prefix}{i:03d}", last_name=f"Roster{i:03d}") for i in range(count)
        ])

    # --- the list ---------------------------------------------------------------------

    def test_it_shows_empty_states(self):
        Group.objects.filter(church=self.grace).delete()
        self.assertContains(self.client.get(reverse("group_list")), "No groups yet.")
        self.assertContains(self.client.get(reverse("group_list"), {"archived": "1"}), "No archived groups.")

    def test_it_lists_the_churchs_groups_with_size_and_leaders(self):
        Membership.objects.create(group=self.choir, member=self.ruth, role="leader")
        Membership.objects.create(group=self.choir, member=self.boaz)
        Group.objects.create(church=self.grace, name="Old Choir", archived=True)
        self.recount()
        response = self.client.get(reverse("group_list"))
        self.assertEqual(response.context["groups"][0]["size"], 2)
        self.assertEqual(response.context["groups"][0]["leaders"], ["Ruth Moab"])
        self.assertContains(response, f'href="/groups/{self.choir.pk}/"')
        self.assertNotContains(response, "Old Choir")
        self.assertNotContains(response, "Hope Youth")
        self.assertContains(response, "Archived (1)")
        archived = self.client.get(reverse("group_list"), {"archived": "1"})
        self.assertContains(archived, "Old Choir")
        self.assertNotContains(archived, f'href="/groups/{self.choir.pk}/"')

    def _list_queries(self, count: int) -> None:
        groups = Group.objects.bulk_create([Group(church=self.grace, name=f"Group {i:03d}") for i in range(count)])
        people = self._people(count + 1)
        Membership.objects.bulk_create(
            [Membership(group=g, member=p) for g in groups for p in people[:count]]
            + [Membership(group=g, member=people[-1], role="leader") for g in groups]
        )
        self.recount()
        with self.assertNumQueries(3):  # both tabs' counts, one page of groups with sizes, their leaders
            response = self.client.get(reverse("group_list"))
        self.assertEqual(len(response.context["groups"]), min(count + 1, 50))
        self.assertEqual(response.context["page"].total, count + 1)
        with self.assertNumQueries(0):
            self.client.get(reverse("group_list"))
        if count + 1 > 50:
            with self.assertNumQueries(3):
                second = self.client.get(reverse("group_list"), {"page": 2})
            self.assertEqual(len(second.context["groups"]), count + 1 - 50)
            self.assertContains(second, "Page 2 of 2")

    def test_it_lists_3_groups_in_a_fixed_number_of_queries(self):
        self._list_queries(3)

    def test_it_lists_60_groups_in_a_fixed_number_of_queries(self):
        self._list_queries(60)

    # --- create and edit --------------------------------------------------------------

    def test_it_creates_a_group_and_refreshes_the_cached_list(self):
        self.client.get(reverse("group_list"))
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(reverse("group_new"), {"name": "  Youth   Band ", "kind": "small_group",
                                                               "description": "Fridays"})
        group = Group.objects.get(church=self.grace, name="Youth Band")
        self.assertRedirects(response, f"/groups/{group.pk}/", fetch_redirect_response=False)
        self.assertContains(self.client.get(reverse("group_list")), "Youth Band")

    def test_it_refuses_a_duplicate_or_empty_name(self):
        before = Group.objects.count()
        response = self.client.post(reverse("group_new"), {"name": "choir", "kind": "ministry"})
        self.assertContains(response, "This church already has a group with this name.")
        response = self.client.post(reverse("group_new"), {"name": "", "kind": "ministry"})
        self.assertContains(response, "This field is required.")
        response = self.client.post(reverse("group_new"), {"name": "Hope Youth", "kind": "ministry"})
        self.assertEqual(response.status_code, 302)  # another church's name is free here
        self.assertEqual(Group.objects.count(), before + 1)

    def test_it_archives_a_group_from_the_edit_page(self):
        self.client.get(reverse("group_list"))
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(reverse("group_edit", args=[self.choir.pk]),
                             {"name": "Choir", "kind": "ministry", "description": "", "archived": "on"})
        self.choir.refresh_from_db()
        self.assertTrue(self.choir.archived)
        self.assertNotContains(self.client.get(reverse("group_list")), f'href="/groups/{self.choir.pk}/"')
        self.assertContains(self.client.get(reverse("group_list"), {"archived": "1"}), "Choir")

    # --- roster -----------------------------------------------------------------------

    def test_it_shows_the_roster_leaders_first_and_paginates(self):
        people = self._people(120)
        Membership.objects.bulk_create([Membership(group=self.choir, member=p) for p in people])
        Membership.objects.create(group=self.choir, member=self.ruth, role="leader")
        self.recount()
        url = reverse("group_detail", args=[self.choir.pk])
        first = self.client.get(url)
        self.assertEqual(first.context["page"].total, 121)
        self.assertEqual(first.context["page"].rows[0]["member__first_name"], "Ruth")
        self.assertEqual(len(first.context["page"].rows), 50)
        self.assertContains(first, "Page 1 of 3")
        self.assertEqual(len(self.client.get(url, {"page": "3"}).context["page"].rows), 21)
        self.assertEqual(self.client.get(url, {"page": "x"}).context["page"].number, 1)
        self.assertEqual(self.client.get(url, {"page": "77"}).context["page"].number, 3)

    def test_it_shows_an_empty_roster(self):
        response = self.client.get(reverse("group_detail", args=[self.choir.pk]))
        self.assertContains(response, "Nobody is in <bdi>Choir</bdi> yet.")

    def _roster_queries(self, count: int) -> None:
        people = self._people(count)
        Membership.objects.bulk_create([Membership(group=self.choir, member=p) for p in people])
        self.recount()
        url = reverse("group_detail", args=[self.choir.pk])
        with self.assertNumQueries(2):  # the group (with its size), one page of rows
            self.client.get(url)
        with self.assertNumQueries(0):  # the group with its first page comes from the cache
            self.client.get(url)
        with self.assertNumQueries(1):  # the matching members, flagged when in the group (the rest is cached)
            response = self.client.get(url, {"find": "Roster"})
        self.assertEqual(len(response.context["candidates"]), min(count, 20))
        with self.assertNumQueries(2):  # page 2 is not cached: the group, its rows
            self.client.get(url, {"page": 2})

    def test_it_shows_a_roster_of_3_in_a_fixed_number_of_queries(self):
        self._roster_queries(3)

    def test_it_shows_a_roster_of_60_in_a_fixed_number_of_queries(self):
        self._roster_queries(60)

    def test_it_finds_only_the_churchs_members_to_add(self):
        Membership.objects.create(group=self.choir, member=self.boaz)
        response = self.client.get(reverse("group_detail", args=[self.choir.pk]), {"find": "ruth"})
        self.assertEqual([c["first_name"] for c in response.context["candidates"]], ["Ruth"])
        self.assertContains(response, reverse("membership_add", args=[self.choir.pk]))
        response = self.client.get(reverse("group_detail", args=[self.choir.pk]), {"find": "555 1234"})
        self.assertEqual([(c["first_name"], c["in_group"]) for c in response.context["candidates"]],
                         [("Boaz", True)])
        self.assertContains(response, "Already in the group")

    def test_it_adds_a_member_and_refreshes_the_cached_roster_and_list(self):
        url = reverse("group_detail", args=[self.choir.pk])
        self.client.get(url)
        self.client.get(reverse("group_list"))
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(reverse("membership_add", args=[self.choir.pk]),
                                        {"member_id": self.ruth.pk, "next": url + "?find=ruth"})
        self.assertRedirects(response, url + "?find=ruth", fetch_redirect_response=False)
        self.assertTrue(Membership.objects.filter(group=self.choir, member=self.ruth).exists())
        roster = self.client.get(url)
        self.assertContains(roster, "Added Ruth Moab to Choir.")
        self.assertEqual([r["member_id"] for r in roster.context["page"].rows], [self.ruth.pk])
        self.assertEqual(self.client.get(reverse("group_list")).context["groups"][0]["size"], 1)

    def test_it_refuses_another_churchs_member_or_a_second_add(self):
        Membership.objects.create(group=self.choir, member=self.ruth)
        before = list(Membership.objects.values_list("pk", "group_id", "member_id", "role"))
        add = reverse("membership_add", args=[self.choir.pk])
        cases = [
            ({"member_id": self.hope_member.pk}, "That person isn&#x27;t a member of this church."),
            ({"member_id": self.ruth.pk}, "Ruth Moab is already in Choir."),
            ({"member_id": "999999"}, "That person isn&#x27;t a member of this church."),
            ({"member_id": "abc"}, "Choose a person to add."),
        ]
        for data, message in cases:
            with self.subTest(data=data):
                self.assertContains(self.client.post(add, data, follow=True), message)
        self.assertEqual(list(Membership.objects.values_list("pk", "group_id", "member_id", "role")), before)

    def test_it_refuses_to_add_to_an_archived_group(self):
        self.choir.archived = True
        self.choir.save()
        response = self.client.post(reverse("membership_add", args=[self.choir.pk]), {"member_id": self.ruth.pk},
                                    follow=True)
        self.assertContains(response, "This group is archived")
        self.assertFalse(Membership.objects.filter(group=self.choir).exists())

    def test_it_makes_and_unmakes_a_leader_and_removes_a_member(self):
        Membership.objects.create(group=self.choir, member=self.ruth)
        self.recount()
        role = reverse("membership_role", args=[self.choir.pk, self.ruth.pk])
        self.client.get(reverse("group_list"))
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(role, {"role": "leader"}, follow=True)
        self.assertContains(response, "Ruth Moab is now a leader of Choir.")
        self.assertEqual(Membership.objects.get(member=self.ruth).role, "leader")
        self.assertEqual(self.client.get(reverse("group_list")).context["groups"][0]["leaders"], ["Ruth Moab"])
        self.client.post(role, {"role": "member"})
        self.assertEqual(Membership.objects.get(member=self.ruth).role, "member")
        response = self.client.post(role, {"role": "pope"}, follow=True)
        self.assertContains(response, "Choose leader or member.")
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(reverse("membership_remove", args=[self.choir.pk, self.ruth.pk]), follow=True)
        self.assertContains(response, "Removed Ruth Moab from Choir.")
        self.assertFalse(Membership.objects.filter(group=self.choir).exists())
        self.assertTrue(Member.objects.filter(pk=self.ruth.pk).exists())
        self.assertEqual(self.client.get(reverse("group_list")).context["groups"][0]["size"], 0)

    def test_it_404s_removing_someone_not_in_the_group(self):
        response = self.client.post(reverse("membership_remove", args=[self.choir.pk, self.boaz.pk]))
        self.assertEqual(response.status_code, 404)

    def test_it_rejects_get_on_write_urls(self):
        Membership.objects.create(group=self.choir, member=self.ruth)
        for url in (reverse("membership_add", args=[self.choir.pk]),
                    reverse("membership_remove", args=[self.choir.pk, self.ruth.pk]),
                    reverse("membership_role", args=[self.choir.pk, self.ruth.pk])):
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 405)
        self.assertTrue(Membership.objects.filter(group=self.choir, member=self.ruth).exists())
