"""The members index migrations are reversible, on either database: 0002_add_critical_indices,
0004_search_trigram_by_church and 0005_phone_search_trigram_by_church (whose indices need 0002's
pg_trgm, so 0002 goes back after them).

A TransactionTestCase (not FlockTestCase): CREATE/DROP INDEX CONCURRENTLY cannot run inside the
transaction a TestCase wraps each test in. The migrations are unapplied and applied on their own
(not through the migration graph), so later migrations of other apps are never touched.
"""

from __future__ import annotations

from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import TransactionTestCase

from members import hot_queries

NODE = ("members", "0002_add_critical_indices")
SEARCH_NODE = ("members", "0004_search_trigram_by_church")
PHONE_NODE = ("members", "0005_phone_search_trigram_by_church")
# 0008 replaces two of 0002's indices with wider ones: unapplied first, so 0002 finds its own.
FILTER_NODE = ("members", "0008_member_filter_indices")
CRITICAL_0002 = ("member_church_name_idx", "member_church_joined_idx", "member_church_status_idx")
FK_INDEX_COLUMNS = {"members_member": "church_id", "members_group": "church_id", "members_membership": "group_id"}
# 0002's trigram indices, one per column; 0004 replaces them with hot_queries.MEMBER_SEARCH_INDEX.
COLUMN_TRIGRAM_INDEXES = ("member_first_name_trgm", "member_last_name_trgm", "member_email_trgm")


def member_indexes() -> dict[str, dict]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, "members_member")


def single_column_fk_index(table: str, column: str) -> bool:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return any(info["index"] and not info["unique"] and info["columns"] == [column] for info in constraints.values())


def migrate_one(node: tuple[str, str], *, forwards: bool) -> None:
    """Apply or unapply one migration; both take the project state before it."""
    loader = MigrationLoader(connection)
    migration = loader.graph.nodes[node]
    before = loader.project_state(node, at_end=False)
    with connection.schema_editor(atomic=False) as editor:
        if forwards:
            migration.apply(before, editor)
        else:
            migration.unapply(before, editor)


class IndexMigrationsTestCase(TransactionTestCase):
    def setUp(self) -> None:
        self.postgres = connection.vendor == "postgresql"
        self.unapplied: list[tuple[str, str]] = []

    def tearDown(self) -> None:
        # Leave the test database as the migrations made it, whatever failed.
        for node in list(self.unapplied):
            self.apply(node)

    def unapply(self, node: tuple[str, str]) -> None:
        migrate_one(node, forwards=False)
        self.unapplied.insert(0, node)

    def apply(self, node: tuple[str, str]) -> None:
        migrate_one(node, forwards=True)
        self.unapplied.remove(node)

    def test_it_migrates_the_critical_indices_back_and_forward(self):
        self.unapply(FILTER_NODE)
        self.unapply(PHONE_NODE)
        self.unapply(SEARCH_NODE)
        self.unapply(NODE)
        names = set(member_indexes())
        for index in CRITICAL_0002 + hot_queries.CRITICAL_INDEXES + hot_queries.TRIGRAM_INDEXES + COLUMN_TRIGRAM_INDEXES:
            self.assertNotIn(index, names)
        for table, column in FK_INDEX_COLUMNS.items():
            self.assertTrue(single_column_fk_index(table, column), f"{table}.{column} index not restored")

        self.apply(NODE)
        names = set(member_indexes())
        for index in CRITICAL_0002:
            self.assertIn(index, names)
        for index in COLUMN_TRIGRAM_INDEXES:
            self.assertEqual(index in names, self.postgres)
        for table, column in FK_INDEX_COLUMNS.items():
            self.assertFalse(single_column_fk_index(table, column), f"{table}.{column} index still there")

    def test_it_swaps_the_status_and_join_date_indices_for_the_filters_and_back(self):
        self.unapply(FILTER_NODE)
        names = set(member_indexes())
        self.assertTrue(set(CRITICAL_0002) <= names)
        self.assertNotIn(hot_queries.MEMBER_STATUS_INDEX, names)
        self.assertNotIn(hot_queries.MEMBER_JOINED_INDEX, names)
        self.apply(FILTER_NODE)
        names = set(member_indexes())
        self.assertTrue(set(hot_queries.CRITICAL_INDEXES) <= names)
        self.assertNotIn("member_church_joined_idx", names)
        self.assertNotIn("member_church_status_idx", names)

    def test_it_replaces_the_column_trigram_indices_with_one_inside_the_church_and_back(self):
        self.unapply(PHONE_NODE)  # its index needs 0004's btree_gin
        self.unapply(SEARCH_NODE)
        names = set(member_indexes())
        self.assertNotIn(hot_queries.MEMBER_SEARCH_INDEX, names)
        for index in COLUMN_TRIGRAM_INDEXES:
            self.assertEqual(index in names, self.postgres)
        self.assertFalse(self.has_btree_gin())

        self.apply(SEARCH_NODE)
        names = set(member_indexes())
        self.assertEqual(hot_queries.MEMBER_SEARCH_INDEX in names, self.postgres)
        for index in COLUMN_TRIGRAM_INDEXES:
            self.assertNotIn(index, names)
        if self.postgres:
            self.assertTrue(self.has_btree_gin())
            with connection.cursor() as cursor:
                cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [hot_queries.MEMBER_SEARCH_INDEX])
                (definition,) = cursor.fetchone()
            # Led by the church, so one church's matches are all the index scan returns; no pending list.
            self.assertIn("USING gin (church_id, upper(", definition)
            self.assertIn("gin_trgm_ops", definition)
            self.assertIn("fastupdate=off", definition)

    def test_it_adds_the_phone_trigram_index_inside_the_church_and_drops_it_again(self):
        self.unapply(PHONE_NODE)
        self.assertNotIn(hot_queries.MEMBER_PHONE_INDEX, set(member_indexes()))

        self.apply(PHONE_NODE)
        self.assertEqual(hot_queries.MEMBER_PHONE_INDEX in set(member_indexes()), self.postgres)
        if self.postgres:
            with connection.cursor() as cursor:
                cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [hot_queries.MEMBER_PHONE_INDEX])
                (definition,) = cursor.fetchone()
            self.assertIn("USING gin (church_id, phone gin_trgm_ops)", definition)
            self.assertIn("fastupdate=off", definition)

    def has_btree_gin(self) -> bool:
        if not self.postgres:
            return False
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'btree_gin'")
            return cursor.fetchone() is not None
