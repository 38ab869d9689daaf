"""No row joins two churches: every tenant-owned relation, in the model layer and the database.

Walked at runtime: every model with two links or more to tenant-owned rows (a church, or a
model with a `church` foreign key) must refuse, in `clean()`, links to different churches; every
such model registered in the Django admin must refuse them on its add form (nothing saved).
The database refuses them too (triggers: members/0006, attendance/0005), whoever writes, and
refuses moving a member or group to another church while its own church's rows point to it.
"""

from __future__ import annotations

import datetime
import uuid

from django.apps import apps
from django.contrib import admin
from django.db import IntegrityError, connection, transaction
from django.test import RequestFactory
from django.urls import reverse

from attendance.models import Attendance
from members.models import OTHER_CHURCH, Church, Group, Member, Membership, User, tenant_links
from messaging.models import Delivery, Message
from tests.base import FlockTestCase

DAY = datetime.date(2026, 3, 1)
NOW = datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC)
# Fields the admin add forms need besides the tenant links (keys: model labels).
ADMIN_EXTRA_FIELDS = {
    "members.membership": {"role": "member", "joined_on": DAY.isoformat()},
    "attendance.attendance": {"date": DAY.isoformat()},
}
# The database's triggers, by vendor: a table rebuilt by a later migration on SQLite loses its
# triggers, so that migration must make them again (this list then still holds).
TRIGGERS = {
    "sqlite": {"membership_one_church_insert", "membership_one_church_update", "member_keeps_church_of_memberships",
               "group_keeps_church_of_memberships", "attendance_one_church_insert", "attendance_one_church_update",
               "member_keeps_church_of_attendance", "group_keeps_church_of_attendance",
               "delivery_one_church_insert", "delivery_one_church_update", "message_one_church_insert",
               "message_one_church_update", "member_keeps_church_of_deliveries", "group_keeps_church_of_messages"},
    "postgresql": {"membership_one_church", "membership_one_church_update", "member_keeps_church_of_memberships",
                   "group_keeps_church_of_memberships", "attendance_one_church", "attendance_one_church_update",
                   "member_keeps_church_of_attendance", "group_keeps_church_of_attendance",
                   "delivery_one_church", "delivery_one_church_update", "message_one_church",
                   "message_one_church_update", "member_keeps_church_of_deliveries", "group_keeps_church_of_messages"},
}


def joining_models() -> list:
    return [model for model in apps.get_models() if len(tenant_links(model)) >= 2]


class TenantRelationsTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.objects = {}
        for church in (cls.grace, cls.hope):
            member = Member.objects.create(church=church, first_name="Pat", last_name=church.name)
            group = Group.objects.create(church=church, name=f"{church.name} Choir")
            cls.objects[church.pk] = {Church: church, Member: member, Group: group}
        cls.objects[cls.grace.pk][User] = cls.alice
        cls.objects[cls.hope.pk][User] = cls.charlie
        for church, user in ((cls.grace, cls.alice), (cls.hope, cls.charlie)):
            cls.objects[church.pk][Message] = Message.objects.create(
                church=church, created_by=user, audience="Choir", body="Choir at 7", encoding="GSM-7", segments=1,
                confirm_key=uuid.uuid4())

    def of(self, church: Church, model):
        found = self.objects[church.pk].get(model)
        if found is None:
            raise AssertionError(f"{model.__name__} links to tenant-owned rows: make one per church in setUpTestData "
                                 f"of {__name__} so that its relations are checked.")
        return found

    def admin_request(self):
        request = RequestFactory().get("/admin/")
        request.user = self.dana
        return request

    def mismatches(self, model):
        """For each tenant link: (that link's field, values) with it pointing at Hope, the rest at Grace."""
        links = tenant_links(model)
        for odd in links:
            values = {f.name: self.of(self.hope if f is odd else self.grace, f.related_model) for f in links}
            yield odd, values

    def test_it_finds_the_joining_models(self):
        self.assertLessEqual({Membership, Attendance}, set(joining_models()))

    def test_it_refuses_rows_of_two_churches_in_clean(self):
        for model in joining_models():
            for odd, values in self.mismatches(model):
                with self.subTest(model=model.__name__, other_church=odd.name):
                    instance = model(**values)
                    with self.assertRaisesMessage(Exception, OTHER_CHURCH):
                        instance.clean()

    def test_it_refuses_rows_of_two_churches_in_every_admin_add_form(self):
        self.login(self.dana)
        checked = 0
        for model in joining_models():
            model_admin = admin.site._registry.get(model)
            if model_admin is None or not model_admin.has_add_permission(self.admin_request()):
                continue  # not in the admin, or written only by its services (no add form)
            label = model._meta.label_lower
            if label not in ADMIN_EXTRA_FIELDS:
                raise AssertionError(f"{label} is in the admin: add the other fields its add form needs to "
                                     f"ADMIN_EXTRA_FIELDS in {__name__}.")
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
            for odd, values in self.mismatches(model):
                with self.subTest(model=label, other_church=odd.name):
                    before = model._default_manager.count()
                    data = {**ADMIN_EXTRA_FIELDS[label], **{name: obj.pk for name, obj in values.items()}}
                    response = self.client.post(url, data)
                    self.assertEqual(response.status_code, 200, f"{label}: saved across churches")
                    self.assertContains(response, OTHER_CHURCH)
                    self.assertEqual(model._default_manager.count(), before)
                    checked += 1
        self.assertGreaterEqual(checked, 4)

    def test_it_refuses_a_membership_across_churches_in_the_members_inline(self):
        self.login(self.dana)
        member = self.of(self.hope, Member)
        url = reverse("admin:members_member_change", args=[member.pk])
        response = self.client.post(url, {
            "church": self.hope.pk, "first_name": "Pat", "last_name": "Hope", "email": "", "phone": "",
            "status": "visitor", "joined_on": DAY.isoformat(),
            "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "0",
            "memberships-0-group": self.of(self.grace, Group).pk, "memberships-0-role": "member",
            "memberships-0-joined_on": DAY.isoformat(),
        })
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, OTHER_CHURCH)
        self.assertFalse(Membership.objects.filter(member=member).exists())

    def test_it_refuses_moving_a_member_with_memberships_to_another_church_in_the_admin(self):
        self.login(self.dana)
        member, group = self.of(self.grace, Member), self.of(self.grace, Group)
        Membership.objects.create(member=member, group=group)
        response = self.client.post(reverse("admin:members_member_change", args=[member.pk]), {
            "church": self.hope.pk, "first_name": "Pat", "last_name": "Grace", "email": "", "phone": "",
            "status": "visitor", "joined_on": DAY.isoformat(),
            "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
        })
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "remove those before moving it to another church")
        member.refresh_from_db()
        self.assertEqual(member.church_id, self.grace.pk)

    def assert_database_refuses(self, write) -> None:
        with self.assertRaises(IntegrityError), transaction.atomic():
            write()

    def test_it_has_the_databases_triggers(self):
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            else:
                cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            found = {row[0] for row in cursor.fetchall()}
        self.assertLessEqual(TRIGGERS[connection.vendor], found)

    def test_it_has_the_database_refuse_rows_of_two_churches(self):
        g_member, g_group = self.of(self.grace, Member), self.of(self.grace, Group)
        h_member, h_group = self.of(self.hope, Member), self.of(self.hope, Group)
        self.assert_database_refuses(lambda: Membership.objects.create(group=g_group, member=h_member))
        self.assert_database_refuses(lambda: Attendance.objects.create(church=self.grace, member=h_member, date=DAY))
        self.assert_database_refuses(
            lambda: Attendance.objects.create(church=self.grace, member=g_member, group=h_group, date=DAY))
        membership = Membership.objects.create(group=g_group, member=g_member)
        self.assert_database_refuses(lambda: Membership.objects.filter(pk=membership.pk).update(member=h_member))
        self.assert_database_refuses(lambda: Member.objects.filter(pk=g_member.pk).update(church=self.hope))
        self.assert_database_refuses(lambda: Group.objects.filter(pk=g_group.pk).update(church=self.hope))
        membership.delete()
        record = Attendance.objects.create(church=self.grace, member=g_member, group=g_group, date=DAY)
        self.assert_database_refuses(lambda: Member.objects.filter(pk=g_member.pk).update(church=self.hope))
        self.assert_database_refuses(lambda: Group.objects.filter(pk=g_group.pk).update(church=self.hope))
        self.assert_database_refuses(lambda: Attendance.objects.filter(pk=record.pk).update(church=self.hope))
        record.delete()
        h_message = self.of(self.hope, Message)
        self.assert_database_refuses(lambda: Message.objects.filter(pk=h_message.pk).update(group=g_group))
        self.assert_database_refuses(lambda: Delivery.objects.create(
            message=h_message, church=self.grace, member=g_member, name="Pat", phone="+15550000009", due_at=NOW, next_attempt_at=NOW))
        self.assert_database_refuses(lambda: Delivery.objects.create(
            message=h_message, church=self.hope, member=g_member, name="Pat", phone="+15550000009", due_at=NOW, next_attempt_at=NOW))
        delivery = Delivery.objects.create(message=h_message, church=self.hope, member=h_member, name="Pat",
                                           phone="+15550000009", due_at=NOW, next_attempt_at=NOW)
        self.assert_database_refuses(lambda: Delivery.objects.filter(pk=delivery.pk).update(member=g_member))
        self.assert_database_refuses(lambda: Member.objects.filter(pk=h_member.pk).update(church=self.grace))
        Delivery.objects.filter(pk=delivery.pk).update(state="sent")  # a state change: no link changed
        g_message = self.of(self.grace, Message)
        Message.objects.filter(pk=g_message.pk).update(group=g_group)
        self.assert_database_refuses(lambda: Group.objects.filter(pk=g_group.pk).update(church=self.hope))
        Message.objects.filter(pk=g_message.pk).update(group=None)
        delivery.delete()
        # Nothing ties them any more: moving is allowed.
        Member.objects.filter(pk=g_member.pk).update(church=self.hope)
