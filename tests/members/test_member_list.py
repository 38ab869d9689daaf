"""The member list: search, pagination (keyset cursors, capped page jumps, bounded search
totals), empty states, the cached first page, bulk status."""

from __future__ import annotations

from unittest import mock

from django.core import signing
from django.urls import reverse

from cachemon import cache_aside, keys
from members import selectors, tallies
from members.models import Member
from tests.base import FlockTestCase


def make_twins(church, count: int) -> list[Member]:
    """Members whose (last_name, first_name) repeat, so that page edges fall inside runs of
    equal names and only the id tells the rows apart."""
    made = Member.objects.bulk_create([
        Member(church=church, first_name=f"Sam{i % 2}", last_name=f"Twin{i % 3}", email=f"twin{i}@{church.slug}.test")
        for i in range(count)
    ])
    tallies.rebuild_church(church.id)  # written with the ORM, not the services: count them
    return made


def make_members(church, count: int, *, prefix: str = "Person", start: int = 0) -> list[Member]:
    made = Member.objects.bulk_create([
        Member(church=church, first_name=f"{prefix}{i:03d}", last_name=f"Zed{i:03d}",
               email=f"{prefix.lower()}{i}@{church.slug}.test", phone=f"+1555{i:07d}")
        for i in range(start, start + count)
    ])
    tallies.rebuild_church(church.id)  # written with the ORM, not the services: count them
    return made


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
        self.assertContains(self.client.get(self.url, {"q": "nobody"}), "No members match “<bdi>nobody</bdi>”")

    def test_it_matches_each_word_inside_one_field_never_across_two(self):
        # Names and email are searched as one string joined by spaces, which no word contains.
        Member.objects.create(church=self.grace, first_name="Ann", last_name="Lee", email="al@mail.test")
        Member.objects.create(church=self.grace, first_name="Annabel", last_name="Leeds", email="")
        Member.objects.create(church=self.grace, first_name="Bob", last_name="Annan", email="bob@lee.test")
        cases = {
            "ann": ["Annan", "Lee", "Leeds"], "ann lee": ["Annan", "Lee", "Leeds"], "LEEDS": ["Leeds"],
            "annlee": [], "leeal": [], "lee al@": ["Lee"], "bel eds": ["Leeds"], "@lee.": ["Annan"],
            "bob annan lee.test": ["Annan"], "ann%": [], "a_n": [],
        }
        for q, expected in cases.items():
            with self.subTest(q=q):
                page = self.client.get(self.url, {"q": q}).context["page"]
                self.assertEqual([row["last_name"] for row in page.rows], expected)
                self.assertEqual(page.total, len(expected))

    def test_it_paginates_fifty_a_page_and_clamps_bad_pages(self):
        make_members(self.grace, 120)
        first = self.client.get(self.url)
        self.assertEqual(len(first.context["page"].rows), 50)
        self.assertContains(first, "Page 1 of 3")
        self.assertContains(first, "?after=")
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
        self.assertContains(response, "?q=person&amp;after=")
        second = self.client.get(response.context["next_url"])
        self.assertEqual(second.context["q"], "person")
        self.assertContains(second, 'href="/members/?q=person" rel="prev"')

    def _walk(self, url: str, key: str) -> tuple[list[int], list[int]]:
        """Follow `key` ("next_url"/"previous_url") links from `url` to the end: the ids seen
        and the page numbers shown."""
        ids: list[int] = []
        numbers: list[int] = []
        while url:
            response = self.client.get(url)
            self.assertEqual(response.status_code, 200)
            page_ids = self._ids_on_page(response)
            ids.extend(page_ids if key == "next_url" else reversed(page_ids))
            numbers.append(response.context["page"].number)
            url = response.context[key]
        return ids, numbers

    def test_it_walks_every_member_exactly_once_in_order_with_next_and_previous(self):
        make_twins(self.grace, 137)
        make_twins(self.hope, 20)  # the same names in another church: never listed
        expected = list(Member.objects.for_church(self.grace).order_by("last_name", "first_name", "id")
                        .values_list("id", flat=True))
        ids, numbers = self._walk(self.url, "next_url")
        self.assertEqual(ids, expected)
        self.assertEqual(numbers, [1, 2, 3])
        last = self.client.get(self.url, {"page": 3})
        self.assertEqual(last.context["next_url"], "")
        back, numbers = self._walk(last.context["previous_url"], "previous_url")
        self.assertEqual(back, list(reversed(expected[:100])))
        self.assertEqual(numbers, [2, 1])

    def test_it_walks_search_results_with_cursors_too(self):
        make_twins(self.grace, 120)
        make_members(self.grace, 30, prefix="Other")
        expected = list(Member.objects.for_church(self.grace).filter(last_name__startswith="Twin")
                        .order_by("last_name", "first_name", "id").values_list("id", flat=True))
        ids, numbers = self._walk(f"{self.url}?q=twin", "next_url")
        self.assertEqual(ids, expected)
        self.assertEqual(numbers, [1, 2, 3])

    def test_it_shows_the_first_page_for_a_tampered_garbled_or_foreign_cursor(self):
        make_twins(self.grace, 120)
        first_ids = self._ids_on_page(self.client.get(self.url))
        token = self.client.get(self.url).context["next_url"].split("after=")[1]
        forged = signing.dumps(["Twin2", "Sam1", 1, 2])  # signed, but not as a cursor of this church
        hopes = selectors.member_cursor_encode(church=self.hope, row={"last_name": "Twin1", "first_name": "Sam0",
                                                                     "id": 1}, number=2)
        unsigned = token.split("%3A")[0]
        for bad in (token[:-3] + "abc", "garbage", "", unsigned, forged, hopes, "%3A" * 400, "x" * 5000,
                    signing.dumps("text", salt=f"members.member_list.cursor:{self.grace.id}")):
            for key in ("after", "before"):
                with self.subTest(cursor=bad[:20], key=key):
                    response = self.client.get(f"{self.url}?{key}={bad}")
                    self.assertEqual(response.status_code, 200)
                    self.assertEqual(response.context["page"].number, 1)
                    self.assertEqual(self._ids_on_page(response), first_ids)

    def test_it_scopes_a_cursor_to_the_church_whatever_position_it_holds(self):
        hope_members = make_members(self.hope, 5, prefix="Hopeful")
        make_twins(self.grace, 60)
        # A valid cursor of Grace holding the position of a Hope member: still only Grace's rows.
        row = {"last_name": hope_members[0].last_name, "first_name": "Hopeful000", "id": hope_members[0].id}
        for key in ("after", "before"):
            token = selectors.member_cursor_encode(church=self.grace, row=row, number=2)
            response = self.client.get(self.url, {key: token})
            self.assertEqual(response.status_code, 200)
            self.assertNotContains(response, "Hopeful")
            self.assertTrue(set(self._ids_on_page(response)) <= set(
                Member.objects.for_church(self.grace).values_list("id", flat=True)))
        # And Hope's staff cannot use Grace's cursor to see anything of Grace.
        grace_next = self.client.get(self.url).context["next_url"]
        self.login(self.charlie)
        response = self.client.get(grace_next)
        self.assertNotContains(response, "Twin")
        self.assertEqual(response.context["page"].number, 1)

    def test_it_shows_the_first_page_when_the_rows_after_a_cursor_are_gone(self):
        make_members(self.grace, 60)
        next_url = self.client.get(self.url).context["next_url"]
        with self.captureOnCommitCallbacks(execute=True):
            Member.objects.for_church(self.grace).filter(first_name__gte="Person050").delete()
        response = self.client.get(next_url)
        self.assertEqual(response.context["page"].number, 1)
        self.assertEqual(len(response.context["page"].rows), 50)

    def test_it_caps_a_search_total_and_pages_past_it_with_next(self):
        make_members(self.grace, 130)
        expected = list(Member.objects.for_church(self.grace).order_by("last_name", "first_name", "id")
                        .values_list("id", flat=True)[:50])
        with mock.patch.object(selectors, "SEARCH_COUNT_LIMIT", 100):
            # The bound is hit: the page is then read again, in order (+ the group filter's choices,
            # cached from then on).
            with self.assertNumQueries(3):
                response = self.client.get(self.url, {"q": "person"})
            self.assertContains(response, "(100+ matching)")
            self.assertContains(response, "Page 1 of 2+")
            self.assertEqual(self._ids_on_page(response), expected)
            ids, numbers = self._walk(f"{self.url}?q=person", "next_url")
            jumped = self.client.get(self.url, {"q": "person", "page": 5})
            self.assertEqual(jumped.context["page"].number, 2)
            self.assertContains(jumped, "Page numbers go up to 2; use Next to go further, or narrow the search.")
            self.assertTrue(jumped.context["next_url"])
        self.assertEqual(len(ids), 130)
        self.assertEqual(len(set(ids)), 130)
        self.assertEqual(numbers, [1, 2, 3])
        with self.assertNumQueries(1):  # under the bound: rows and count in one statement
            response = self.client.get(self.url, {"q": "person"})
        self.assertContains(response, "(130 matching)")
        self.assertEqual(self._ids_on_page(response), expected)

    def test_it_caps_typed_page_jumps_and_goes_further_with_next(self):
        make_members(self.grace, 220)
        with mock.patch.object(selectors, "MAX_PAGE_JUMP", 2):
            response = self.client.get(self.url, {"page": 4})
            self.assertEqual(response.context["page"].number, 2)
            self.assertContains(response, "Page numbers go up to 2")
            third = self.client.get(response.context["next_url"])
        self.assertEqual(third.context["page"].number, 3)
        self.assertEqual(self._ids_on_page(third), self._ids_on_page(self.client.get(self.url, {"page": 3})))
        self.assertNotContains(self.client.get(self.url, {"page": 5}), "Page numbers go up to")

    def _assert_constant_queries(self, rows: int) -> None:
        make_members(self.grace, rows, start=1000 + rows)
        make_members(self.hope, 5, start=5000 + rows)
        with self.assertNumQueries(3):  # count + one page of rows (first page, cold) + the group choices
            self.client.get(self.url)
        with self.assertNumQueries(0):  # warm: the first page comes from the cache
            response = self.client.get(self.url)
        self.assertEqual(response.context["page"].total, Member.objects.for_church(self.grace).count())
        with self.assertNumQueries(1):  # the total comes with the cached first page
            self.client.get(self.url, {"page": 2})
        next_url = response.context["next_url"] or f"{self.url}?after=" + selectors.member_cursor_encode(
            church=self.grace, row=response.context["page"].rows[0], number=2)
        with self.assertNumQueries(1):  # a keyset page: one seek, whatever its depth
            self.client.get(next_url)
        matches = Member.objects.for_church(self.grace).filter(first_name__icontains="person").count()
        # The first page of rows and their (bounded) count in one statement, one page of matches or more.
        with self.assertNumQueries(1):
            searched = self.client.get(self.url, {"q": "person"})
        self.assertEqual(searched.context["page"].total, matches)
        self.assertEqual(bool(searched.context["next_url"]), matches > 50)
        with self.assertNumQueries(2):
            self.client.get(self.url, {"q": "person", "page": 2})
        rows = searched.context["page"].rows
        for key, row in (("after", rows[0]), ("before", rows[-1])):  # each finds rows past the cursor
            token = selectors.member_cursor_encode(church=self.grace, row=row, number=2)
            with self.assertNumQueries(2):
                self.assertTrue(self.client.get(self.url, {"q": "person", key: token}).context["page"].rows)
        with self.captureOnCommitCallbacks(execute=True):
            cache_aside.invalidate(keys.MEMBERS, church_id=self.grace.id)
        with self.assertNumQueries(3):  # cold: the first page (count + rows) is cached on the way
            self.client.get(next_url)

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
            # savepoint, lock the church's selected members, which are in a group, UPDATE, the
            # tallies' one upsert, release: the same six for 2 members or 2,000.
            with self.assertNumQueries(6):
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
