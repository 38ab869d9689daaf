"""The counters of members/tallies.py stay equal to a recount of the rows after every kind of
write the services make, roll back with a failed write, and hold under concurrent writers."""

from __future__ import annotations

import datetime
import io
import random
import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import TransactionTestCase

from analytics.selectors import _compute_summary
from attendance.models import AttendanceDay, SessionCount
from attendance.services import attendance_add_visitor, attendance_record, attendance_set_head_count
from members import services, tallies
from members.models import Church, Group, Member, MemberTally, Membership
from tests.base import FlockTestCase, church_day

EXACT = {"member_buckets": 0, "group_sizes": 0, "attendance_days": 0}
TODAY = church_day()


def data(first: str, *, status: str = "visitor", joined: datetime.date | None = None, email: str = "") -> dict:
    return {"first_name": first, "last_name": "Tally", "email": email, "phone": "", "status": status,
            "joined_on": joined or TODAY, "birth_date": None}


def recounted_summary(church: Church) -> dict:
    """The dashboard's figures from tallies rebuilt from the rows, without touching the stored ones."""
    from django.db import transaction

    with transaction.atomic():
        tallies.rebuild_church(church.id)
        summary = _compute_summary(church)
        transaction.set_rollback(True)
    return summary


class TalliesTestCase(FlockTestCase):
    def assertExact(self, church: Church | None = None) -> None:
        for c in [church] if church else [self.grace, self.hope]:
            self.assertEqual(tallies.drift(c.id), EXACT, f"counters of {c.slug} differ from the rows")

    def test_it_follows_every_kind_of_write(self):
        g = self.grace
        ruth = services.member_create(church=g, data=data("Ruth", status="member",
                                                          joined=TODAY - datetime.timedelta(days=400)))
        boaz = services.member_create(church=g, data=data("Boaz", email="boaz@grace.test"))
        naomi = services.member_create(church=g, data=data("Naomi", status="regular"))
        choir = services.group_create(church=g, data={"name": "Choir", "kind": "ministry"})
        youth = services.group_create(church=g, data={"name": "Youth", "kind": "small_group"})
        self.assertExact()

        # In two groups, then one archived, then out of the other: in a group until the last step.
        services.membership_add(church=g, group=choir, member_id=ruth.pk)
        services.membership_add(church=g, group=youth, member_id=ruth.pk)
        services.membership_add(church=g, group=youth, member_id=boaz.pk)
        self.assertExact()
        self.assertEqual(Group.objects.get(pk=youth.pk).member_count, 2)
        services.group_update(group=Group.objects.get(pk=youth.pk), data={"archived": True})
        self.assertExact()
        services.membership_remove(membership=Membership.objects.get(group=choir, member=ruth))
        self.assertExact()
        services.group_update(group=Group.objects.get(pk=youth.pk), data={"archived": False})
        self.assertExact()

        # Status and join month change the bucket, with or without a group.
        ruth.refresh_from_db()
        services.member_update(member=ruth, data={**data("Ruth", status="inactive"), "joined_on": TODAY})
        services.members_set_status(church=g, member_ids=[boaz.pk, naomi.pk, 10**9], status="member")
        self.assertExact()

        services.members_import_csv(church=g, file=SimpleUploadedFile(
            "people.csv", b"first_name,last_name,email,phone,status,joined_on\n"
                          b"Ada,One,ada@x.test,,member,2024-03-05\nBob,Two,bob@x.test,,,\n"))
        self.assertExact()

        attendance_record(church=g, date=TODAY, group=None, present_member_ids=[ruth.pk, boaz.pk],
                          shown_member_ids=[ruth.pk, boaz.pk, naomi.pk])
        attendance_record(church=g, date=TODAY, group=youth, present_member_ids=[ruth.pk, boaz.pk],
                          shown_member_ids=[ruth.pk, boaz.pk])
        attendance_record(church=g, date=TODAY, group=None, present_member_ids=[naomi.pk],
                          shown_member_ids=[ruth.pk, naomi.pk])  # Ruth unticked, Naomi ticked
        self.assertExact()
        day = AttendanceDay.objects.get(church=g, date=TODAY)
        self.assertEqual((day.service, day.groups), (2, 2))

        sessions = dict(SessionCount.objects.filter(church=g, date=TODAY).values_list("group_id", "present"))
        self.assertEqual(sessions, {None: 2, youth.pk: 2})

        services.member_delete(member=Member.objects.get(pk=boaz.pk))
        self.assertExact()
        self.assertEqual(Group.objects.get(pk=youth.pk).member_count, 1)
        self.assertEqual(AttendanceDay.objects.get(church=g, date=TODAY).groups, 1)
        sessions = dict(SessionCount.objects.filter(church=g, date=TODAY).values_list("group_id", "present"))
        self.assertEqual(sessions, {None: 1, youth.pk: 1})
        self.assertExact(self.hope)  # another church's counters never move
        self.assertEqual(MemberTally.objects.filter(church=self.hope).count(), 0)

    def test_it_stays_exact_through_a_long_random_run_of_writes(self):
        rng = random.Random(20261129)
        g = self.grace
        groups = [services.group_create(church=g, data={"name": f"G{i}", "kind": "other"}) for i in range(4)]
        people = [services.member_create(church=g, data=data(f"P{i}")) for i in range(12)]
        statuses = Member.Status.values
        for step in range(300):
            action = rng.choice(["add", "remove", "archive", "status", "bulk", "attend", "create", "delete",
                                 "count", "visitor", "attend_more"])
            person = rng.choice(people)
            group = Group.objects.get(pk=rng.choice(groups).pk)
            try:
                if action == "add":
                    services.membership_add(church=g, group=group, member_id=person.pk)
                elif action == "remove":
                    membership = Membership.objects.filter(group=group, member=person).first()
                    if membership:
                        services.membership_remove(membership=membership)
                elif action == "archive":
                    services.group_update(group=group, data={"archived": not group.archived})
                elif action == "status":
                    joined = TODAY - datetime.timedelta(days=rng.randint(0, 900))
                    services.member_update(member=Member.objects.get(pk=person.pk),
                                           data=data(person.first_name, status=rng.choice(statuses), joined=joined))
                elif action == "bulk":
                    services.members_set_status(church=g, member_ids=[p.pk for p in rng.sample(people, 4)],
                                                status=rng.choice(statuses))
                elif action == "attend":
                    shown = [p.pk for p in rng.sample(people, 5)]
                    target = None if group.archived or rng.random() < 0.5 else group
                    attendance_record(church=g, date=TODAY - datetime.timedelta(days=rng.randint(0, 20)),
                                      group=target, present_member_ids=rng.sample(shown, 3), shown_member_ids=shown)
                elif action == "count":  # a head count (0: removed), same days as the ticks
                    attendance_set_head_count(church=g, date=TODAY - datetime.timedelta(days=rng.randint(0, 20)),
                                              present=rng.choice([0, 3, 7, 40]))
                elif action == "visitor":  # a first-time visitor from the checklist, maybe at a group
                    target = None if group.archived or rng.random() < 0.5 else group
                    made = attendance_add_visitor(church=g, date=TODAY - datetime.timedelta(days=rng.randint(0, 20)),
                                                  group=target, data=data(f"V{step}"))
                    people.append(made.member)
                elif action == "attend_more":  # one save with ticks of other pages (present and absent ids)
                    ids = [p.pk for p in rng.sample(people, 6)]
                    attendance_record(church=g, date=TODAY - datetime.timedelta(days=rng.randint(0, 20)), group=None,
                                      present_member_ids=ids[:2], shown_member_ids=ids[2:3],
                                      absent_member_ids=ids[3:])
                elif action == "create":
                    people.append(services.member_create(church=g, data=data(f"N{step}")))
                elif action == "delete" and len(people) > 6:
                    people.remove(person)
                    services.member_delete(member=Member.objects.get(pk=person.pk))
            except ValidationError:
                pass  # e.g. adding to an archived group: refused, nothing changed
            if step % 25 == 0:
                self.assertExact(g)
        self.assertExact(g)
        stored, recounted = _compute_summary(g), recounted_summary(g)
        del stored["computed_at"], recounted["computed_at"]
        self.assertEqual(stored, recounted)

    def test_it_rolls_back_with_a_refused_write(self):
        services.member_create(church=self.grace, data=data("Boaz", email="boaz@grace.test"))
        before = list(MemberTally.objects.order_by("id").values_list("status", "joined_month", "in_group", "total"))
        with self.assertRaises(ValidationError):
            services.member_create(church=self.grace, data=data("Boaz again", email="boaz@grace.test"))
        with self.assertRaises(ValidationError):
            services.members_set_status(church=self.grace, member_ids=[1], status="bogus")
        after = list(MemberTally.objects.order_by("id").values_list("status", "joined_month", "in_group", "total"))
        self.assertEqual(after, before)
        self.assertExact()

    def test_it_reports_and_repairs_drift_with_the_command(self):
        services.member_create(church=self.grace, data=data("Ruth"))
        call_command("rebuild_tallies", "--check", stdout=io.StringIO())
        MemberTally.objects.filter(church=self.grace).update(total=41)  # a write around the services
        out = io.StringIO()
        with self.assertRaises(CommandError) as raised:
            call_command("rebuild_tallies", "--check", stdout=out)
        self.assertEqual(raised.exception.returncode, 1)
        self.assertIn("grace", out.getvalue())
        call_command("rebuild_tallies", "--church", "grace", stdout=io.StringIO())
        self.assertExact()
        with self.assertRaisesMessage(CommandError, "No church with the slug 'nowhere'"):
            call_command("rebuild_tallies", "--church", "nowhere")

    def test_it_keeps_the_admins_direct_writes_counted(self):
        ruth = services.member_create(church=self.grace, data=data("Ruth"))
        self.login(self.dana)
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(f"/admin/members/member/{ruth.pk}/delete/", {"post": "yes"})
        self.assertFalse(Member.objects.filter(pk=ruth.pk).exists())
        self.assertExact()


