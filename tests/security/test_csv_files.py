"""CSV files: the export/import round trip gives the same data back (nasty names included),
UTF-16 files are read (or explained), and a malformed row says it is malformed."""

from __future__ import annotations

import datetime

from django.core.files.uploadedfile import SimpleUploadedFile

from members import services, spreadsheet
from members.models import Member
from tests.base import FlockTestCase

NASTY_NAMES = (
    "=HYPERLINK(\"http://x\")", "+1", "-minus", "@at", "'=already", "''=twice", "'plain", "O'Brien", "'t Hooft",
    "Quote \"Q\" Quinn", "Comma, Jr.", "semi;colon", "Zoë", "李", "😀 Smile", "=", "'", "''", "a'=b",
    "\u05d9\u05d5\u05e1\u05e3",  # Hebrew: right-to-left, no override needed
)
HEADER = "first_name,last_name,email,phone\n"


def upload(content: bytes, name: str = "members.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


class CsvFilesTestCase(FlockTestCase):
    def import_problems(self, content: bytes) -> list[str]:
        with self.assertRaises(services.ImportRejected) as caught:
            services.members_import_csv(church=self.grace, file=upload(content))
        return caught.exception.problems

    def test_it_gives_the_same_data_back_after_an_export_and_an_import(self):
        for i, name in enumerate(NASTY_NAMES):
            Member.objects.create(church=self.grace, first_name=name, last_name=f"-{name}", email=f"-x{i}@example.com",
                                  phone=f"+1555000{i:04d}", joined_on=datetime.date(2024, 1, 2))
        self.recount()
        fields = ("first_name", "last_name", "email", "phone", "status", "joined_on", "birth_date")
        before = sorted(Member.objects.filter(church=self.grace).values_list(*fields))
        self.login(self.alice)
        exported = b"".join(self.client.get("/members/export.csv").streaming_content)
        self.assertIn(b"'=HYPERLINK", exported)  # guarded in the file
        Member.objects.filter(church=self.grace).delete()
        self.recount()
        result = services.members_import_csv(church=self.grace, file=upload(exported))
        self.assertEqual(result.created, len(NASTY_NAMES))
        self.assertEqual(sorted(Member.objects.filter(church=self.grace).values_list(*fields)), before)

    def test_it_unguards_exactly_what_it_guards(self):
        for text in NASTY_NAMES + ("", "x", "'x", "'-", "''''=", "\t", "'\t"):
            self.assertEqual(spreadsheet.unguard(spreadsheet.guard(text)), text, repr(text))
            if spreadsheet.unguard(text) != text:
                self.assertEqual(spreadsheet.guard(spreadsheet.unguard(text)), text, repr(text))

    def test_it_reads_utf16_files_with_their_byte_order_mark(self):
        text = HEADER + "Zoë,Åberg,zoe@example.com,+15550001234\n"
        for encoding in ("utf-16", "utf-16-be"):
            data = ("\ufeff" + text).encode(encoding) if encoding == "utf-16-be" else text.encode(encoding)
            Member.objects.filter(church=self.grace).delete()
            result = services.members_import_csv(church=self.grace, file=upload(data))
            self.assertEqual(result.created, 1, encoding)
            self.assertEqual(Member.objects.get(church=self.grace).first_name, "Zoë")

    def test_it_says_a_utf16_file_without_its_mark_must_be_utf8(self):
        problems = self.import_problems((HEADER + "Ann,Lee,ann@example.com,\n").encode("utf-16-le"))
        self.assertIn("UTF-16", problems[0])
        self.assertIn("CSV UTF-8", problems[0])
        self.assertNotIn("binary", problems[0])

    def test_it_says_an_unterminated_quote_makes_the_row_malformed(self):
        problems = self.import_problems((HEADER + "Ann,Lee,ann@example.com,\n\"Bob,Ray,bob@example.com,\nCy,Do,,\n").encode())
        self.assertEqual(len(problems), 1)
        self.assertIn("Row 3: a quoted value is never closed", problems[0])
        self.assertIn("malformed", problems[0])
        problems = self.import_problems((HEADER + "Ann,\"Lee\"son,ann@example.com,\n").encode())
        self.assertIn("Row 2: a quoted value has more text after its closing quote", problems[0])
        self.assertFalse(Member.objects.filter(church=self.grace).exists())

    def test_it_refuses_names_with_control_characters_or_direction_overrides(self):
        for bad in ("Ann\u202eeeL", "Ann\u2066x", "Ann\x07", "Ann\u2028Lee"):
            problems = self.import_problems((HEADER + f"\"{bad}\",Lee,,\n").encode())
            self.assertIn("control characters or text-direction overrides", problems[0], repr(bad))
        problems = self.import_problems((HEADER + "\"Ann\nLee\",Lee,,\n").encode())
        self.assertIn("control characters", problems[0])
