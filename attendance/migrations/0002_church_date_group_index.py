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

from members.migration_operations import AddIndexConcurrentlyOnPostgres, DropForeignKeyIndex

INDEX = models.Index(fields=["church", "date", "group"], name="attendance_church_date_group")


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
            database_operations=[DropForeignKeyIndex("attendance", "church")],
        ),
    ]
