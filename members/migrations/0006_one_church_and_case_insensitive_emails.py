"""One church per membership, emails unique per church whatever their case, plain-text names.

- `member_unique_email_ci_per_church`: UNIQUE (church_id, LOWER(email)) WHERE email <> '',
  built CONCURRENTLY on PostgreSQL (writes go on meanwhile), then the case-sensitive
  `member_unique_email_per_church` it replaces is dropped CONCURRENTLY. Emails that differ only
  by case within a church stop the migration first, listed, before anything is built.
- Triggers (PostgreSQL and SQLite): a membership must join a group and a member of the same
  church (insert or update), and a member or group cannot move to another church while
  memberships tie it to its own. On PostgreSQL memberships are checked per statement (one
  join over its new rows), on SQLite per row; nothing on a member or group update that keeps
  its church (docs/bench/tenant-triggers.md). (attendance/0005 does the same
  for attendance records.)
- Names refuse control characters and bidirectional overrides; a group's description is at most
  2,000 characters (validators: no SQL, except that SQLite rebuilds members_group for the new
  max_length, before its triggers are made, since a rebuild would drop them).

`atomic = False` for CONCURRENTLY; reversible.
"""

from django.db import migrations, models
from django.db.models import F, Q
from django.db.models.functions import Lower

import django.core.validators
import members.validators
from members.migration_operations import (
    AddConstraintConcurrentlyOnPostgres, RemoveConstraintConcurrentlyOnPostgres, RunSQLPerVendor,
)

