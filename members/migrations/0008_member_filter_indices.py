"""The member list's filters and sorts (issue 11), each served by an index that leads with the
church, built CONCURRENTLY on PostgreSQL:

- member_church_status_name_idx (church, status, last_name, first_name, id): one status in
  name order (`?status=visitor`), read in index order and sought by the keyset cursor; it also
  serves what member_church_status_idx (church, status) did, which it replaces.
- member_church_joined_id_idx (church, joined_on, id): `?sort=joined` / `-joined` with the id as
  the keyset's tiebreak (no sort of equal dates), and the 30-day count; it replaces
  member_church_joined_idx (church, joined_on), its prefix.

The new index is built before the old one is dropped, so no query is left without one.
"""

from django.db import migrations, models

from members.migration_operations import AddIndexConcurrentlyOnPostgres, RemoveIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("members", "0007_church_settings_and_group_meetings"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="member",
            index=models.Index(fields=["church", "status", "last_name", "first_name", "id"],
                               name="member_church_status_name_idx"),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="member", name="member_church_status_idx"),
        AddIndexConcurrentlyOnPostgres(
            model_name="member",
            index=models.Index(fields=["church", "joined_on", "id"], name="member_church_joined_id_idx"),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="member", name="member_church_joined_idx"),
    ]
