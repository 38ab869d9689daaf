"""`manage.py rebuild_tallies [--church SLUG] [--check]`: the counters of members/tallies.py.

The services keep the counters exact; this is the operator's check and repair after writes
that went around them (SQL by hand, a restore of one table). `--check` only compares the
counters with the rows and exits with status 1 when any differ; without it every church (or
the one named) is recounted, each in its own transaction.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from members import tallies
from members.models import Church

from ._output import table


class Command(BaseCommand):
    help = "Check (--check) or rebuild the per-church counters (member tallies, group sizes, attendance days)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--church", help="only this church (its slug)")
        parser.add_argument("--check", action="store_true", help="compare only; exit 1 when a counter is off")

    def handle(self, *args, **opts) -> None:
        churches = Church.objects.order_by("slug")
        if opts["church"]:
            churches = churches.filter(slug=opts["church"])
            if not churches.exists():
                raise CommandError(f"No church with the slug {opts['church']!r}.")
        if opts["check"]:
            rows, off = [], 0
            for church in churches:
                found = tallies.drift(church.id)
                if any(found.values()):
                    off += 1
                    rows.append((church.slug, found["member_buckets"], found["group_sizes"], found["attendance_days"]))
            if rows:
                self.stdout.write(table(("church", "member buckets off", "group sizes off", "attendance days off"),
                                        rows, right=(1, 2, 3)))
                raise CommandError(f"{off} church(es) have counters that differ from their rows; "
                                   "run `manage.py rebuild_tallies` to recount them.", returncode=1)
            self.stdout.write(f"All counters match the rows ({churches.count():,} churches checked).")
            return
        started = time.monotonic()
        count = 0
        for church_id in churches.values_list("id", flat=True):
            tallies.rebuild_church(church_id)
            count += 1
        self.stdout.write(f"Recounted {count:,} churches in {time.monotonic() - started:.1f}s.")
