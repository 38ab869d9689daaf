"""The member list: search, pagination, empty states, the cached first page, bulk status."""

from __future__ import annotations

from django.urls import reverse

from members.models import Member
from tests.base import FlockTestCase


def make_members(church, count: int, *, prefix: str = "Person", start: int = 0) -> list[Member]:
    return Member.objects.bulk_create([
        Member(church=church, first_name=f"{prefix}{i:03d}", last_name=f"Zed{i:03d}",
               email=f"{prefix.lower()}{i}@{church.slug}.test", phone=f"+1555{i:07d}")
        for i in range(start, start + count)
    ])


class MemberListTestCase(FlockTestCase):
    url = reverse("member_list")

    def setUp(self) -> None:
        self.login(self.alice)
        # The logged-in user is cached after the first request; warm it so that query
        # counts below are the page's own.
        self.client.get(reverse("member_new"))

    def _ids_on_page(self, response) -> list[int]:
        return [row["id"] for row in response.context["page"].rows]

    def test_it_shows_the_empty_state_with_links_to_add_and_import(self):
        response = self.client.get(self.url)
        self.assertContains(response, "No members yet.")
        self.assertContains(response, reverse("member_new"))
        self.assertContains(response, reverse("member_import"))

    def test_it_lists_members_linked_to_their_page_with_the_total(self):
        members = make_members(self.grace, 3)
        response = self.client.get(self.url)
        for member in members:
            self.assertContains(response, f'href="/members/{member.pk}/"')
        self.assertContains(response, "(3)")

    def test_it_never_shows_another_churchs_members(self):
        make_members(self.grace, 2, prefix="Gracie")
        make_members(self.hope, 2, prefix="Hopeful")
        response = self.client.get(self.url)
        self.assertContains(response, "Gracie000")
        self.assertNotContains(response, "Hopeful")
        response = self.client.get(self.url, {"q": "Hopeful"})
        self.assertContains(response, "No members match")
        response = self.client.get(self.url, {"q": "555"})  # every phone of both churches matches
        self.assertNotContains(response, "Hopeful")
        self.assertEqual(response.context["page"].total, 2)

    def test_it_searches_name_email_and_phone_case_insensitively(self):
        Member.objects.create(church=self.grace, first_name="Ada", last_name="Lovelace", email="ada@example.org",
                              phone="+442071234567")
        Member.objects.create(church=self.grace, first_name="Grace", last_name="Hopper", email="gh@navy.test",
                              phone="+15551230000")
        cases = {
            "lovelace": ["Lovelace"], "ADA": ["Lovelace"], "navy.TEST": ["Hopper"], "grace hop": ["Hopper"],
            "020 7123 4567": ["Lovelace"], "0044 20 7123": ["Lovelace"], "(555) 123": ["Hopper"], "+44 20": ["Lovelace"],
            "nobody": [],
        }
        for q, expected in cases.items():
            with self.subTest(q=q):
                response = self.client.get(self.url, {"q": q})
                self.assertEqual([row["last_name"] for row in response.context["page"].rows], expected)
        self.assertContains(self.client.get(self.url, {"q": "nobody"}), "No members match “nobody”")

    def test_it_paginates_fifty_a_page_and_clamps_bad_pages(self):
        make_members(self.grace, 120)
        first = self.client.get(self.url)
        self.assertEqual(len(first.context["page"].rows), 50)
        self.assertContains(first, "Page 1 of 3")
        self.assertContains(first, "?page=2")
        last = self.client.get(self.url, {"page": 3})
        self.assertEqual(len(last.context["page"].rows), 20)
        for raw, number in (("999", 3), ("abc", 1), ("-4", 1), ("0", 1), ("", 1), ("99999999999999999999", 3)):
            with self.subTest(page=raw):
                response = self.client.get(self.url, {"page": raw})
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response.context["page"].number, number)
        pages = [self._ids_on_page(self.client.get(self.url, {"page": n})) for n in (1, 2, 3)]
        all_ids = [i for page in pages for i in page]
        self.assertEqual(len(set(all_ids)), 120)

    def test_it_keeps_the_search_in_the_page_links(self):
        make_members(self.grace, 60)
        response = self.client.get(self.url, {"q": "person"})
        self.assertContains(response, "?q=person&amp;page=2")

    def _assert_constant_queries(self, rows: int) -> None:
        make_members(self.grace, rows, start=1000 + rows)
        make_members(self.hope, 5, start=5000 + rows)
        with self.assertNumQueries(2):  # count + one page of rows (first page, cold)
            self.client.get(self.url)
        with self.assertNumQueries(0):  # warm: the first page comes from the cache
            response = self.client.get(self.url)
        self.assertEqual(response.context["page"].total, Member.objects.for_church(self.grace).count())
        with self.assertNumQueries(2):
            self.client.get(self.url, {"page": 2})
        with self.assertNumQueries(2):
            self.client.get(self.url, {"q": "person"})

    def test_it_runs_a_fixed_number_of_queries_for_3_members(self):
        self._assert_constant_queries(3)

    def test_it_runs_a_fixed_number_of_queries_for_60_members(self):
        self._assert_constant_queries(60)

    def test_it_serves_a_fresh_first_page_after_create_edit_and_delete(self):
        make_members(self.grace, 2)
        self.client.get(self.url)  # cached now
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(reverse("member_new"), {"first_name": "Newt", "last_name": "Aardvark",
                                                     "email": "", "phone": "", "status": "visitor"})
        newt = Member.objects.get(first_name="Newt")
        self.assertContains(self.client.get(self.url), "Aardvark, Newt")
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(reverse("member_edit", args=[newt.pk]), {
                "first_name": "Newton", "last_name": "Aardvark", "email": "", "phone": "", "status": "member"})
        response = self.client.get(self.url)
        self.assertContains(response, "Aardvark, Newton")
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(reverse("member_delete", args=[newt.pk]))
        rows = self.client.get(self.url).context["page"].rows
        self.assertNotIn("Aardvark", [row["last_name"] for row in rows])
        self.assertEqual(len(rows), 2)

    def test_it_sets_the_status_of_the_selected_members_in_one_update(self):
        mine = make_members(self.grace, 3)
        theirs = make_members(self.hope, 1, prefix="Hopeful")
        self.client.get(self.url)  # cached now
        with self.captureOnCommitCallbacks(execute=True):
            with self.assertNumQueries(3):  # savepoint, UPDATE, release
                response = self.client.post(reverse("member_bulk_status"), {
                    "member_ids": [mine[0].pk, mine[1].pk, theirs[0].pk], "status": "inactive",
                    "next": self.url + "?q=person"})
        self.assertRedirects(response, self.url + "?q=person", fetch_redirect_response=False)
        statuses = dict(Member.objects.values_list("pk", "status"))
        self.assertEqual([statuses[m.pk] for m in mine], ["inactive", "inactive", "visitor"])
        self.assertEqual(statuses[theirs[0].pk], "visitor")
        response = self.client.get(self.url)
        self.assertContains(response, "Set 2 members to “Inactive”.")
        self.assertEqual([r["status"] for r in response.context["page"].rows], ["inactive", "inactive", "visitor"])

    def test_it_explains_an_empty_or_bad_bulk_status_change(self):
        member = make_members(self.grace, 1)[0]
        response = self.client.post(reverse("member_bulk_status"), {"status": "inactive"}, follow=True)
        self.assertContains(response, "Select at least one member first.")
        response = self.client.post(reverse("member_bulk_status"), {"member_ids": [member.pk], "status": "boss"},
                                    follow=True)
        self.assertContains(response, "Choose one of the listed statuses.")
        response = self.client.post(reverse("member_bulk_status"), {"member_ids": ["x"], "status": "member"},
                                    follow=True)
        self.assertContains(response, "The selection was not understood")
        response = self.client.post(reverse("member_bulk_status"), {"member_ids": list(range(1, 602)),
                                    "status": "member"}, follow=True)
        self.assertContains(response, "Select at most 500 members at a time.")
        member.refresh_from_db()
        self.assertEqual(member.status, "visitor")
        response = self.client.post(reverse("member_bulk_status"), {"member_ids": [member.pk],
                                    "status": "member", "next": "https://evil.test/"})
        self.assertRedirects(response, self.url, fetch_redirect_response=False)
        member.refresh_from_db()
        self.assertEqual(member.status, "member")
