"""One church per attendance record, enforced by the database (PostgreSQL and SQLite triggers).

An attendance record's member, and its group when it has one, must be of the record's church
(insert or update); a member or group cannot move to another church while attendance records
of its own church point to it. On PostgreSQL the records are checked per statement (one
join over the statement's new rows: a bulk save costs a join, not a function call per row),
on SQLite per row; a member or group update that keeps its church costs nothing. The model layer checks the same (`Attendance.clean`, which the
admin calls). Reversible.
"""

from django.db import migrations

from members.migration_operations import RunSQLPerVendor

# Row checks per statement, set-based: a checklist save of 1,000 records is one join, not
# 1,000 function calls (docs/bench/tenant-triggers.md). PostgreSQL allows transition tables
# only on single-event triggers without a column list, hence one trigger per event.
_PG_CHECK = """
  IF EXISTS (SELECT 1 FROM new_rows n JOIN members_member m ON m.id = n.member_id WHERE m.church_id <> n.church_id)
     OR EXISTS (SELECT 1 FROM new_rows n JOIN members_group g ON g.id = n.group_id WHERE g.church_id <> n.church_id) THEN
    RAISE EXCEPTION 'an attendance record''s member and group must be of its church'
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;"""
PG = [
    f"""CREATE OR REPLACE FUNCTION flock_attendance_one_church() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{_PG_CHECK}
END $$""",
    """CREATE OR REPLACE FUNCTION flock_keeps_church_of_attendance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (TG_TABLE_NAME = 'members_member'
      AND EXISTS (SELECT 1 FROM attendance_attendance a WHERE a.member_id = NEW.id AND a.church_id <> NEW.church_id))
     OR (TG_TABLE_NAME = 'members_group'
      AND EXISTS (SELECT 1 FROM attendance_attendance a WHERE a.group_id = NEW.id AND a.church_id <> NEW.church_id)) THEN
    RAISE EXCEPTION '% % has attendance records of its church: it cannot move to another church',
      TG_TABLE_NAME, NEW.id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$""",
    """CREATE TRIGGER attendance_one_church AFTER INSERT ON attendance_attendance
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION flock_attendance_one_church()""",
    """CREATE TRIGGER attendance_one_church_update AFTER UPDATE ON attendance_attendance
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION flock_attendance_one_church()""",
    """CREATE TRIGGER member_keeps_church_of_attendance BEFORE UPDATE OF church_id ON members_member
FOR EACH ROW WHEN (OLD.church_id IS DISTINCT FROM NEW.church_id) EXECUTE FUNCTION flock_keeps_church_of_attendance()""",
    """CREATE TRIGGER group_keeps_church_of_attendance BEFORE UPDATE OF church_id ON members_group
FOR EACH ROW WHEN (OLD.church_id IS DISTINCT FROM NEW.church_id) EXECUTE FUNCTION flock_keeps_church_of_attendance()""",
]
PG_REVERSE = [
    "DROP TRIGGER IF EXISTS attendance_one_church ON attendance_attendance",
    "DROP TRIGGER IF EXISTS attendance_one_church_update ON attendance_attendance",
    "DROP TRIGGER IF EXISTS member_keeps_church_of_attendance ON members_member",
    "DROP TRIGGER IF EXISTS group_keeps_church_of_attendance ON members_group",
    "DROP FUNCTION IF EXISTS flock_attendance_one_church()",
    "DROP FUNCTION IF EXISTS flock_keeps_church_of_attendance()",
]
_SQLITE_MISMATCH = (
    "(SELECT church_id FROM members_member WHERE id = NEW.member_id) IS NOT NEW.church_id "
    "OR (NEW.group_id IS NOT NULL AND (SELECT church_id FROM members_group WHERE id = NEW.group_id) IS NOT NEW.church_id)"
)
_SQLITE_MESSAGE = "an attendance record's member and group must be of its church"
SQLITE = [
    f"""CREATE TRIGGER attendance_one_church_insert BEFORE INSERT ON attendance_attendance WHEN {_SQLITE_MISMATCH}
BEGIN SELECT RAISE(ABORT, "{_SQLITE_MESSAGE}"); END""",
    f"""CREATE TRIGGER attendance_one_church_update BEFORE UPDATE OF church_id, member_id, group_id
ON attendance_attendance WHEN {_SQLITE_MISMATCH}
BEGIN SELECT RAISE(ABORT, "{_SQLITE_MESSAGE}"); END""",
    """CREATE TRIGGER member_keeps_church_of_attendance BEFORE UPDATE OF church_id ON members_member
WHEN OLD.church_id IS NOT NEW.church_id AND EXISTS (
  SELECT 1 FROM attendance_attendance a WHERE a.member_id = NEW.id AND a.church_id <> NEW.church_id)
BEGIN SELECT RAISE(ABORT, 'a member with attendance records of its church cannot move to another church'); END""",
    """CREATE TRIGGER group_keeps_church_of_attendance BEFORE UPDATE OF church_id ON members_group
WHEN OLD.church_id IS NOT NEW.church_id AND EXISTS (
  SELECT 1 FROM attendance_attendance a WHERE a.group_id = NEW.id AND a.church_id <> NEW.church_id)
BEGIN SELECT RAISE(ABORT, 'a group with attendance records of its church cannot move to another church'); END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS attendance_one_church_insert",
    "DROP TRIGGER IF EXISTS attendance_one_church_update",
    "DROP TRIGGER IF EXISTS member_keeps_church_of_attendance",
    "DROP TRIGGER IF EXISTS group_keeps_church_of_attendance",
]


class Migration(migrations.Migration):
    dependencies = [
        ("attendance", "0004_session_counts"),
        ("members", "0006_one_church_and_case_insensitive_emails"),
    ]

    operations = [
        RunSQLPerVendor(sql={"postgresql": PG, "sqlite": SQLITE}, reverse_sql={"postgresql": PG_REVERSE, "sqlite": SQLITE_REVERSE}),
    ]
