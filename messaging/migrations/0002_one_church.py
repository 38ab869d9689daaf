"""One church per message and per delivery, in the database too (as members/0006 and
attendance/0005 do for memberships and attendance):

- a delivery's church is its message's church and its member's (insert or update);
- a message's group is of the message's church (insert or update);
- a member with deliveries, or a group with messages, cannot move to another church.

On PostgreSQL inserts are checked per statement (one join over the new rows: a 10,000-recipient
confirm's COPY pays one join), updates per row but only when a link changes (a delivery changes
state many times, its links never). On SQLite, per row. The staff accounts a message names
(`created_by`, `cancelled_by`) are checked by `Message.clean()` only: a staff account moved to
another church keeps its history of texts with the church they were sent for.
"""

from django.db import migrations

from members.migration_operations import RunSQLPerVendor

_DELIVERY_MISMATCH = """SELECT 1 FROM {rows} n JOIN messaging_message m ON m.id = n.message_id
             LEFT JOIN members_member p ON p.id = n.member_id
             WHERE m.church_id <> n.church_id OR p.church_id <> n.church_id"""
_MESSAGE_MISMATCH = """SELECT 1 FROM {rows} n JOIN members_group g ON g.id = n.group_id
             WHERE g.church_id <> n.church_id"""


def _pg_check(name: str, mismatch: str, rows: str, what: str, returns: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS ({mismatch.format(rows=rows)}) THEN
    RAISE EXCEPTION '{what}' USING ERRCODE = 'check_violation';
  END IF;
  RETURN {returns};
END $$"""


DELIVERY_WHAT = "a delivery must belong to the church of its message and of its member"
MESSAGE_WHAT = "a message must be sent to a group of its own church"
PG = [
    _pg_check("flock_delivery_one_church", _DELIVERY_MISMATCH, "new_rows", DELIVERY_WHAT, "NULL"),
    _pg_check("flock_delivery_one_church_row", _DELIVERY_MISMATCH, "(SELECT NEW.*) AS", DELIVERY_WHAT, "NEW"),
    _pg_check("flock_message_one_church", _MESSAGE_MISMATCH, "new_rows", MESSAGE_WHAT, "NULL"),
    _pg_check("flock_message_one_church_row", _MESSAGE_MISMATCH, "(SELECT NEW.*) AS", MESSAGE_WHAT, "NEW"),
    """CREATE OR REPLACE FUNCTION flock_member_keeps_church_of_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM messaging_delivery d WHERE d.member_id = NEW.id AND d.church_id <> NEW.church_id) THEN
    RAISE EXCEPTION 'member % has texts of its church: it cannot move to another church', NEW.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$""",
    """CREATE OR REPLACE FUNCTION flock_group_keeps_church_of_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM messaging_message m WHERE m.group_id = NEW.id AND m.church_id <> NEW.church_id) THEN
    RAISE EXCEPTION 'group % has texts of its church: it cannot move to another church', NEW.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$""",
    """CREATE TRIGGER delivery_one_church AFTER INSERT ON messaging_delivery
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION flock_delivery_one_church()""",
    """CREATE TRIGGER delivery_one_church_update BEFORE UPDATE OF church_id, message_id, member_id ON messaging_delivery
FOR EACH ROW WHEN (OLD.church_id IS DISTINCT FROM NEW.church_id OR OLD.message_id IS DISTINCT FROM NEW.message_id
                   OR OLD.member_id IS DISTINCT FROM NEW.member_id)
EXECUTE FUNCTION flock_delivery_one_church_row()""",
    """CREATE TRIGGER message_one_church AFTER INSERT ON messaging_message
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION flock_message_one_church()""",
    """CREATE TRIGGER message_one_church_update BEFORE UPDATE OF church_id, group_id ON messaging_message
FOR EACH ROW WHEN (OLD.church_id IS DISTINCT FROM NEW.church_id OR OLD.group_id IS DISTINCT FROM NEW.group_id)
EXECUTE FUNCTION flock_message_one_church_row()""",
    """CREATE TRIGGER member_keeps_church_of_deliveries BEFORE UPDATE OF church_id ON members_member
FOR EACH ROW WHEN (OLD.church_id IS DISTINCT FROM NEW.church_id) EXECUTE FUNCTION flock_member_keeps_church_of_deliveries()""",
    """CREATE TRIGGER group_keeps_church_of_messages BEFORE UPDATE OF church_id ON members_group
