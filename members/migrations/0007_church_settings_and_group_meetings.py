"""Each church's time zone, phone region and service day; each group's meeting day, time and
place (issue 11).

SQLite rebuilds members_group to add a NOT NULL column. Two things follow, both SQLite only:
the rename at the end of the rebuild runs with `legacy_alter_table` on, since otherwise SQLite
re-checks the triggers of other tables that name members_group (memberships, attendance: 0006,
attendance/0005) while the table is briefly gone, and refuses; and the table's own trigger
from 0006 (a group with members cannot move to another church), dropped with the old table, is
made again right after.
"""

from django.db import migrations, models

import members.models
import members.validators
from members.migration_operations import RunSQLPerVendor


GROUP_TRIGGER_SQLITE = """CREATE TRIGGER group_keeps_church_of_memberships BEFORE UPDATE OF church_id ON members_group
WHEN OLD.church_id IS NOT NEW.church_id AND EXISTS (
  SELECT 1 FROM members_membership m JOIN members_member p ON p.id = m.member_id
  WHERE m.group_id = NEW.id AND p.church_id <> NEW.church_id)
BEGIN SELECT RAISE(ABORT, 'a group with members of its church cannot move to another church'); END"""

WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"), (5, "Saturday"),
            (6, "Sunday")]


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0006_one_church_and_case_insensitive_emails"),
    ]

    operations = [
        RunSQLPerVendor(sql={"sqlite": ["PRAGMA legacy_alter_table = ON"]},
                        reverse_sql={"sqlite": ["PRAGMA legacy_alter_table = OFF"]}),
        migrations.AddField(
            model_name="church", name="time_zone",
            field=models.CharField(
                default=members.models.default_time_zone, max_length=64,
                validators=[members.validators.validate_time_zone],
                help_text="The IANA time zone of the church, e.g. America/Chicago: dates and times are shown in it.",
            ),
        ),
        migrations.AddField(
            model_name="church", name="phone_region",
            field=models.CharField(
                default=members.models.default_phone_region, max_length=2,
                validators=[members.validators.validate_phone_region],
                help_text="Two-letter country code (US, GB, ...) for phone numbers typed without +country code; "
                          "numbers of this country are shown in its national format.",
            ),
        ),
        migrations.AddField(
            model_name="church", name="service_day",
            field=models.PositiveSmallIntegerField(
                choices=WEEKDAYS, default=6,
                help_text="The day of the main service: attendance opens on the most recent one.",
            ),
        ),
        migrations.AddField(
            model_name="group", name="meeting_day",
            field=models.PositiveSmallIntegerField(blank=True, choices=WEEKDAYS, null=True),
        ),
        migrations.AddField(
            model_name="group", name="meeting_time",
            field=models.TimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="group", name="meeting_place",
            field=models.CharField(blank=True, max_length=200, validators=[members.validators.validate_plain_text]),
        ),
        migrations.AlterField(
            model_name="member", name="phone",
            field=models.CharField(
                blank=True, max_length=16, validators=[members.validators.validate_e164],
                help_text="Stored in E.164, e.g. +18085551234 (forms accept it as people type it)",
            ),
        ),
        RunSQLPerVendor(
            sql={"sqlite": ["DROP TRIGGER IF EXISTS group_keeps_church_of_memberships", GROUP_TRIGGER_SQLITE,
                            "PRAGMA legacy_alter_table = OFF"]},
            reverse_sql={"sqlite": ["PRAGMA legacy_alter_table = ON",
                                    "DROP TRIGGER IF EXISTS group_keeps_church_of_memberships",
                                    GROUP_TRIGGER_SQLITE]},
        ),
    ]
