"""members/0006 (case-insensitive emails, one-church triggers), attendance/0005 (attendance
triggers) and messaging/0002 (message and delivery triggers) go back and forward, on either database (0006's index is built CONCURRENTLY on
PostgreSQL, hence a TransactionTestCase, as tests/indices/test_migrations.py)."""

from __future__ import annotations

from django.db import connection
from django.test import TransactionTestCase

from tests.indices.test_migrations import member_indexes, migrate_one
from tests.security.test_tenant_relations import TRIGGERS

MEMBERS_NODE = ("members", "0006_one_church_and_case_insensitive_emails")
ATTENDANCE_NODE = ("attendance", "0005_one_church")
# Its triggers read members_group and members_member, which 0006 rebuilds on SQLite: it goes first.
MESSAGING_NODE = ("messaging", "0002_one_church")


def triggers() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        return {row[0] for row in cursor.fetchall()}


class HardeningMigrationsTestCase(TransactionTestCase):
    def test_it_migrates_back_and_forward(self):
        migrate_one(MESSAGING_NODE, forwards=False)
        migrate_one(ATTENDANCE_NODE, forwards=False)
        migrate_one(MEMBERS_NODE, forwards=False)
        try:
            names = set(member_indexes())
            self.assertIn("member_unique_email_per_church", names)
            self.assertNotIn("member_unique_email_ci_per_church", names)
            self.assertEqual(triggers() & TRIGGERS[connection.vendor], set())
        finally:
            migrate_one(MEMBERS_NODE, forwards=True)
            migrate_one(ATTENDANCE_NODE, forwards=True)
            migrate_one(MESSAGING_NODE, forwards=True)
        names = set(member_indexes())
        self.assertIn("member_unique_email_ci_per_church", names)
        self.assertNotIn("member_unique_email_per_church", names)
        self.assertLessEqual(TRIGGERS[connection.vendor], triggers())
