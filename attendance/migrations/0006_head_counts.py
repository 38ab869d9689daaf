"""Head-count-only attendance for a service (issue 11): HeadCount rows, and the day's and the
session's counters gain `counted` (the head count), which the figures combine with the people
named. Existing churches have no head counts: the new columns start at 0, exact as they are."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("attendance", "0005_one_church"),
        ("members", "0007_church_settings_and_group_meetings"),
    ]

    operations = [
        migrations.CreateModel(
            name="HeadCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("date", models.DateField()),
                ("present", models.PositiveIntegerField()),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("church", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                             related_name="+", to="members.church")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("church", "date"), name="headcount_unique_date")],
            },
        ),
        migrations.AddField(model_name="attendanceday", name="counted", field=models.IntegerField(default=0)),
        migrations.AddField(model_name="sessioncount", name="counted", field=models.IntegerField(default=0)),
    ]