@pytest.mark.postgres
class ConcurrentTalliesTestCase(TransactionTestCase):
    """Real concurrent transactions (one connection per thread) on PostgreSQL: the row locks of
    members.tallies make simultaneous writers add up, never overwrite or double count."""

    def setUp(self) -> None:
        self.church = Church.objects.create(name="Grace Church", slug="grace")
        self.people = [services.member_create(church=self.church, data=data(f"P{i}")) for i in range(6)]
        self.groups = [services.group_create(church=self.church, data={"name": f"G{i}", "kind": "other"})
                       for i in range(6)]

    def run_together(self, jobs) -> None:
        barrier = threading.Barrier(len(jobs))
        errors: list[BaseException] = []

        def run(job):
            try:
                barrier.wait()
                job()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])

    def test_it_counts_one_person_joining_six_groups_at_once_as_one(self):
        ruth = self.people[0]
        self.run_together([
            (lambda grp=grp: services.membership_add(church=self.church, group=grp, member_id=ruth.pk))
            for grp in self.groups
        ])
        self.assertEqual(Membership.objects.filter(member=ruth).count(), 6)
        self.assertEqual(tallies.drift(self.church.id), EXACT)

    def test_it_adds_up_simultaneous_checklists_of_one_day(self):
        ids = [p.pk for p in self.people]
        self.run_together([
            (lambda i=i: attendance_record(church=self.church, date=TODAY, group=None,
                                           present_member_ids=[ids[i]], shown_member_ids=[ids[i]]))
            for i in range(6)
        ])
        self.assertEqual(AttendanceDay.objects.get(church=self.church, date=TODAY).service, 6)
        self.assertEqual(SessionCount.objects.get(church=self.church, date=TODAY, group=None).present, 6)
        self.assertEqual(tallies.drift(self.church.id), EXACT)

    def test_it_adds_up_simultaneous_status_changes_and_group_moves(self):
        ids = [p.pk for p in self.people]
        everyone = services.group_create(church=self.church, data={"name": "Everyone", "kind": "other"})
        for member_id in ids:
            services.membership_add(church=self.church, group=everyone, member_id=member_id)
        self.run_together(
            [(lambda i=i: services.members_set_status(church=self.church, member_ids=[ids[i]], status="member"))
             for i in range(6)]
            + [(lambda i=i: services.membership_add(church=self.church, group=self.groups[i], member_id=ids[i]))
               for i in range(6)]
            + [lambda: services.group_update(group=Group.objects.get(pk=everyone.pk), data={"archived": True})]
        )
        self.assertEqual(tallies.drift(self.church.id), EXACT)
        self.assertEqual(connection.vendor, "postgresql")
