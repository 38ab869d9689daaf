"""`manage.py index_audit`: how the database's tables are read and which indices earn their keep.

PostgreSQL: per table sequential vs index scans and sizes (pg_stat_user_tables), unused indices
(idx_scan = 0 since the statistics were reset), duplicate and redundant indices (one index's key
columns are a leading prefix of another's), foreign keys without an index, index sizes.
SQLite (no scan statistics): indices per table, duplicates, foreign keys without an index, and
the plan of every hot query (members/hot_queries.py) for the largest church.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import Count

from members import hot_queries
from members.models import Church

from ._output import size, table


@dataclass
class IndexInfo:
    table: str
    name: str
    columns: tuple[str, ...]  # key columns in order; "(expr)" for an expression
    unique: bool
    primary: bool
    partial: bool
    method: str = "btree"
    scans: int | None = None
    bytes: int | None = None
    definition: str = ""
    opclasses: tuple[str, ...] = ()  # PostgreSQL operator classes of the key columns


    @property
    def enforces_constraint(self) -> bool:
        return self.unique or self.primary


def redundant_indexes(indexes: list[IndexInfo]) -> list[tuple[IndexInfo, IndexInfo, str]]:
    """(redundant, covered by, why) pairs: an index whose key columns are a leading prefix of another
    index on the same table (same method, neither partial nor an expression), or an exact duplicate.

    A unique index is only redundant when its twin has exactly the same columns and is unique too:
    otherwise it enforces something the longer index does not.
    """
    found = []
    for a in indexes:
        if a.primary or a.partial or "(expr)" in a.columns:
            continue
        for b in indexes:
            if a is b or b.table != a.table or b.partial or b.method != a.method or "(expr)" in b.columns:
                continue
            if b.columns[:len(a.columns)] != a.columns:
                continue
            if a.opclasses and b.opclasses and b.opclasses[:len(a.opclasses)] != a.opclasses:
                continue  # e.g. varchar_pattern_ops (LIKE 'x%') beside the default: not the same index
            if b.columns == a.columns:
                # Exact duplicates: report one of each pair (keep the unique/primary or the first name).
                if a.enforces_constraint and not b.enforces_constraint:
                    continue
                if a.enforces_constraint == b.enforces_constraint and a.name < b.name:
                    continue
                found.append((a, b, "same columns"))
            elif not a.enforces_constraint:
                found.append((a, b, f"({', '.join(a.columns)}) is a prefix of ({', '.join(b.columns)})"))
            break
    return found


def unindexed_foreign_keys(fks: list[tuple[str, tuple[str, ...], str]], indexes: list[IndexInfo]) -> list[tuple]:
    """Foreign keys (table, columns, target) with no non-partial index that starts with their columns:
    deleting a referenced row, or joining from the parent, scans the whole child table."""
    missing = []
    for tbl, cols, target in fks:
        if not any(i.table == tbl and not i.partial and i.columns[:len(cols)] == cols for i in indexes):
            missing.append((tbl, ", ".join(cols), target))
    return missing


class Command(BaseCommand):
    help = "Audit indices: scans per table, unused and redundant indices, unindexed foreign keys, sizes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--church", help="slug of the church whose hot-query plans are shown (SQLite; "
                                             "default: the church with the most members)")
        parser.add_argument("--all-tables", action="store_true",
                            help="include Django's own tables (auth, sessions, admin log...)")

    def handle(self, *args, **opts) -> None:
        self.all_tables = opts["all_tables"]
        if connection.vendor == "postgresql":
            self.postgres()
        elif connection.vendor == "sqlite":
            self.sqlite(opts["church"])
        else:
            raise CommandError(f"index_audit supports PostgreSQL and SQLite, not {connection.vendor}.")

    def section(self, title: str, body: str, note: str = "") -> None:
        self.stdout.write(f"\n== {title} ==")
        if note:
            self.stdout.write(note)
        self.stdout.write(body)

    def keep(self, table_name: str) -> bool:
        if self.all_tables:
            return True
        app_tables = {m._meta.db_table for m in _app_models()}
        return table_name in app_tables

    # --- PostgreSQL ---------------------------------------------------------------------------
    def postgres(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()")
            reset = cursor.fetchone()[0]
            cursor.execute(
                """
                SELECT s.relname, s.seq_scan, s.seq_tup_read, COALESCE(s.idx_scan, 0), s.n_live_tup,
                       pg_relation_size(s.relid), pg_indexes_size(s.relid), pg_total_relation_size(s.relid)
                FROM pg_stat_user_tables s
                WHERE s.schemaname = current_schema()
                ORDER BY pg_total_relation_size(s.relid) DESC
                """
            )
            tables = [r for r in cursor.fetchall() if self.keep(r[0])]
            indexes = self._pg_indexes(cursor)
            fks = self._pg_foreign_keys(cursor)

        self.stdout.write(f"index_audit: database {connection.settings_dict['NAME']!r} (PostgreSQL); "
                          f"scan counters since {reset or 'the server started'}")
        rows = []
        for name, seq, seq_read, idx, live, heap, idx_bytes, total in tables:
            share = f"{100 * idx / (seq + idx):.0f}%" if seq + idx else "-"
            flag = "  <- seq scans of a big table" if seq > idx and live > 10_000 else ""
            rows.append((name, f"{live:,}", f"{seq:,}", f"{seq_read:,}", f"{idx:,}", share, size(heap), size(idx_bytes),
                         size(total) + flag))
        self.section("Tables: sequential vs index scans", table(
            ("table", "rows", "seq scans", "rows seq read", "idx scans", "idx share", "table", "indexes", "total"),
            rows, right=range(1, 8)))

        self.section("Indices", table(
            ("table", "index", "columns", "kind", "scans", "size"),
            [(i.table, i.name, ", ".join(i.columns), _kind(i), f"{i.scans:,}", size(i.bytes))
             for i in sorted(indexes, key=lambda i: (i.table, i.name))],
            right=(4, 5)))

        unused = [i for i in indexes if i.scans == 0 and not i.primary]
        fk_columns = {(t, cols) for t, cols, _ in fks}

        def note(i: IndexInfo) -> str:
            if i.unique:
                return "enforces a constraint: keep"
            if (i.table, i.columns) in fk_columns:
                return "backs a foreign key (deleting the parent row): keep unless parents are never deleted"
            return "candidate to drop"

        self.section("Unused indices (idx_scan = 0)", table(
            ("table", "index", "size", "note"),
            [(i.table, i.name, size(i.bytes), note(i)) for i in sorted(unused, key=lambda i: -(i.bytes or 0))],
            right=(2,)),
            note="Counted since the statistics were reset; judge after a realistic period of traffic.")

        self.section("Duplicate and redundant indices", table(
            ("table", "redundant index", "covered by", "why", "size"),
            [(a.table, a.name, b.name, why, size(a.bytes)) for a, b, why in redundant_indexes(indexes)],
            right=(4,)))

        self.section("Foreign keys without an index", table(
            ("table", "columns", "references"), unindexed_foreign_keys(fks, indexes)))

    def _pg_indexes(self, cursor) -> list[IndexInfo]:
        cursor.execute(
            """
            SELECT c.relname, ic.relname, am.amname, i.indisunique, i.indisprimary, i.indpred IS NOT NULL,
                   ARRAY(SELECT COALESCE(a.attname, '(expr)')
                         FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, n)
                         LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                         ORDER BY k.n),
                   COALESCE(s.idx_scan, 0), pg_relation_size(i.indexrelid), pg_get_indexdef(i.indexrelid),
                   ARRAY(SELECT opc.opcname
                         FROM unnest(i.indclass[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(oid, n)
                         JOIN pg_opclass opc ON opc.oid = k.oid ORDER BY k.n)
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_class ic ON ic.oid = i.indexrelid
            JOIN pg_am am ON am.oid = ic.relam
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
            WHERE n.nspname = current_schema() AND c.relkind = 'r'
            """
        )
        return [
            IndexInfo(table=r[0], name=r[1], method=r[2], unique=r[3], primary=r[4], partial=r[5],
                      columns=tuple(r[6]), scans=r[7], bytes=r[8], definition=r[9], opclasses=tuple(r[10]))
            for r in cursor.fetchall() if self.keep(r[0])
        ]

    def _pg_foreign_keys(self, cursor) -> list[tuple[str, tuple[str, ...], str]]:
        cursor.execute(
            """
            SELECT c.relname, ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, n)
                                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                                    ORDER BY k.n),
                   f.relname
            FROM pg_constraint con
            JOIN pg_class c ON c.oid = con.conrelid
            JOIN pg_class f ON f.oid = con.confrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE con.contype = 'f' AND n.nspname = current_schema()
            ORDER BY c.relname
            """
        )
        return [(r[0], tuple(r[1]), r[2]) for r in cursor.fetchall() if self.keep(r[0])]

    # --- SQLite -------------------------------------------------------------------------------
    def sqlite(self, church_slug: str | None) -> None:
        indexes: list[IndexInfo] = []
        fks: list[tuple[str, tuple[str, ...], str]] = []
        with connection.cursor() as cursor:
            names = [t.name for t in connection.introspection.get_table_list(cursor) if t.type == "t"]
            names = [n for n in names if self.keep(n)]
            counts = {}
            for name in names:
                cursor.execute(f'SELECT COUNT(*) FROM "{name}"')
                counts[name] = cursor.fetchone()[0]
                cursor.execute(f'PRAGMA index_list("{name}")')
                for _, index_name, unique, origin, partial in cursor.fetchall():
                    cursor.execute(f'PRAGMA index_info("{index_name}")')
                    cols = tuple(r[2] if r[2] is not None else "(expr)" for r in sorted(cursor.fetchall()))
                    indexes.append(IndexInfo(table=name, name=index_name, columns=cols, unique=bool(unique),
                                             primary=origin == "pk", partial=bool(partial)))
                cursor.execute(f'PRAGMA foreign_key_list("{name}")')
                by_id: dict[int, list] = {}
                for row in cursor.fetchall():
                    by_id.setdefault(row[0], []).append(row)
                for rows in by_id.values():
                    rows.sort(key=lambda r: r[1])
                    fks.append((name, tuple(r[3] for r in rows), rows[0][2]))

        self.stdout.write(f"index_audit: {connection.settings_dict['NAME']} (SQLite: no scan statistics; "
                          f"plans below show how the hot queries read)")
        self.section("Indices per table", table(
            ("table", "rows", "index", "columns", "kind"),
            [(i.table, f"{counts[i.table]:,}", i.name, ", ".join(i.columns), _kind(i))
             for i in sorted(indexes, key=lambda i: (i.table, i.name))], right=(1,)))
        self.section("Duplicate and redundant indices", table(
            ("table", "redundant index", "covered by", "why"),
            [(a.table, a.name, b.name, why) for a, b, why in redundant_indexes(indexes)]))
        self.section("Foreign keys without an index", table(
            ("table", "columns", "references"), unindexed_foreign_keys(fks, indexes)))
        self.hot_query_plans(church_slug)

    def hot_query_plans(self, church_slug: str | None) -> None:
        church = _pick_church(church_slug)
        if church is None:
            self.section("Hot query plans", "(no church yet: run `manage.py seed_demo`)")
            return
        ctx = hot_queries.HotContext.for_church(church)
        rows = []
        for query in hot_queries.applicable(ctx):
            for sql, params in hot_queries.capture_sql(query, ctx):
                plan = hot_queries.explain(sql, params)
                rows.append((query.name, ", ".join(dict.fromkeys(plan.indexes)) or "-",
                             ", ".join(plan.seq_scans) or "-", plan.text.replace("\n", " | ")))
        self.section(f"Hot query plans (church {church.slug})", table(
            ("query", "indices used", "full scans", "EXPLAIN QUERY PLAN"), rows))


def _kind(index: IndexInfo) -> str:
    parts = ["primary key" if index.primary else "unique" if index.unique else "index"]
    if index.partial:
        parts.append("partial")
    if index.method != "btree":
        parts.append(index.method)
    return " ".join(parts)


def _app_models():
    from django.apps import apps

    return [m for m in apps.get_models() if m._meta.app_label in ("members", "attendance", "analytics", "cachemon")]


def _pick_church(slug: str | None) -> Church | None:
    if slug:
        try:
            return Church.objects.get(slug=slug)
        except Church.DoesNotExist:
            raise CommandError(f"No church with slug {slug!r}.") from None
    return Church.objects.annotate(n=Count("members")).order_by("-n", "id").first()
