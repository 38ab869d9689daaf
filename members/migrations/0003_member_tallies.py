"""Member tallies and group sizes (members/tallies.py): what the dashboard, the directory's total
and the group pages read instead of aggregating every member and membership of a church.

The backfill counts every church from its rows (members.tallies.rebuild_members, with the
historical models); from then on the services keep the counters exact. Reversible: going back
drops the table and the column.
"""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    from members.tallies import rebuild_members

    for church_id in apps.get_model("members", "Church").objects.values_list("id", flat=True):
        rebuild_members(church_id, apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0002_add_critical_indices'),
    ]

    operations = [
        migrations.AddField(
            model_name='group',
            name='member_count',
            field=models.PositiveIntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.CreateModel(
            name='MemberTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('visitor', 'Visitor'), ('regular', 'Regular attender'), ('member', 'Member'), ('inactive', 'Inactive')], max_length=10)),
                ('joined_month', models.DateField(help_text='The first day of the month the members joined in.')),
                ('in_group', models.BooleanField(help_text='Whether these members are in at least one current group.')),
                ('total', models.IntegerField(default=0)),
                ('church', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='members.church')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('church', 'status', 'joined_month', 'in_group'), name='membertally_unique_bucket')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
