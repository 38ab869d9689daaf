"""The attendance pages' index, (church, date, group), replacing the church foreign key's own.

- attendance_church_date_group: a session's headcount and ticks (church, date, group), the
  recent-sessions list (read backwards along it, index-only, stopping after one page) and the
  dashboard's attendance by date range.
- The single-column index of Attendance.church is dropped: it is a prefix of the new one, so
  `manage.py index_audit` lists it as redundant; it only costs writes and memory.

On PostgreSQL both are CONCURRENTLY (no lock that blocks writes while millions of records
are indexed), which cannot run in a transaction: hence `atomic = False`. The new index is
built before the old one goes, so no query is ever left without an index. Reversible.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = models.Index(fields=["church", "date", "group"], name="attendance_church_date_group")


def _concurrently(schema_editor) -> str:
    return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            extra = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
            schema_editor.add_index(model, self.index, **extra)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            extra = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
            schema_editor.remove_index(model, self.index, **extra)


class DropChurchIndex(migrations.operations.base.Operation):
    """Database side of `db_index=False` on Attendance.church, without a table rebuild."""

    reversible = True
    reduces_to_sql = True

    def state_forwards(self, app_label, state):
        pass  # the AlterField next to it changes the state

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, "attendance")
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        table = model._meta.db_table
        with schema_editor.connection.cursor() as cursor:
            constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
        for name, info in constraints.items():
            if info["index"] and not info["unique"] and not info["primary_key"] and info["columns"] == ["church_id"]:
                schema_editor.execute(f"DROP INDEX {_concurrently(schema_editor)}IF EXISTS {schema_editor.quote_name(name)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, "attendance")
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        table = model._meta.db_table
        name = schema_editor._create_index_name(table, ["church_id"], suffix="")
        schema_editor.execute(
            f"CREATE INDEX {_concurrently(schema_editor)}IF NOT EXISTS {schema_editor.quote_name(name)} "
            f"ON {schema_editor.quote_name(table)} ({schema_editor.quote_name('church_id')})"
        )

    def describe(self):
        return "Drop the redundant index of foreign key attendance.church"

    def deconstruct(self):
        return (self.__class__.__qualname__, [], {})


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("attendance", "0001_initial"),
        ("members", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(model_name="attendance", index=INDEX),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="attendance", name="church",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name="attendance", to="members.church"),
                ),
            ],
            database_operations=[DropChurchIndex()],
        ),
    ]
