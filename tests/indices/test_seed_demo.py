"""`manage.py seed_demo`: the account lines contract, adding on rerun, --if-empty, realistic data."""

from __future__ import annotations

import datetime
import io
import re
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.test import TransactionTestCase, override_settings
from django.utils import timezone

from attendance.models import Attendance, AttendanceDay, SessionCount
from members.management.commands import seed_demo
from members.models import Church, Group, Member, MemberTally, Membership, User
from members.validators import E164
from tests.base import FlockTestCase

ACCOUNT_LINE = re.compile(r"^account: (?P<username>\S+) password: (?P<password>\S+) church: (?P<church>\S+) role: (?P<role>staff|admin)$")


# The seeder hashes the demo password once per run; PBKDF2 would make these tests slow for nothing.
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class SeedDemoTestCase(FlockTestCase):
    def seed(self, *args: str) -> tuple[list[re.Match], str]:
        out, err = io.StringIO(), io.StringIO()
        call_command("seed_demo", *args, stdout=out, stderr=err)
        lines = [line for line in out.getvalue().splitlines() if line.startswith("account:")]
        matches = [ACCOUNT_LINE.match(line) for line in lines]
        self.assertTrue(all(matches), f"malformed account lines: {lines}")
        return matches, err.getvalue()

    def test_it_prints_one_line_per_account_it_makes(self):
        before = set(User.objects.values_list("username", flat=True))
        accounts, _ = self.seed("--churches", "2", "--members", "40", "--password", "s3cret-demo", "--seed", "1")

        made = set(User.objects.values_list("username", flat=True)) - before
        self.assertEqual({m["username"] for m in accounts}, made)
        self.assertEqual(len(accounts), len(made))
        self.assertEqual([m["role"] for m in accounts].count("admin"), 1)
        self.assertEqual([m["role"] for m in accounts].count("staff"), 2)
        for m in accounts:
            user = User.objects.get(username=m["username"])
            self.assertEqual(m["password"], "s3cret-demo")
            self.assertTrue(user.check_password("s3cret-demo"))
            if m["role"] == "admin":
                self.assertEqual(m["church"], "-")
                self.assertTrue(user.is_staff and user.is_superuser)
                self.assertIsNone(user.church_id)
            else:
                self.assertEqual(user.church.slug, m["church"])
                self.assertFalse(user.is_staff)

    def test_it_adds_to_what_is_there_when_run_twice(self):
        first, _ = self.seed("--members", "30", "--seed", "7")
        second, _ = self.seed("--members", "30", "--seed", "7")

        self.assertEqual(Church.objects.count(), 2 + 2 + 2)  # grace and hope, then two per run
        self.assertEqual(Member.objects.count(), 60)
        usernames = [m["username"] for m in first + second]
        self.assertEqual(len(usernames), len(set(usernames)))
        self.assertEqual(len({m["church"] for m in first + second if m["role"] == "staff"}), 4)

    def test_it_counts_what_it_seeds_exactly(self):
        # The counters are counted from the generated rows, not read back: they must equal a
        # recount of the tables (groups archived or not, services and group meetings).
        self.seed("--churches", "3", "--members", "900", "--seed", "5", "--weeks", "6")
        call_command("rebuild_tallies", "--check", stdout=io.StringIO())  # raises when a counter is off
        self.assertTrue(MemberTally.objects.exists())
        self.assertTrue(AttendanceDay.objects.exists() and SessionCount.objects.filter(group__isnull=False).exists())

    def test_it_is_reproducible_with_a_seed(self):
        self.seed("--churches", "1", "--members", "25", "--seed", "42")
        self.seed("--churches", "1", "--members", "25", "--seed", "42")
        first, second = Church.objects.exclude(slug__in=["grace", "hope"]).order_by("id")

        def people(church):
            return list(Member.objects.filter(church=church).order_by("id")
                        .values_list("first_name", "last_name", "status", "joined_on"))

        self.assertEqual(people(first), people(second))
        self.assertNotEqual(first.slug, second.slug)

    def test_it_seeds_nothing_with_if_empty_when_a_church_exists(self):
        accounts, err = self.seed("--if-empty")

        self.assertEqual(accounts, [])
        self.assertIn("nothing seeded", err)
        self.assertEqual(Church.objects.count(), 2)

    def test_it_seeds_an_empty_database_with_if_empty(self):
        User.objects.all().delete()
        Church.objects.all().delete()

        accounts, _ = self.seed("--if-empty", "--members", "20", "--seed", "3")

        self.assertEqual(Church.objects.count(), 2)
        self.assertEqual(len(accounts), 3)

    def test_it_makes_realistic_data(self):
        self.seed("--churches", "2", "--members", "400", "--seed", "5")
        churches = Church.objects.exclude(slug__in=["grace", "hope"])
        members = Member.objects.filter(church__in=churches)

        self.assertEqual(members.count(), 400)
        self.assertEqual(set(members.values_list("status", flat=True)), {"visitor", "regular", "member", "inactive"})
        for church in churches:
            self.assertTrue(Member.objects.filter(church=church).exists())
            emails = list(Member.objects.filter(church=church).exclude(email="").values_list("email", flat=True))
            self.assertEqual(len(emails), len(set(emails)))
        for phone in members.exclude(phone="").values_list("phone", flat=True):
            self.assertRegex(phone, E164)
        for member in members[:50]:
            member.full_clean()
        joined = members.values_list("joined_on", flat=True)
        self.assertGreater((max(joined) - min(joined)).days, 365 * 2)

        groups = Group.objects.filter(church__in=churches)
        self.assertGreater(groups.values("kind").distinct().count(), 2)
        self.assertTrue(Membership.objects.filter(group__in=groups, role="leader").exists())
        sizes = [g["n"] for g in groups.annotate(n=Count("memberships")).values("n")]
        self.assertGreater(max(sizes), min(sizes))
        # Not everyone is in a group: the dashboard's "in no group" figure has something to count.
        self.assertTrue(members.filter(memberships__isnull=True).exists())

        services = Attendance.objects.filter(church__in=churches, group__isnull=True)
        self.assertGreater(services.values("date").distinct().count(), 40)
        self.assertEqual({d.weekday() for d in services.values_list("date", flat=True).distinct()}, {6})
        self.assertTrue(Attendance.objects.filter(church__in=churches, group__isnull=False).exists())
        for record in Attendance.objects.filter(church__in=churches).select_related("member")[:500]:
            self.assertGreaterEqual(record.date, record.member.joined_on)
            self.assertEqual(record.church_id, record.member.church_id)
        # Members come more often than visitors.
        rate = {
            status: services.filter(member__status=status).count() / max(1, members.filter(status=status).count())
            for status in ("member", "visitor")
        }
        self.assertGreater(rate["member"], rate["visitor"])

    def test_it_rejects_nonsense_options(self):
        with self.assertRaisesMessage(CommandError, "--churches must be at least 1"):
            call_command("seed_demo", "--churches", "0", stdout=io.StringIO())
        with self.assertRaisesMessage(CommandError, "--members cannot be negative"):
            call_command("seed_demo", "--members", "-5", stdout=io.StringIO())
        self.assertEqual(Church.objects.count(), 2)

    def test_it_rejects_a_job_count_below_one(self):
        with self.assertRaisesMessage(CommandError, "--jobs must be at least 1"):
            call_command("seed_demo", "--jobs", "0", stdout=io.StringIO())

    def test_it_writes_member_rows_for_copy_as_the_generic_formatter_would(self):
        now = timezone.now()
        rows = [
            (3, "Ann", "O'Neil", "ann.oneil1@example.org", "+15552220101", "member", datetime.date(2024, 2, 29),
             None, now, now),
            (3, "Tab\there", "Back\\slash", "new\nline", "", "visitor", datetime.date(2020, 1, 1),
             datetime.date(1990, 5, 17), now, now + datetime.timedelta(seconds=5)),
        ]
        for row in rows:
            self.assertEqual(seed_demo._member_copy_line(row), seed_demo._copy_line(row))


