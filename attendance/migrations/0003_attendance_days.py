"""Attendance per date (attendance/tallies.py): what the dashboard's weekly attendance reads
instead of counting every record of 12 weeks. The backfill counts every church's records;
from then on the services keep the rows exact. Reversible: going back drops the table.
"""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    from attendance.tallies import rebuild_days

    for church_id in apps.get_model("members", "Church").objects.values_list("id", flat=True):
        rebuild_days(church_id, apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ('attendance', '0002_church_date_group_index'),
        ('members', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='AttendanceDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('date', models.DateField()),
                ('service', models.IntegerField(default=0)),
                ('groups', models.IntegerField(default=0)),
                ('church', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='members.church')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('church', 'date'), name='attendanceday_unique_date')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