FOR EACH ROW WHEN (OLD.church_id IS DISTINCT FROM NEW.church_id) EXECUTE FUNCTION flock_group_keeps_church_of_messages()""",
]
PG_REVERSE = [
    "DROP TRIGGER IF EXISTS delivery_one_church ON messaging_delivery",
    "DROP TRIGGER IF EXISTS delivery_one_church_update ON messaging_delivery",
    "DROP TRIGGER IF EXISTS message_one_church ON messaging_message",
    "DROP TRIGGER IF EXISTS message_one_church_update ON messaging_message",
    "DROP TRIGGER IF EXISTS member_keeps_church_of_deliveries ON members_member",
    "DROP TRIGGER IF EXISTS group_keeps_church_of_messages ON members_group",
    *(f"DROP FUNCTION IF EXISTS {name}()" for name in (
        "flock_delivery_one_church", "flock_delivery_one_church_row", "flock_message_one_church",
        "flock_message_one_church_row", "flock_member_keeps_church_of_deliveries",
        "flock_group_keeps_church_of_messages")),
]

_SQLITE_DELIVERY = ("(SELECT church_id FROM messaging_message WHERE id = NEW.message_id) IS NOT NEW.church_id "
                    "OR (NEW.member_id IS NOT NULL AND "
                    "(SELECT church_id FROM members_member WHERE id = NEW.member_id) IS NOT NEW.church_id)")
_SQLITE_MESSAGE = ("NEW.group_id IS NOT NULL AND "
                   "(SELECT church_id FROM members_group WHERE id = NEW.group_id) IS NOT NEW.church_id")
SQLITE = [
    f"""CREATE TRIGGER delivery_one_church_insert BEFORE INSERT ON messaging_delivery WHEN {_SQLITE_DELIVERY}
BEGIN SELECT RAISE(ABORT, '{DELIVERY_WHAT}'); END""",
    f"""CREATE TRIGGER delivery_one_church_update BEFORE UPDATE OF church_id, message_id, member_id ON messaging_delivery
WHEN {_SQLITE_DELIVERY}
BEGIN SELECT RAISE(ABORT, '{DELIVERY_WHAT}'); END""",
    f"""CREATE TRIGGER message_one_church_insert BEFORE INSERT ON messaging_message WHEN {_SQLITE_MESSAGE}
BEGIN SELECT RAISE(ABORT, '{MESSAGE_WHAT}'); END""",
    f"""CREATE TRIGGER message_one_church_update BEFORE UPDATE OF church_id, group_id ON messaging_message
WHEN {_SQLITE_MESSAGE}
BEGIN SELECT RAISE(ABORT, '{MESSAGE_WHAT}'); END""",
    """CREATE TRIGGER member_keeps_church_of_deliveries BEFORE UPDATE OF church_id ON members_member
WHEN OLD.church_id IS NOT NEW.church_id AND EXISTS (
  SELECT 1 FROM messaging_delivery d WHERE d.member_id = NEW.id AND d.church_id <> NEW.church_id)
BEGIN SELECT RAISE(ABORT, 'a member with texts of its church cannot move to another church'); END""",
    """CREATE TRIGGER group_keeps_church_of_messages BEFORE UPDATE OF church_id ON members_group
WHEN OLD.church_id IS NOT NEW.church_id AND EXISTS (
  SELECT 1 FROM messaging_message m WHERE m.group_id = NEW.id AND m.church_id <> NEW.church_id)
BEGIN SELECT RAISE(ABORT, 'a group with texts of its church cannot move to another church'); END""",
]
SQLITE_REVERSE = [f"DROP TRIGGER IF EXISTS {name}" for name in (
    "delivery_one_church_insert", "delivery_one_church_update", "message_one_church_insert",
    "message_one_church_update", "member_keeps_church_of_deliveries", "group_keeps_church_of_messages")]


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0001_initial"),
        # After 0007: it rebuilds members_group on SQLite, which would drop a trigger made before it.
        ("members", "0007_church_settings_and_group_meetings"),
    ]

    operations = [
        RunSQLPerVendor(sql={"postgresql": PG, "sqlite": SQLITE},
                        reverse_sql={"postgresql": PG_REVERSE, "sqlite": SQLITE_REVERSE}),
    ]