@pytest.mark.postgres
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class ParallelSeedTestCase(TransactionTestCase):
    """Several processes seeding at once (each its own connection, committing its churches)
    make the same data as one, and counters that match it."""

    def seed(self, jobs: int) -> list[Church]:
        before = set(Church.objects.values_list("id", flat=True))
        call_command("seed_demo", "--churches", "4", "--members", "2000", "--seed", "9", "--weeks", "6",
                     "--jobs", str(jobs), stdout=io.StringIO(), stderr=io.StringIO())
        return list(Church.objects.exclude(id__in=before).order_by("id"))

    @staticmethod
    def contents(church: Church) -> dict[str, list]:
        return {
            "members": sorted(Member.objects.filter(church=church).values_list(
                "first_name", "last_name", "email", "phone", "status", "joined_on", "birth_date")),
            "groups": sorted(Group.objects.filter(church=church).values_list("name", "kind", "archived", "member_count")),
            "memberships": sorted(Membership.objects.filter(group__church=church).values_list(
                "group__name", "member__email", "member__first_name", "role", "joined_on")),
            "attendance": sorted((email, first, group or "", day) for email, first, group, day in Attendance.objects
                                 .filter(church=church).values_list("member__email", "member__first_name",
                                                                    "group__name", "date")),
        }

    def test_it_seeds_the_same_churches_with_two_processes_as_with_one(self):
        with mock.patch.object(seed_demo.Command, "_seed_in_parallel", autospec=True,
                               side_effect=seed_demo.Command._seed_in_parallel) as parallel:
            together = self.seed(jobs=2)
        self.assertEqual(parallel.call_count, 1)
        self.assertEqual(parallel.call_args.args[2], 2)
        alone = self.seed(jobs=1)

        self.assertEqual(len(together), 4)
        for a, b in zip(together, alone):
            self.assertEqual(self.contents(a), self.contents(b))
        self.assertEqual(Member.objects.count(), 4000)
        call_command("rebuild_tallies", "--check", stdout=io.StringIO())  # raises when a counter is off