# Memberships are checked per statement on PostgreSQL, set-based (one join over the statement's
# new rows; transition tables need single-event triggers without a column list).
PG_FUNCTIONS = [
    """CREATE OR REPLACE FUNCTION flock_membership_one_church() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows n JOIN members_group g ON g.id = n.group_id
             JOIN members_member m ON m.id = n.member_id WHERE g.church_id <> m.church_id) THEN
    RAISE EXCEPTION 'a membership must join a group and a member of the same church'
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$""",
    """CREATE OR REPLACE FUNCTION flock_member_keeps_church_of_memberships() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM members_membership m JOIN members_group g ON g.id = m.group_id
             WHERE m.member_id = NEW.id AND g.church_id <> NEW.church_id) THEN
    RAISE EXCEPTION 'member % is in groups of its church: it cannot move to another church', NEW.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$""",
    """CREATE OR REPLACE FUNCTION flock_group_keeps_church_of_memberships() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM members_membership m JOIN members_member p ON p.id = m.member_id
             WHERE m.group_id = NEW.id AND p.church_id <> NEW.church_id) THEN
    RAISE EXCEPTION 'group % has members of its church: it cannot move to another church', NEW.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$""",
    """CREATE TRIGGER membership_one_church AFTER INSERT ON members_membership
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION flock_membership_one_church()""",
    """CREATE TRIGGER membership_one_church_update AFTER UPDATE ON members_membership
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION flock_membership_one_church()""",
    """CREATE TRIGGER member_keeps_church_of_memberships BEFORE UPDATE OF church_id ON members_member
FOR EACH ROW WHEN (OLD.church_id IS DISTINCT FROM NEW.church_id) EXECUTE FUNCTION flock_member_keeps_church_of_memberships()""",
    """CREATE TRIGGER group_keeps_church_of_memberships BEFORE UPDATE OF church_id ON members_group
FOR EACH ROW WHEN (OLD.church_id IS DISTINCT FROM NEW.church_id) EXECUTE FUNCTION flock_group_keeps_church_of_memberships()""",
]
PG_REVERSE = [
    "DROP TRIGGER IF EXISTS membership_one_church ON members_membership",
    "DROP TRIGGER IF EXISTS membership_one_church_update ON members_membership",
    "DROP TRIGGER IF EXISTS member_keeps_church_of_memberships ON members_member",
    "DROP TRIGGER IF EXISTS group_keeps_church_of_memberships ON members_group",
    "DROP FUNCTION IF EXISTS flock_membership_one_church()",
    "DROP FUNCTION IF EXISTS flock_member_keeps_church_of_memberships()",
    "DROP FUNCTION IF EXISTS flock_group_keeps_church_of_memberships()",
]
_SQLITE_MEMBERSHIP_MISMATCH = (
    "(SELECT church_id FROM members_group WHERE id = NEW.group_id) "
    "IS NOT (SELECT church_id FROM members_member WHERE id = NEW.member_id)"
)
SQLITE = [
    f"""CREATE TRIGGER membership_one_church_insert BEFORE INSERT ON members_membership
WHEN {_SQLITE_MEMBERSHIP_MISMATCH}
BEGIN SELECT RAISE(ABORT, 'a membership must join a group and a member of the same church'); END""",
    f"""CREATE TRIGGER membership_one_church_update BEFORE UPDATE OF group_id, member_id ON members_membership
WHEN {_SQLITE_MEMBERSHIP_MISMATCH}
BEGIN SELECT RAISE(ABORT, 'a membership must join a group and a member of the same church'); END""",
    """CREATE TRIGGER member_keeps_church_of_memberships BEFORE UPDATE OF church_id ON members_member
WHEN OLD.church_id IS NOT NEW.church_id AND EXISTS (
  SELECT 1 FROM members_membership m JOIN members_group g ON g.id = m.group_id
  WHERE m.member_id = NEW.id AND g.church_id <> NEW.church_id)
BEGIN SELECT RAISE(ABORT, 'a member in groups of its church cannot move to another church'); END""",
    """CREATE TRIGGER group_keeps_church_of_memberships BEFORE UPDATE OF church_id ON members_group
WHEN OLD.church_id IS NOT NEW.church_id AND EXISTS (
  SELECT 1 FROM members_membership m JOIN members_member p ON p.id = m.member_id
  WHERE m.group_id = NEW.id AND p.church_id <> NEW.church_id)
BEGIN SELECT RAISE(ABORT, 'a group with members of its church cannot move to another church'); END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS membership_one_church_insert",
    "DROP TRIGGER IF EXISTS membership_one_church_update",
    "DROP TRIGGER IF EXISTS member_keeps_church_of_memberships",
    "DROP TRIGGER IF EXISTS group_keeps_church_of_memberships",
]


def refuse_case_duplicates(apps, schema_editor) -> None:
    """Stop before building the index when a church has emails differing only by case."""
    Member = apps.get_model("members", "Member")
    dupes = list(
        Member.objects.exclude(email="").annotate(email_ci=Lower("email")).values("church_id", "email_ci")
        .annotate(n=models.Count("id")).filter(n__gt=1).order_by("church_id", "email_ci")[:20]
    )
    if dupes:
        listed = "; ".join(f"church {d['church_id']}: {d['email_ci']} ({d['n']} members)" for d in dupes)
        raise RuntimeError(
            "Emails must be unique per church whatever their case, and these are not: "
            f"{listed}. Merge or change those members' emails, then migrate again."
        )


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("members", "0005_phone_search_trigram_by_church"),
    ]

    operations = [
        migrations.RunPython(refuse_case_duplicates, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="church", name="name",
            field=models.CharField(max_length=200, validators=[members.validators.validate_plain_text]),
        ),
        migrations.AlterField(
            model_name="group", name="description",
            field=models.TextField(blank=True, max_length=2000, validators=[
                django.core.validators.MaxLengthValidator(2000), members.validators.validate_multiline_text]),
        ),
        migrations.AlterField(
            model_name="group", name="name",
            field=models.CharField(max_length=120, validators=[members.validators.validate_plain_text]),
        ),
        migrations.AlterField(
            model_name="member", name="first_name",
            field=models.CharField(max_length=100, validators=[members.validators.validate_plain_text]),
        ),
        migrations.AlterField(
            model_name="member", name="last_name",
            field=models.CharField(max_length=100, validators=[members.validators.validate_plain_text]),
        ),
        AddConstraintConcurrentlyOnPostgres(
            model_name="member",
            constraint=models.UniqueConstraint(
                F("church"), Lower("email"), condition=~Q(email=""), name="member_unique_email_ci_per_church",
                violation_error_message="A member of this church already has this email address.",
            ),
        ),
        RemoveConstraintConcurrentlyOnPostgres(model_name="member", name="member_unique_email_per_church"),
        RunSQLPerVendor(sql={"postgresql": PG_FUNCTIONS, "sqlite": SQLITE},
                        reverse_sql={"postgresql": PG_REVERSE, "sqlite": SQLITE_REVERSE}),
    ]
