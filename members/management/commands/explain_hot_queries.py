"""`manage.py explain_hot_queries [--church slug] [--analyze]`: the plan of every hot query.

For each query in members/hot_queries.py: the SQL it sends, its plan (`EXPLAIN (ANALYZE, BUFFERS)`
with --analyze on PostgreSQL, plain EXPLAIN without; `EXPLAIN QUERY PLAN` on SQLite), its median
time through the ORM, and the indices it read (or the table it scanned in full). A summary table
closes the output.
"""

from __future__ import annotations

import textwrap

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from members import hot_queries

from ._output import table
from .index_audit import _pick_church


class Command(BaseCommand):
    help = "Show each hot query's plan, time and the index it uses, then a summary table."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--church", help="church slug (default: the church with the most members)")
        parser.add_argument("--analyze", action="store_true",
                            help="PostgreSQL: EXPLAIN (ANALYZE, BUFFERS), i.e. run the query and show real rows, "
                                 "times and buffer reads")
        parser.add_argument("--runs", type=int, default=5, help="timed runs per query; the median is shown (default 5)")
        parser.add_argument("--query", action="append", choices=hot_queries.HOT_QUERY_NAMES,
                            help="only this hot query (repeatable)")
        parser.add_argument("--search", help="the ?q= search term (default: a surname from the church)")

    def handle(self, *args, **opts) -> None:
        if opts["runs"] < 1:
            raise CommandError("--runs must be at least 1.")
        church = _pick_church(opts["church"])
        if church is None:
            raise CommandError("There is no church yet: run `manage.py seed_demo` first.")
        ctx = hot_queries.HotContext.for_church(church, search=opts["search"])
        queries = [q for q in hot_queries.applicable(ctx) if not opts["query"] or q.name in opts["query"]]
        analyze = opts["analyze"] and connection.vendor == "postgresql"
        how = ("EXPLAIN (ANALYZE, BUFFERS)" if analyze else "EXPLAIN" if connection.vendor == "postgresql"
               else "EXPLAIN QUERY PLAN")
        self.stdout.write(
            f"explain_hot_queries: church {church.slug} (search {ctx.search!r}, phone search {ctx.phone_search!r}, "
            f"deep page {ctx.deep_page}, "
            f"group {ctx.group.name if ctx.group else '-'!r}), {connection.vendor}, {how}, "
            f"median of {opts['runs']} runs"
        )

        summary = []
        # Reads only, but keep EXPLAIN ANALYZE of anything inside a transaction that is rolled back.
        with transaction.atomic():
            for query in queries:
                ms = hot_queries.time_query(query, ctx, runs=opts["runs"])
                statements = hot_queries.capture_sql(query, ctx)
                self.stdout.write(f"\n=== {query.name}: {query.title} ===")
                self.stdout.write(f"page: {query.page}")
                if query.notes:
                    self.stdout.write(f"why: {query.notes}")
                used: list[str] = []
                scans: list[str] = []
                db_ms = 0.0
                for sql, params in statements:
                    plan = hot_queries.explain(sql, params, analyze=analyze)
                    used += plan.indexes
                    scans += plan.seq_scans
                    db_ms += plan.db_ms or 0.0
                    self.stdout.write("sql: " + textwrap.shorten(_inline(sql, params), 600, placeholder=" ..."))
                    self.stdout.write(textwrap.indent(plan.text, "  "))
                used = list(dict.fromkeys(used))
                intended = [i for i in used if _matches(i, query.intended)]
                bad_scans = sorted(set(scans) & set(query.no_seq_scan))
                verdict = ("uses " + ", ".join(intended) if intended
                           else "uses " + ", ".join(used) + " (not the intended " + " / ".join(query.intended) + ")"
                           if used else "NO INDEX")
                if bad_scans:
                    verdict += f"; FULL SCAN of {', '.join(bad_scans)}"
                self.stdout.write(f"time: {ms:.2f} ms (median, through the ORM)"
                                  + (f"; {db_ms:.2f} ms in PostgreSQL (EXPLAIN ANALYZE)" if analyze else ""))
                self.stdout.write(f"index: {verdict}")
                summary.append((query.name, f"{ms:.2f}", ", ".join(used) or "-", ", ".join(sorted(set(scans))) or "-",
                                "yes" if intended and not bad_scans else "NO"))
            transaction.set_rollback(True)

        self.stdout.write("\n=== summary ===")
        self.stdout.write(table(("query", "ms (median)", "indices used", "full scans", "intended index"),
                                summary, right=(1,)))


def _matches(index_name: str, intended: tuple[str, ...]) -> bool:
    # Django names foreign key indices `<table>_<column>_<hash>`; intended names may omit the hash.
    return any(index_name == name or index_name.startswith(name + "_") for name in intended)


def _inline(sql: str, params: tuple) -> str:
    """The statement with its parameters shown in place, for reading (never executed)."""
    def literal(value: object) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, (bool, int, float)):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    try:
        return sql % tuple(literal(p) for p in params)
    except (TypeError, ValueError):
        return f"{sql}  -- params {params!r}"
