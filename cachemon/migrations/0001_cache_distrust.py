"""The cache distrust watermark (cachemon.distrust): its one row, at 0 (nothing distrusted), so
that raising it is one UPDATE."""

from django.db import migrations, models


def make_the_row(apps, schema_editor) -> None:
    apps.get_model("cachemon", "CacheDistrust").objects.get_or_create(pk=1, defaults={"until": 0.0})


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="CacheDistrust",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("until", models.FloatField(default=0.0)),
            ],
            options={"verbose_name": "cache distrust watermark"},
        ),
        migrations.RunPython(make_the_row, migrations.RunPython.noop),
    ]
