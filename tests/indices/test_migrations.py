"""members/migrations/0002_add_critical_indices.py is reversible, on either database.

A TransactionTestCase (not FlockTestCase): CREATE/DROP INDEX CONCURRENTLY cannot run inside the
transaction a TestCase wraps each test in. The migration is unapplied and applied on its own
(not through the migration graph), so later migrations of other apps are never touched.
"""

from __future__ import annotations

from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import TransactionTestCase

from members import hot_queries

NODE = ("members", "0002_add_critical_indices")
FK_INDEX_COLUMNS = {"members_member": "church_id", "members_group": "church_id", "members_membership": "group_id"}


def member_indexes() -> dict[str, dict]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, "members_member")


def single_column_fk_index(table: str, column: str) -> bool:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return any(info["index"] and not info["unique"] and info["columns"] == [column] for info in constraints.values())


class CriticalIndicesMigrationTestCase(TransactionTestCase):
    def test_it_migrates_back_and_forward(self):
        loader = MigrationLoader(connection)
        migration = loader.graph.nodes[NODE]
        # Both apply() and unapply() take the state before the migration (and change it: clone).
        before = loader.project_state(NODE, at_end=False)
        trigram = connection.vendor == "postgresql"
        applied = True
        try:
            with connection.schema_editor(atomic=False) as editor:
                migration.unapply(before.clone(), editor)
            applied = False
            names = set(member_indexes())
            for index in hot_queries.CRITICAL_INDEXES + hot_queries.TRIGRAM_INDEXES:
                self.assertNotIn(index, names)
            for table, column in FK_INDEX_COLUMNS.items():
                self.assertTrue(single_column_fk_index(table, column), f"{table}.{column} index not restored")

            with connection.schema_editor(atomic=False) as editor:
                migration.apply(before.clone(), editor)
            applied = True
            names = set(member_indexes())
            for index in hot_queries.CRITICAL_INDEXES:
                self.assertIn(index, names)
            for index in hot_queries.TRIGRAM_INDEXES:
                self.assertEqual(index in names, trigram)
            for table, column in FK_INDEX_COLUMNS.items():
                self.assertFalse(single_column_fk_index(table, column), f"{table}.{column} index still there")
        finally:
            if not applied:  # leave the test database as the migrations made it
                with connection.schema_editor(atomic=False) as editor:
                    migration.apply(before.clone(), editor)
