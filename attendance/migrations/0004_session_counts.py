"""Headcounts per session (attendance/tallies.py): what the recent-sessions list reads instead
of counting every record of its sessions. The backfill counts every church's records; from
then on the services keep the rows exact. Reversible: going back drops the table.
"""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    from attendance.tallies import rebuild_sessions

    for church_id in apps.get_model("members", "Church").objects.values_list("id", flat=True):
        rebuild_sessions(church_id, apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ('attendance', '0003_attendance_days'),
        ('members', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='SessionCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('date', models.DateField()),
                ('present', models.IntegerField(default=0)),
                ('church', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='members.church')),
                ('group', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='members.group')),
            ],
            options={
                'indexes': [models.Index(fields=['church', 'date', 'group'], name='sessioncount_church_date_group')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('group__isnull', True)), fields=('church', 'date'), name='sessioncount_unique_service'), models.UniqueConstraint(condition=models.Q(('group__isnull', False)), fields=('church', 'date', 'group'), name='sessioncount_unique_group')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
