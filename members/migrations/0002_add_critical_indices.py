"""The critical indices for the hot queries (members/hot_queries.py), measured at a million members.

- member_church_name_idx (church, last_name, first_name, id): the member directory and search pages
  are ORDER BY last_name, first_name, id LIMIT 50 inside one church. With it PostgreSQL reads the
  first page straight off the index and stops after 50 rows, instead of sorting the whole church.
- member_church_joined_idx (church, joined_on): new members per month and "new in the last 30 days"
  are ranges on joined_on inside one church: an index-only range scan.
- member_church_status_idx (church, status): members by status (the dashboard's donut, "active"):
  an index-only scan grouped on status.

- member_{first_name,last_name,email}_trgm (PostgreSQL only): GIN trigram indices on
  UPPER(column), the exact expressions Django's `icontains` compares, so the `?q=` search
  (every word against first name, last name or email) becomes a BitmapOr of three index scans
  instead of testing every member of the church: the search count on a 100k-member church went
  from 280 ms to 11 ms (docs/bench/queries.md). They live outside the model state (RunSQL):
  SQLite has no GIN, and a Meta index would be recreated, and fail, on SQLite table rebuilds.

The single-column foreign key indices on Member.church, Group.church and Membership.group are
dropped: each is a leading prefix of a composite index (the first one above, and the unique
constraints on (church, name) and (group, member)), so `manage.py index_audit` lists them as
redundant; they only cost writes and memory.

On PostgreSQL everything is CREATE/DROP INDEX CONCURRENTLY (no lock that blocks writes while a
big table is indexed), which cannot run in a transaction: hence `atomic = False`. SQLite gets
plain CREATE/DROP INDEX. Reversible: migrating back drops the new indices and restores the old.
"""

import django.db.models.deletion
from django.db import migrations, models

from members.migration_operations import (
    AddIndexConcurrentlyOnPostgres,
    DropForeignKeyIndex,
    RunSQLOnPostgres,
    TrigramExtensionOnPostgres,
)

TRIGRAM_COLUMNS = ("first_name", "last_name", "email")

class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("members", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="member",
            index=models.Index(fields=["church", "last_name", "first_name", "id"], name="member_church_name_idx"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="member",
            index=models.Index(fields=["church", "joined_on"], name="member_church_joined_idx"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="member",
            index=models.Index(fields=["church", "status"], name="member_church_status_idx"),
        ),
        # After the composite indices exist, so no query is ever left without an index.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="member", name="church",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name="members", to="members.church"),
                ),
            ],
            database_operations=[DropForeignKeyIndex("member", "church")],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="group", name="church",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name="groups", to="members.church"),
                ),
            ],
            database_operations=[DropForeignKeyIndex("group", "church")],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="membership", name="group",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name="memberships", to="members.group"),
                ),
            ],
            database_operations=[DropForeignKeyIndex("membership", "group")],
        ),
        # The ?q= search (PostgreSQL only): pg_trgm and a GIN trigram index per searched column.
        TrigramExtensionOnPostgres(),
        *(
            RunSQLOnPostgres(
                sql=f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "member_{column}_trgm" ON "members_member" '
                    f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)',
                reverse_sql=f'DROP INDEX CONCURRENTLY IF EXISTS "member_{column}_trgm"',
            )
            for column in TRIGRAM_COLUMNS
        ),
    ]
