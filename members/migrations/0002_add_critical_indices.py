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
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

TRIGRAM_COLUMNS = ("first_name", "last_name", "email")

class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    """AddIndex that builds the index CONCURRENTLY on PostgreSQL and plainly elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, self.index, concurrently=True)
        else:
            schema_editor.remove_index(model, self.index)


class DropForeignKeyIndex(migrations.operations.base.Operation):
    """Database side of `db_index=False` on a foreign key: drop its single-column index
    (concurrently on PostgreSQL) without rebuilding the table (which SQLite's AlterField would do).
    Backwards it recreates the index under Django's own name."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, field_name: str) -> None:
        self.model_name = model_name
        self.field_name = field_name

    def state_forwards(self, app_label, state):
        pass  # the state change is the AlterField next to it

    def _target(self, app_label, schema_editor, state):
        model = state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.field_name)
        return model, field.column

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model, column = self._target(app_label, schema_editor, from_state)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        table = model._meta.db_table
        with schema_editor.connection.cursor() as cursor:
            constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
        names = [
            name for name, info in constraints.items()
            if info["index"] and not info["unique"] and not info["primary_key"] and info["columns"] == [column]
        ]
        concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
        for name in names:
            schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {schema_editor.quote_name(name)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model, column = self._target(app_label, schema_editor, to_state)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        table = model._meta.db_table
        name = schema_editor._create_index_name(table, [column], suffix="")
        concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
        schema_editor.execute(
            f"CREATE INDEX {concurrently}IF NOT EXISTS {schema_editor.quote_name(name)} "
            f"ON {schema_editor.quote_name(table)} ({schema_editor.quote_name(column)})"
        )

    def describe(self):
        return f"Drop the redundant index of foreign key {self.model_name}.{self.field_name}"

    def deconstruct(self):
        return (self.__class__.__qualname__, [], {"model_name": self.model_name, "field_name": self.field_name})


class RunSQLOnPostgres(migrations.RunSQL):
    """RunSQL that only runs on PostgreSQL (a no-op on SQLite, both ways)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class TrigramExtensionOnPostgres(TrigramExtension):
    """`CREATE EXTENSION pg_trgm` on PostgreSQL; Django's own operation skips other databases going
    forwards but not backwards (it would query pg_extension on SQLite)."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


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
