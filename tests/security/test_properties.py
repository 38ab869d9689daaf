"""Property-based (Hypothesis): the member form, the CSV import and the searches take any text.

Arbitrary text never raises anything but the refusal the caller expects, and a refused input
changes no row. Derandomized with modest example counts, and no example database: the same
examples on every run, CI included (`make test` stays fast and deterministic).
"""

from __future__ import annotations

import csv
import datetime
import io

from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra.django import TestCase

from attendance import selectors as attendance_selectors
from members import selectors, services
from members.forms import MemberForm
from members.models import Group, Member
from tests.base import FlockTestCase

DAY = datetime.date(2026, 3, 1)
PROPERTY = settings(max_examples=50, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
FIELDS = ("first_name", "last_name", "email", "phone", "status", "joined_on", "birth_date")
# Text of every kind: control characters, NUL, bidi overrides, other scripts, long runs.
any_text = st.text(max_size=120)
field_values = st.fixed_dictionaries({name: any_text for name in FIELDS})
# Half-plausible values reach deeper (past "required"): real-looking names and emails, mixed in.
plausible = st.fixed_dictionaries({
    "first_name": st.one_of(any_text, st.sampled_from(["Ann", "Zoë", "O'Brien", "=1+1", "李"])),
    "last_name": st.one_of(any_text, st.sampled_from(["Lee", "\u05dc\u05d9", "-x", "'t Hooft"])),
    "email": st.one_of(any_text, st.emails().map(str)),
    "phone": st.one_of(any_text, st.sampled_from(["+15551234567", "555 12", "0044 20 7123 4567"])),
    "status": st.one_of(any_text, st.sampled_from(["visitor", "member", "Regular attender", ""])),
    "joined_on": st.one_of(any_text, st.sampled_from(["2024-01-02", "", "2999-01-01"])),
    "birth_date": st.one_of(any_text, st.sampled_from(["1980-05-06", "", "1800-01-01"])),
})


def rows_snapshot() -> list[tuple]:
    return sorted(Member.objects.values_list("id", "church_id", *FIELDS))


class PropertiesTestCase(TestCase, FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.group = Group.objects.create(church=cls.grace, name="Choir")
        Member.objects.create(church=cls.grace, first_name="Gia", last_name="Grace", email="gia@grace.test")

    @PROPERTY
    @given(st.one_of(field_values, plausible))
    def test_it_takes_any_text_in_the_member_form(self, data):
        before = rows_snapshot()
        form = MemberForm(data, church=self.grace)
        if not form.is_valid():
            self.assertTrue(form.errors)
            self.assertEqual(rows_snapshot(), before)
            return
        member = services.member_create(church=self.grace, data=form.cleaned_data)
        stored = Member.objects.get(pk=member.pk)
        for name in FIELDS:
            self.assertEqual(getattr(stored, name), form.cleaned_data[name], name)
        stored.full_clean()  # what the form let in, the model (and the admin) accepts too

    @PROPERTY
    @given(st.one_of(st.binary(max_size=400), st.lists(plausible, min_size=1, max_size=4)))
    def test_it_takes_any_file_in_the_csv_import(self, content):
        if isinstance(content, list):
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(content)
            content = out.getvalue().encode("utf-8", "surrogatepass")
        before = rows_snapshot()
        try:
            result = services.members_import_csv(church=self.grace, file=SimpleUploadedFile("m.csv", content))
        except services.ImportRejected as exc:
            self.assertTrue(exc.problems)
            self.assertTrue(all(isinstance(p, str) and p for p in exc.problems))
            self.assertEqual(rows_snapshot(), before)
        else:
            self.assertEqual(Member.objects.count(), len(before) + result.created)
            for member in Member.objects.filter(church=self.grace).exclude(pk__in=[r[0] for r in before]):
                member.full_clean()

    @PROPERTY
    @given(any_text)
    def test_it_takes_any_text_in_the_searches(self, q):
        if "\x00" in q:
            q = q.replace("\x00", "")  # never reaches a view (security.middleware answers 400)
        page = selectors.member_list_page(church=self.grace, q=q)
        self.assertTrue(all(set(row) >= {"id", "first_name"} for row in page.rows))
        ids = [row["id"] for row in page.rows]
        self.assertEqual(Member.objects.filter(pk__in=ids).exclude(church=self.grace).count(), 0)
        selectors.group_add_candidates(church=self.grace, group=self.group, q=q)
        attendance_selectors.attendance_checklist(church=self.grace, date=DAY, group=None, q=q, page="1")

    @PROPERTY
    @given(any_text)
    def test_it_answers_any_search_through_the_pages_without_a_500(self, q):
        self.client.force_login(self.alice)
        for url, param in (("/members/", "q"), (f"/groups/{self.group.pk}/", "find")):
            response = self.client.get(url, {param: q})
            self.assertEqual(response.status_code, 400 if "\x00" in q else 200, (url, q))

