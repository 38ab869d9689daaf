"""CSV import (all rows or none, one invalidation) and the streaming CSV export."""

from __future__ import annotations

import csv
import io
from unittest import mock

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cachemon import cache_aside, keys
from members import services
from members.models import Member
from tests.base import FlockTestCase

HEADER = "first_name,last_name,email,phone\n"


def upload(text: str | bytes, name: str = "members.csv") -> SimpleUploadedFile:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def rows_csv(count: int, *, start: int = 0) -> str:
    lines = [HEADER.strip()]
    lines += [f"First{i},Last{i},person{i}@example.org,+1555{i:07d}" for i in range(start, start + count)]
    return "\n".join(lines) + "\n"


class ImportExportTestCase(FlockTestCase):
    url = reverse("member_import")

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        Member.objects.create(church=cls.grace, first_name="Existing", last_name="One", email="taken@grace.test")
        Member.objects.create(church=cls.hope, first_name="Hope", last_name="Person", email="hope@hope.test",
                              phone="+15559990000")

    def setUp(self) -> None:
        self.login(self.alice)

    def _post(self, text: str | bytes, name: str = "members.csv"):
        return self.client.post(self.url, {"file": upload(text, name)})

    def _assert_rejected(self, text: str | bytes, *messages: str) -> None:
        before = Member.objects.count()
        response = self._post(text)
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "Nothing was imported", status_code=400)
        for message in messages:
            self.assertContains(response, message, status_code=400)
        self.assertEqual(Member.objects.count(), before)

    def test_it_shows_the_import_form(self):
        response = self.client.get(self.url)
        self.assertContains(response, 'type="file" name="file"')
        self.assertContains(response, "first_name,last_name,email,phone")

    def test_it_imports_a_good_file_with_optional_and_unknown_columns_and_a_bom(self):
        text = ("\ufeffFirst_Name,last_name,email,phone,status,joined_on,birth_date,shoe_size\n"
                "Ann,Able,ANN@Example.org,+44 20 7123 4567,Member,2020-01-02,1980-03-04,41\n"
                "Ben,Baker,,,regular,,,\n"
                ",,,,,,,\n"
                "\n"
                "Cy,\"Cole, Jr.\",cy@example.org,0015551234567,,,,\n")
        with self.captureOnCommitCallbacks(execute=True):
            response = self._post(text.encode("utf-8"))
        self.assertRedirects(response, reverse("member_list"), fetch_redirect_response=False)
        imported = {m.first_name: m for m in Member.objects.filter(church=self.grace).exclude(first_name="Existing")}
        self.assertEqual(sorted(imported), ["Ann", "Ben", "Cy"])
        ann, ben, cy = imported["Ann"], imported["Ben"], imported["Cy"]
        self.assertEqual((ann.email, ann.phone, ann.status, str(ann.joined_on), str(ann.birth_date)),
                         ("ann@example.org", "+442071234567", "member", "2020-01-02", "1980-03-04"))
        self.assertEqual((ben.status, ben.email, ben.phone), ("regular", "", ""))
        self.assertEqual((cy.last_name, cy.phone, cy.status), ("Cole, Jr.", "+15551234567", "visitor"))
        self.assertContains(self.client.get(reverse("member_list")), "Imported 3 members.")

    def test_it_accepts_semicolon_separated_files(self):
        self._post("first_name;last_name;email;phone\nAnn;Able;ann@example.org;+15550000001\n")
        self.assertTrue(Member.objects.filter(church=self.grace, email="ann@example.org").exists())

    def test_it_lists_every_bad_row_and_imports_nothing(self):
        text = (HEADER +
                "Ann,Able,ann@example.org,+15550000001\n"
                ",Baker,ben@example.org,\n"
                "Cy,Cole,not-an-email,\n"
                "Di,Dunn,taken@GRACE.test,\n"
                "Ed,Eve,ANN@example.org,\n"
                "Flo,Fay,,555-12\n"
                "Gus,Gee,hope@hope.test,\n"
                "Hal,Hay,hal@example.org,,\n")
        self._assert_rejected(
            text,
            "Row 3: First name: This field is required.",
            "Row 4: Email: Enter a valid email address.",
            "Row 5: Email: Another member of this church already has this email address.",
            "Row 6: Email: ann@example.org is also on row 2 of this file.",
            "Row 7: Phone: Enter a valid phone number",
            "Row 9: has more values than the header has columns",
        )
        response = self._post(text)
        self.assertNotContains(response, "Row 2:", status_code=400)
        self.assertNotContains(response, "Row 8:", status_code=400)  # another church's email is free here

    def test_it_caps_the_list_of_problems(self):
        text = HEADER + "".join(f"Name{i},,bad-email-{i},\n" for i in range(80))
        response = self._post(text)
        problems = response.context["problems"]
        self.assertEqual(len(problems), services.IMPORT_MAX_ERRORS + 1)
        self.assertEqual(problems[-1], "…and 110 more problems.")  # 2 per row, 160 in all

    def test_it_rejects_unreadable_files_with_a_clear_message(self):
        self._assert_rejected("", "The submitted file is empty.")
        self._assert_rejected("   \n\n", "The file is empty.")
        self._assert_rejected(HEADER, "The file has a header but no members.")
        self._assert_rejected("first_name,surname,mail\nAnn,Able,a@b.org\n",
                              "The header row is missing the columns last_name, email, phone.")
        self._assert_rejected("name,last_name,email,phone\n", "missing the column first_name.")
        self._assert_rejected(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "doesn&#x27;t look like a CSV file")
        self._assert_rejected(HEADER.encode() + "Zoë,Ångström,,\n".encode("latin-1"), "The file isn&#x27;t UTF-8")

    def test_it_rejects_files_over_the_limits(self):
        with mock.patch.object(services, "IMPORT_MAX_ROWS", 10):
            self._assert_rejected(rows_csv(11), "more than 10 members")
        with mock.patch.object(services, "IMPORT_MAX_BYTES", 1024):
            self._assert_rejected(rows_csv(100), "The file is larger than the 1 KB limit.")

    def test_it_requires_a_file(self):
        response = self.client.post(self.url, {})
        self.assertContains(response, "Nothing was imported", status_code=400)
        self.assertContains(response, "This field is required.", status_code=400)

    def test_it_imports_5000_rows_in_bulk_with_one_invalidation(self):
        self.client.get(reverse("member_list"))  # the first page is cached now
        with mock.patch.object(cache_aside, "invalidate", wraps=cache_aside.invalidate) as invalidate, \
                mock.patch.object(cache_aside, "_bump", wraps=cache_aside._bump) as bump:
            with self.captureOnCommitCallbacks(execute=True):
                response = self._post(rows_csv(5000))
        self.assertRedirects(response, reverse("member_list"), fetch_redirect_response=False)
        self.assertEqual(Member.objects.filter(church=self.grace).count(), 5001)
        invalidate.assert_called_once_with(*keys.MEMBER_WRITE, church_id=self.grace.id)
        self.assertEqual(bump.call_count, 1)
        page = self.client.get(reverse("member_list")).context["page"]
        self.assertEqual(page.total, 5001)

    def test_it_rejects_a_whole_big_file_for_one_bad_row(self):
        text = rows_csv(3000) + "Bad,Row,bad-email,\n"
        self._assert_rejected(text, "Row 3002: Email: Enter a valid email address.")

    def test_it_exports_only_the_churchs_members_as_streaming_csv(self):
        Member.objects.create(church=self.grace, first_name="=cmd()", last_name="Évora", phone="+15550000002")
        response = self.client.get(reverse("member_export"))
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.streaming)
        self.assertIn("attachment;", response["Content-Disposition"])
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        self.assertEqual(rows[0], ["first_name", "last_name", "email", "phone", "status", "joined_on", "birth_date"])
        self.assertEqual(sorted(r[1] for r in rows[1:]), ["One", "Évora"])
        self.assertIn(["'=cmd()", "Évora", "", "+15550000002"], [r[:4] for r in rows[1:]])
        self.assertNotIn("hope@hope.test", text)

    def test_it_round_trips_an_export_through_the_import(self):
        self._post(rows_csv(30))
        exported = b"".join(self.client.get(reverse("member_export")).streaming_content)
        self.login(self.charlie)
        with self.captureOnCommitCallbacks(execute=True):
            response = self._post(exported)
        self.assertRedirects(response, reverse("member_list"), fetch_redirect_response=False)
        self.assertEqual(Member.objects.filter(church=self.hope).count(), 32)
