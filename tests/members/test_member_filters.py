"""The member list's filters and sorts: `?status=`, `?group=<id>|none`, `?new=`, `?sort=`, with
`?q=`, the keyset paging, the cached first page (every filter in its key) and the export."""

from __future__ import annotations

import csv
import datetime
import io

from django.core import signing

from members import selectors, services
from members.models import Group, Member, Membership
from tests.base import FlockTestCase, church_day

URL = "/members/"


def person(church, first: str, last: str, status: str = "visitor", days_ago: int = 100, **fields) -> Member:
    return Member.objects.create(church=church, first_name=first, last_name=last, status=status,
                                 joined_on=church_day() - datetime.timedelta(days=days_ago), **fields)


class MemberFiltersTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        g = cls.grace
        cls.vi = person(g, "Vi", "Visitor", "visitor", 5)
        cls.reg = person(g, "Reg", "Regular", "regular", 40)
        cls.mem = person(g, "Meg", "Member", "member", 400)
        cls.ina = person(g, "Ina", "Inactive", "inactive", 10)
        cls.lone = person(g, "Lou", "Lonely", "member", 20)
        cls.choir = Group.objects.create(church=g, name="Choir")
        cls.old = Group.objects.create(church=g, name="Old choir", archived=True)
        for m in (cls.vi, cls.reg, cls.mem):
            Membership.objects.create(group=cls.choir, member=m)
        Membership.objects.create(group=cls.old, member=cls.lone)  # an archived group only: "in no group"
        cls.hope_member = person(cls.hope, "Hal", "Hope", "visitor", 1)
        cls.hope_group = Group.objects.create(church=cls.hope, name="Hope group")

    def setUp(self) -> None:
        self.login(self.alice)

    def ids(self, response) -> list[int]:
        return [row["id"] for row in response.context["page"].rows]

    def test_it_filters_by_each_status_and_active_and_current(self):
        expected = {
            "visitor": [self.vi], "regular": [self.reg], "member": [self.mem, self.lone], "inactive": [self.ina],
            "active": [self.mem, self.reg, self.lone], "current": [self.vi, self.mem, self.reg, self.lone],
        }
        for status, people in expected.items():
            with self.subTest(status=status):
                response = self.client.get(URL, {"status": status})
                wanted = sorted(people, key=lambda m: (m.last_name, m.first_name, m.id))
                self.assertEqual(self.ids(response), [m.id for m in wanted])
                self.assertEqual(response.context["page"].total, len(people))

    def test_it_filters_by_group_and_by_no_current_group(self):
        response = self.client.get(URL, {"group": self.choir.pk})
        self.assertEqual(set(self.ids(response)), {self.vi.id, self.reg.id, self.mem.id})
        self.assertContains(response, "Showing: <bdi>in Choir</bdi>", html=False)
        response = self.client.get(URL, {"group": "none"})
        self.assertEqual(set(self.ids(response)), {self.ina.id, self.lone.id})
        # The dashboard's "Not in a group" counts people not inactive: its link says so.
        response = self.client.get(URL, {"group": "none", "status": "current"})
        self.assertEqual(self.ids(response), [self.lone.id])
        response = self.client.get(URL, {"group": self.old.pk})  # an archived group's people still list
        self.assertEqual(self.ids(response), [self.lone.id])

    def test_it_never_shows_another_churchs_group_or_people(self):
        response = self.client.get(URL, {"group": self.hope_group.pk})
        self.assertContains(response, "That group is not one of this church")
        self.assertNotContains(response, "Hal")
        self.assertEqual(response.context["flt"].group_id, None)
        export = b"".join(self.client.get("/members/export.csv", {"group": self.hope_group.pk}).streaming_content)
        self.assertNotIn(b"Hal", export)

    def test_it_sorts_by_join_date_both_ways_and_pages_by_keyset(self):
        for i in range(120):  # three people a day: equal dates, ordered by id
            person(self.grace, f"P{i:02d}", "Paged", "member", i // 3)
        everyone = list(Member.objects.for_church(self.grace))
        for sort, reverse in (("joined", False), ("-joined", True)):
            with self.subTest(sort=sort):
                wanted = sorted(everyone, key=lambda m: (m.joined_on, m.id), reverse=reverse)
                seen, response = [], self.client.get(URL, {"sort": sort})
                numbers = []
                while True:
                    seen += self.ids(response)
                    numbers.append(response.context["page"].number)
                    if not response.context["next_url"]:
                        break
                    self.assertIn(f"sort={sort}", response.context["next_url"])
                    response = self.client.get(response.context["next_url"])
                self.assertEqual(seen, [m.id for m in wanted])
                self.assertEqual(numbers, [1, 2, 3])
                back = self.client.get(response.context["previous_url"])
                self.assertEqual(self.ids(back), [m.id for m in wanted][50:100])

    def test_it_shows_the_new_members_of_the_last_n_days(self):
        response = self.client.get(URL, {"new": "30", "sort": "-joined"})
        self.assertEqual(self.ids(response), [self.vi.id, self.ina.id, self.lone.id])
        for bad in ("0", "-3", "abc", "9999", "3.5"):
            with self.subTest(new=bad):
                response = self.client.get(URL, {"new": bad})
                self.assertEqual(response.status_code, 200)
                self.assertContains(response, "“New” takes a number of days")
                self.assertEqual(response.context["page"].total, 5)

    def test_it_combines_filters_with_a_search(self):
        person(self.grace, "Reg", "Visitor", "visitor", 3)
        response = self.client.get(URL, {"q": "reg", "status": "active"})
        self.assertEqual(self.ids(response), [self.reg.id])
        response = self.client.get(URL, {"q": "visitor", "sort": "-joined"})
        self.assertEqual([r["first_name"] for r in response.context["page"].rows], ["Reg", "Vi"])
        self.assertIn("q=visitor", response.context["export_url"])
        self.assertIn("sort=-joined", response.context["export_url"])

    def test_it_explains_unknown_values_and_shows_everyone(self):
        for params in ({"status": "vip"}, {"sort": "age"}, {"group": "abc"}, {"group": "99999999"}, {"group": "1" * 40}):
            with self.subTest(params=params):
                response = self.client.get(URL, params)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response.context["page"].total, 5)
                self.assertTrue(response.context["filter_problems"])

    def test_it_exports_what_the_list_shows(self):
        def exported(params) -> list[str]:
            body = b"".join(self.client.get("/members/export.csv", params).streaming_content).decode("utf-8-sig")
            return [row["first_name"] for row in csv.DictReader(io.StringIO(body))]

        self.assertEqual(exported({"status": "visitor"}), ["Vi"])
        self.assertEqual(exported({"group": "none", "status": "current"}), ["Lou"])
        self.assertEqual(exported({"sort": "-joined", "status": "active"}), ["Lou", "Reg", "Meg"])
        self.assertEqual(len(exported({})), 5)

    def test_it_caches_each_filters_first_page_under_its_own_key_and_invalidates_on_membership_writes(self):
        self.client.get(URL, {"group": self.choir.pk})  # cached (and the group choices)
        with self.assertNumQueries(0):
            warm = self.client.get(URL, {"group": self.choir.pk})
        self.assertEqual(len(warm.context["page"].rows), 3)
        with self.assertNumQueries(2):  # another filter: its own entry (tallies + rows)
            self.client.get(URL, {"status": "visitor"})
        with self.captureOnCommitCallbacks(execute=True):
            services.membership_add(church=self.grace, group=self.choir, member_id=self.lone.pk)
        fresh = self.client.get(URL, {"group": self.choir.pk})
        self.assertIn(self.lone.id, self.ids(fresh))  # no stale first page after the write
        none = self.client.get(URL, {"group": "none"})
        self.assertNotIn(self.lone.id, self.ids(none))

    def test_it_pins_the_queries_of_each_filter(self):
        self.client.get(URL)  # the login and the group choices, cached
        for params, cold in (({"status": "visitor"}, 2), ({"group": "none"}, 2), ({"sort": "-joined"}, 2),
                             ({"group": self.choir.pk}, 2), ({"new": "30"}, 2)):
            with self.subTest(params=params):
                with self.assertNumQueries(cold):  # total (tallies, or a bounded count) + rows
                    self.client.get(URL, params)
                with self.assertNumQueries(0):  # then from the cache
                    self.client.get(URL, params)
        with self.assertNumQueries(1):  # a search inside a filter: rows and count in one statement
            self.client.get(URL, {"q": "member", "status": "active"})

    def test_it_refuses_a_cursor_of_another_order(self):
        token = selectors.member_cursor_encode(church=self.grace, row={"last_name": "M", "first_name": "M", "id": 1},
                                               number=2)
        response = self.client.get(URL, {"sort": "-joined", "after": token})
        self.assertEqual(response.context["page"].number, 1)
        forged = signing.dumps(["2020-01-01", 1, 2], salt=f"members.member_list.cursor:{self.hope.id}:-joined")
        self.assertEqual(self.client.get(URL, {"sort": "-joined", "after": forged}).context["page"].number, 1)

    def test_it_links_the_dashboard_figures_to_the_lists_they_count(self):
        response = self.client.get("/dashboard/")
        for href in ('href="/members/?status=visitor"', 'href="/members/?group=none&amp;status=current"',
                     'href="/members/?status=active"', 'href="/members/?new=30&amp;sort=-joined"'):
            self.assertContains(response, href)
        summary = response.context["fragment"]
        self.assertIn('data-stat="members_no_group">1<', summary)
        self.assertEqual(self.client.get(URL, {"group": "none", "status": "current"}).context["page"].total, 1)
        new_30d = self.client.get(URL, {"new": "30"}).context["page"].total
        self.assertIn(f'data-stat="members_new_30d">{new_30d}<', summary)
        self.assertIn(f'data-stat="visitors">{self.client.get(URL, {"status": "visitor"}).context["page"].total}<',
                      summary)
