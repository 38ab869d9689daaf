"""PostgreSQL: every hot query (members/hot_queries.py) can be served by its intended index, and
none reads the members table with a sequential scan.

Small data cannot reproduce the planner's choices at a million rows on its own: on a few hundred
rows a sequential scan really is cheapest. So the data is ANALYZEd and, inside the test's
transaction only, `SET LOCAL enable_seqscan = off` makes sequential scans cost prohibitive
(PostgreSQL still uses one when no index can serve the query, so a missing index shows up as a
Seq Scan). For the queries whose point is reading in index order (the directory pages, ORDER BY
... LIMIT), `enable_bitmapscan = off` and `enable_sort = off` as well: otherwise, on a few thousand
rows, "any church-leading index, then a top-N sort" and "walk member_church_name_idx" cost within
a hair of each other, and which one wins depended on what earlier tests left in the shared test
database (index bloat from rolled-back rows, pg_class sizes; autovacuum is off), so the plan
flipped between runs. With sorting priced out, PostgreSQL still sorts when no index yields the
order (so a missing or wrongly ordered index shows up as a Sort node and the test fails). The
dashboard's aggregates read the church's counter rows (members/tallies.py), through the counters'
unique indices, which lead with the church.

What this proves: the index each query needs exists and has the right shape (columns and order)
for the query as the page sends it. That the planner picks the same index at scale without these
settings is shown by `scripts/bench_queries.py` on 1.1M members (docs/bench/queries.md).
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from members import hot_queries
from members.models import Church
from tests.base import FlockTestCase


@pytest.mark.postgres
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"], CACHE_ASIDE=False)
class QueryPlansTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        call_command("seed_demo", "--churches", "3", "--members", "1500", "--seed", "9",
                     stdout=io.StringIO(), stderr=io.StringIO())
        cls.church = Church.objects.exclude(slug__in=["grace", "hope"]).order_by("id").first()

    def setUp(self) -> None:
        # Fresh statistics for exactly this data (ANALYZE reads every row at this size), whatever
        # the tests before left behind; SET LOCAL ends with the test's transaction.
        with connection.cursor() as cursor:
            for table in ("members_member", "members_membership", "members_group", "attendance_attendance",
                          "members_membertally", "attendance_attendanceday", "attendance_sessioncount"):
                cursor.execute(f"ANALYZE {table}")
            cursor.execute("SET LOCAL enable_seqscan = off")
        self.ctx = hot_queries.HotContext.for_church(self.church)

    def planner_for(self, query: hot_queries.HotQuery) -> None:
        """The per-query planner settings (see the module docstring), set for this transaction."""
        # GIN (trigram) indices are only read through bitmap scans; for the others, bitmap scans
        # off, so a few hundred rows cannot make "fetch all, then sort" look cheaper.
        bitmap = any(i in hot_queries.TRIGRAM_INDEXES for i in query.intended)
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL enable_bitmapscan = {'on' if bitmap else 'off'}")
            cursor.execute(f"SET LOCAL enable_sort = {'off' if query.index_order else 'on'}")

    def plans(self, query: hot_queries.HotQuery) -> list[hot_queries.Plan]:
        statements = hot_queries.capture_sql(query, self.ctx)
        self.assertTrue(statements, f"{query.name} sent no SQL")
        return [hot_queries.explain(sql, params) for sql, params in statements]

    def test_it_has_a_group_and_a_deep_page_to_explain(self):
        self.assertIsNotNone(self.ctx.group)
        self.assertGreater(self.ctx.deep_page, 1)
        self.assertEqual(len(hot_queries.applicable(self.ctx)), len(hot_queries.HOT_QUERIES))

    def test_it_uses_the_intended_index_for_each_hot_query(self):
        for query in hot_queries.HOT_QUERIES:
            self.planner_for(query)
            with self.subTest(query=query.name):
                plans = self.plans(query)
                used = [name for plan in plans for name in plan.indexes]
                self.assertTrue(
                    any(name == i or name.startswith(i + "_") for name in used for i in query.intended),
                    f"{query.name} used {used}, not one of {query.intended}:\n" + "\n".join(p.text for p in plans),
                )

    def test_it_never_seq_scans_members(self):
        for query in hot_queries.HOT_QUERIES:
            with self.subTest(query=query.name):
                for plan in self.plans(query):
                    self.assertFalse(set(plan.seq_scans) & set(query.no_seq_scan), f"{query.name}:\n{plan.text}")

    def test_it_reads_the_directory_in_index_order_without_sorting(self):
        # Sorting priced out: the plan can only avoid a Sort node when the intended index (for
        # the directory member_church_name_idx (church, last_name, first_name, id); for a status in
        # name order member_church_status_name_idx; for the join date member_church_joined_id_idx)
        # yields the page's ORDER BY by itself.
        ordered = [q for q in hot_queries.applicable(self.ctx) if q.index_order]
        self.assertTrue({"directory_page_1", "directory_page_deep", "directory_page_keyset", "filter_status_page",
                         "filter_active_page", "filter_no_group_page", "sort_joined_page", "sort_joined_keyset",
                         "filter_new_30d_page"} <= {q.name for q in ordered})
        for query in ordered:
            self.planner_for(query)
            with self.subTest(query=query.name):
                (plan,) = self.plans(query)
                self.assertTrue(set(query.intended) & set(plan.indexes), plan.text)
                # Below the LIMIT, nothing is sorted: the rows (or, for an OFFSET page, the ids of
                # its deferred join) come off the index in order. Above it, the 51 rows of a
                # deferred join are put back in order: that sort is of one page, whatever the depth.
                below_limit = plan.node_types[plan.node_types.index("Limit"):]
                self.assertNotIn("Sort", below_limit, plan.text)
                self.assertNotIn("Incremental Sort", below_limit, plan.text)

    def test_it_seeks_the_keyset_page_from_the_cursor_inside_the_index(self):
        # The keyset page's point: the row-value comparison is an Index Cond (the scan starts at
        # the cursor's row) rather than a Filter applied to every row before it, as the
        # `a > x OR (a = x AND ...)` form would be.
        query = hot_queries.hot_query("directory_page_keyset")
        self.planner_for(query)
        (plan,) = self.plans(query)
        index_conds = [line for line in plan.text.splitlines() if "Index Cond:" in line]
        self.assertTrue(any("ROW(" in line and "church_id" in line for line in index_conds), plan.text)
        self.assertNotIn("Filter:", plan.text)
        # And it returns the deep page: the same rows as OFFSET, without the OFFSET.
        self.assertEqual([row["id"] for row in hot_queries.directory_page_keyset(self.ctx)],
                         [row["id"] for row in hot_queries.directory_page(self.ctx, self.ctx.deep_page)])

    def test_it_serves_the_real_member_and_dashboard_selectors_without_a_members_seq_scan(self):
        # The pages' own selectors (not the hot-query copies): whatever SQL they send.
        from django.test.utils import CaptureQueriesContext

        from analytics.selectors import dashboard_summary
        from members.selectors import group_with_roster_page, member_list_page

        with CaptureQueriesContext(connection) as captured:
            member_list_page(church=self.church, page=1)
            member_list_page(church=self.church, page=self.ctx.deep_page)
            member_list_page(church=self.church, q=self.ctx.search)
            group_with_roster_page(church=self.church, group_id=self.ctx.group.id)
            dashboard_summary(church=self.church)
        statements = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
        self.assertGreaterEqual(len(statements), 6)
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
                plan = hot_queries.Plan(sql=sql, text="")
                doc = cursor.fetchone()[0]
                hot_queries._walk_pg(doc[0]["Plan"], plan)
                self.assertNotIn("members_member", plan.seq_scans, sql)

    def test_it_finds_search_matches_inside_the_church_within_the_trigram_index(self):
        # The point of member_church_search_trgm: the church is an Index Cond next to the words,
        # so the index returns this church's matches only. Compared as a plain integer the
        # church could not be (btree_gin's bigint class), and would be a Filter on the rows of
        # every church that matched. One statement: the rows and their count.
        for name in ("search_page", "search_count"):
            query = hot_queries.hot_query(name)
            self.planner_for(query)
            with self.subTest(query=name):
                (plan,) = self.plans(query)
                self.assertIn(hot_queries.MEMBER_SEARCH_INDEX, plan.indexes, plan.text)
                conditions = [line for line in plan.text.splitlines() if "Index Cond:" in line]
                self.assertTrue(any("church_id" in line and "~~" in line for line in conditions), plan.text)
                self.assertNotIn("Filter:", plan.text)
