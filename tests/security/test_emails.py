"""Emails are unique per church whatever their case, whoever writes: the database's functional
unique index (member_unique_email_ci_per_church: church, LOWER(email), blanks excluded), the
admin (model validation of that constraint), the member form and the CSV import."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from members import services
from members.forms import EMAIL_TAKEN, MemberForm
from members.models import Member
from tests.base import FlockTestCase

MIXED = "Case.Dup@Example.com"


class EmailsTestCase(FlockTestCase):
    def admin_add(self, church, email: str):
        return self.client.post(reverse("admin:members_member_add"), {
            "church": church.pk, "first_name": "Casey", "last_name": "Dup", "email": email, "phone": "",
            "status": "visitor", "joined_on": "2026-03-01",
            "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
        })

    def test_it_refuses_an_email_differing_only_by_case_in_the_admin(self):
        self.login(self.dana)
        self.assertEqual(self.admin_add(self.grace, MIXED).status_code, 302)
        response = self.admin_add(self.grace, MIXED.lower())
        self.assertContains(response, "A member of this church already has this email address.")
        self.assertEqual(Member.objects.filter(church=self.grace).count(), 1)
        self.assertEqual(self.admin_add(self.hope, MIXED.upper()).status_code, 302)  # another church: fine

    def test_it_has_the_database_refuse_them_whoever_writes(self):
        Member.objects.create(church=self.grace, first_name="A", last_name="B", email=MIXED)
        with self.assertRaises(IntegrityError), transaction.atomic():
            Member.objects.create(church=self.grace, first_name="C", last_name="D", email=MIXED.upper())
        Member.objects.create(church=self.grace, first_name="E", last_name="F", email="")
        Member.objects.create(church=self.grace, first_name="G", last_name="H", email="")  # blanks: many

    def test_it_has_the_member_form_and_the_import_refuse_them(self):
        Member.objects.create(church=self.grace, first_name="A", last_name="B", email=MIXED)
        form = MemberForm({"first_name": "C", "last_name": "D", "email": MIXED.lower()}, church=self.grace)
        self.assertFalse(form.is_valid())
        self.assertEqual(form.errors["email"], [EMAIL_TAKEN])
        upload = SimpleUploadedFile("m.csv", f"first_name,last_name,email,phone\nC,D,{MIXED.upper()},\n".encode())
        with self.assertRaises(services.ImportRejected) as caught:
            services.members_import_csv(church=self.grace, file=upload)
        self.assertIn(EMAIL_TAKEN, caught.exception.problems[0])

    def test_it_builds_the_index_on_the_lower_cased_email(self):
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, Member._meta.db_table)
        self.assertIn("member_unique_email_ci_per_church", constraints)
        self.assertNotIn("member_unique_email_per_church", constraints)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'member_unique_email_ci_per_church'")
                self.assertIn("lower((email)::text)", cursor.fetchone()[0])
