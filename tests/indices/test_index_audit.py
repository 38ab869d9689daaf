"""`manage.py index_audit` and `manage.py explain_hot_queries` on either database."""

from __future__ import annotations

import io
import re

from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from members import hot_queries
from members.management.commands.index_audit import IndexInfo, redundant_indexes, unindexed_foreign_keys
from members.models import Church
from tests.base import FlockTestCase


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def block(out: str, name: str) -> str:
    """One query's section of `explain_hot_queries` output."""
    return out.split(f"\n=== {name}: ")[1].split("\n=== ")[0]


def summary_row(out: str, name: str) -> list[str]:
    """The summary table's cells for one query (columns are separated by two or more spaces)."""
    summary = out.split("=== summary ===")[1]
    (line,) = [row for row in summary.splitlines() if row.split("  ")[0] == name]
    return [cell.strip() for cell in re.split(r"\s{2,}", line.strip())]


def set_planner(**settings: str) -> None:
    """PostgreSQL: planner settings for the rest of the test's transaction (SET LOCAL), after fresh
    statistics, so a plan does not depend on what earlier tests left in the shared test database."""
    with connection.cursor() as cursor:
        for table in ("members_member", "members_membership", "members_group", "attendance_attendance"):
            cursor.execute(f"ANALYZE {table}")
        for name, value in settings.items():
            cursor.execute(f"SET LOCAL {name} = {value}")


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class IndexAuditTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        call_command("seed_demo", "--churches", "2", "--members", "300", "--seed", "4",
                     stdout=io.StringIO(), stderr=io.StringIO())
        cls.church = Church.objects.exclude(slug__in=["grace", "hope"]).order_by("id").first()

    def test_it_reports_sections_for_this_database(self):
        out = run("index_audit")

        self.assertIn("Duplicate and redundant indices", out)
        self.assertIn("Foreign keys without an index", out)
        if connection.vendor == "postgresql":
            self.assertIn("Tables: sequential vs index scans", out)
            self.assertIn("Unused indices (idx_scan = 0)", out)
        else:
            self.assertIn("Indices per table", out)
            self.assertIn("Hot query plans", out)
        for index in hot_queries.CRITICAL_INDEXES:
            self.assertIn(index, out)

    def test_it_finds_no_redundant_member_index_after_the_critical_indices_migration(self):
        out = run("index_audit")
        section = out.split("== Duplicate and redundant indices ==")[1].split("==")[0]

        self.assertNotIn("members_member", section)
        self.assertNotIn("members_membership_group_id", section)
        self.assertNotIn("members_group_church_id", section)

    def test_it_flags_prefix_and_exact_duplicates_but_keeps_unique_and_partial_ones(self):
        fk = IndexInfo("t", "t_church_id", ("church_id",), unique=False, primary=False, partial=False)
        composite = IndexInfo("t", "t_church_name", ("church_id", "name"), unique=False, primary=False, partial=False)
        twin = IndexInfo("t", "t_church_name_2", ("church_id", "name"), unique=False, primary=False, partial=False)
        unique = IndexInfo("t", "t_church_uniq", ("church_id",), unique=True, primary=False, partial=False)
        partial = IndexInfo("t", "t_church_p", ("church_id",), unique=False, primary=False, partial=True)
        other_table = IndexInfo("u", "u_church_name", ("church_id", "name"), unique=False, primary=False, partial=False)

        found = {(a.name, b.name) for a, b, _ in redundant_indexes([fk, composite, twin, unique, partial, other_table])}

        self.assertIn(("t_church_id", "t_church_name"), found)
        self.assertIn(("t_church_name_2", "t_church_name"), found)  # exact twins: one reported
        self.assertNotIn(("t_church_name", "t_church_name_2"), found)
        self.assertFalse(any(a == "t_church_uniq" for a, _ in found))  # enforces uniqueness
        self.assertFalse(any(a == "t_church_p" for a, _ in found))  # partial: covers other rows

    def test_it_lists_foreign_keys_that_no_index_starts_with(self):
        indexes = [IndexInfo("t", "t_a_b", ("a_id", "b_id"), unique=True, primary=False, partial=False),
                   IndexInfo("t", "t_c_p", ("c_id",), unique=False, primary=False, partial=True)]
        fks = [("t", ("a_id",), "a"), ("t", ("b_id",), "b"), ("t", ("c_id",), "c")]

        self.assertEqual(unindexed_foreign_keys(fks, indexes), [("t", "b_id", "b"), ("t", "c_id", "c")])

    def test_it_explains_every_hot_query_with_a_summary(self):
        # The plans themselves are the planner's call on this small data set (a sequential scan
        # may well be cheapest here), so this checks the report's structure; the two tests below
        # check that its verdict follows the plan.
        out = run("explain_hot_queries", "--church", self.church.slug, "--runs", "1")

        self.assertIn("EXPLAIN" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN",
                      out.splitlines()[0])
        for query in hot_queries.HOT_QUERIES:
            self.assertIn(f"=== {query.name}: {query.title} ===", out)
            section = block(out, query.name)
            self.assertIn(f"page: {query.page}", section)
            self.assertIn("sql: SELECT", section)
            self.assertRegex(section, r"\ntime: \d+\.\d\d ms")
            self.assertRegex(section, r"\nindex: (uses |NO INDEX)")
            row = summary_row(out, query.name)
            self.assertEqual(len(row), 5, row)
            self.assertIn(row[-1], ("yes", "NO"))
            # "yes" exactly when the block names an intended index and no forbidden full scan.
            verdict = section.split("\nindex: ")[1].splitlines()[0]
            self.assertEqual(row[-1] == "yes", verdict.startswith("uses ") and "not the intended" not in verdict
                             and "FULL SCAN" not in verdict, verdict)

    def test_it_reports_the_intended_index_when_the_plan_uses_it(self):
        if connection.vendor == "postgresql":
            # Sequential scans, bitmap scans and sorts priced out: the directory pages can then
            # only be planned as a walk of member_church_name_idx (see test_query_plans.py).
            set_planner(enable_seqscan="off", enable_bitmapscan="off", enable_sort="off")
        out = run("explain_hot_queries", "--church", self.church.slug, "--runs", "1",
                  "--query", "directory_page_1", "--query", "directory_page_keyset")

        for name in ("directory_page_1", "directory_page_keyset"):
            section = block(out, name)
            self.assertIn(f"\nindex: uses {hot_queries.MEMBER_NAME_INDEX}\n", section + "\n", section)
            row = summary_row(out, name)
            self.assertEqual(row[2], hot_queries.MEMBER_NAME_INDEX)
            self.assertEqual((row[3], row[4]), ("-", "yes"))
        self.assertNotIn("=== directory_page_deep", out)

    def test_it_reports_a_full_scan_when_the_plan_reads_no_index(self):
        if connection.vendor != "postgresql":
            self.skipTest("PostgreSQL planner settings price every index out; SQLite has none")
        set_planner(enable_indexscan="off", enable_indexonlyscan="off", enable_bitmapscan="off")
        out = run("explain_hot_queries", "--church", self.church.slug, "--runs", "1", "--query", "directory_page_1")

        section = block(out, "directory_page_1")
        self.assertIn("Seq Scan on members_member", section)
        self.assertIn("\nindex: NO INDEX; FULL SCAN of members_member", section)
        self.assertEqual(summary_row(out, "directory_page_1")[2:], ["-", "members_member", "NO"])

    def test_it_runs_explain_analyze_on_postgres_only_when_asked(self):
        out = run("explain_hot_queries", "--church", self.church.slug, "--runs", "1", "--analyze",
                  "--query", "directory_page_1")

        self.assertIn("=== directory_page_1", out)
        self.assertNotIn("=== search_page", out)
        if connection.vendor == "postgresql":
            self.assertIn("actual time=", out)
            self.assertIn("Buffers:", out)

    def test_it_rejects_an_unknown_church(self):
        with self.assertRaisesMessage(CommandError, "No church with slug 'nowhere'"):
            run("explain_hot_queries", "--church", "nowhere")
