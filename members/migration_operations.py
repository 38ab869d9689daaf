"""Migration operations for adding and dropping indices on a live database.

Shared by the index migrations of members and attendance: on PostgreSQL every index is built
and dropped CONCURRENTLY (no lock that blocks writes while a big table is indexed; the migration
must say `atomic = False`), on SQLite plainly; PostgreSQL-only steps are no-ops elsewhere.
"""

from django.contrib.postgres.operations import BtreeGinExtension, TrigramExtension
from django.db import migrations


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


class RemoveIndexConcurrentlyOnPostgres(migrations.RemoveIndex):
    """RemoveIndex that drops the index CONCURRENTLY on PostgreSQL and plainly elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
        schema_editor.remove_index(model, index, **_concurrently(schema_editor))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        index = to_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
        schema_editor.add_index(model, index, **_concurrently(schema_editor))


def _concurrently(schema_editor) -> dict:
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


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
        return (f"{__name__}.{self.__class__.__qualname__}", [],
                {"model_name": self.model_name, "field_name": self.field_name})


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


class BtreeGinExtensionOnPostgres(BtreeGinExtension):
    """`CREATE EXTENSION btree_gin` (btree operator classes for GIN, so a GIN index can lead with
    a plain column such as church_id) on PostgreSQL; a no-op elsewhere, both ways, for the same
    reason as TrigramExtensionOnPostgres."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class RunSQLPerVendor(migrations.RunSQL):
    """RunSQL with statements per database vendor ("postgresql", "sqlite"): a list each, every
    statement run as it is (trigger bodies hold semicolons); another vendor: a no-op."""

    def __init__(self, *, sql: dict[str, list[str]], reverse_sql: dict[str, list[str]]) -> None:
        super().__init__(sql="", reverse_sql="")
        self.sql_by_vendor, self.reverse_by_vendor = sql, reverse_sql

    def deconstruct(self):
        return (f"{__name__}.{self.__class__.__qualname__}", [],
                {"sql": self.sql_by_vendor, "reverse_sql": self.reverse_by_vendor})

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        script = self.sql_by_vendor.get(schema_editor.connection.vendor)
        if script:
            self._run_sql(schema_editor, script)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        script = self.reverse_by_vendor.get(schema_editor.connection.vendor)
        if script:
            self._run_sql(schema_editor, script)


def _create_unique_index_concurrently(constraint, model, schema_editor) -> None:
    sql = str(constraint.create_sql(model, schema_editor))
    assert sql.startswith("CREATE UNIQUE INDEX "), sql
    schema_editor.execute("CREATE UNIQUE INDEX CONCURRENTLY " + sql[len("CREATE UNIQUE INDEX "):], params=None)


def _drop_index_concurrently(name: str, schema_editor) -> None:
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")


class _ConcurrentUniqueIndexMixin:
    """Forwards/backwards through `_create`/`_drop` on PostgreSQL, Django's own way elsewhere."""

    def _concurrently(self, schema_editor, state, app_label) -> object | None:
        model = state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return None
        return model if schema_editor.connection.vendor == "postgresql" else False

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = self._concurrently(schema_editor, to_state, app_label)
        if model is False:
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        elif model is not None:
            self._forwards(model, schema_editor, from_state, app_label)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = self._concurrently(schema_editor, to_state, app_label)
        if model is False:
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        elif model is not None:
            self._backwards(model, schema_editor, to_state, app_label)


class AddConstraintConcurrentlyOnPostgres(_ConcurrentUniqueIndexMixin, migrations.AddConstraint):
    """AddConstraint of a UniqueConstraint that is an index (with expressions or a condition):
    CREATE UNIQUE INDEX CONCURRENTLY on PostgreSQL (writes go on while it is built), plainly
    elsewhere. A failure (duplicates) leaves an INVALID index that the reverse drops."""

    def _forwards(self, model, schema_editor, state, app_label) -> None:
        _create_unique_index_concurrently(self.constraint, model, schema_editor)

    def _backwards(self, model, schema_editor, state, app_label) -> None:
        _drop_index_concurrently(self.constraint.name, schema_editor)


class RemoveConstraintConcurrentlyOnPostgres(_ConcurrentUniqueIndexMixin, migrations.RemoveConstraint):
    """RemoveConstraint of a UniqueConstraint that is an index: DROP INDEX CONCURRENTLY on
    PostgreSQL, plainly elsewhere; backwards it is built again concurrently."""

    def _forwards(self, model, schema_editor, state, app_label) -> None:
        _drop_index_concurrently(self.name, schema_editor)

    def _backwards(self, model, schema_editor, state, app_label) -> None:
        constraint = state.models[app_label, self.model_name_lower].get_constraint_by_name(self.name)
        _create_unique_index_concurrently(constraint, model, schema_editor)
