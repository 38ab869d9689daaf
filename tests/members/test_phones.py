"""Phone numbers as people type them (libphonenumber's metadata through `phonenumbers`): the
member form and the CSV import read them in the church's region and store E.164; pages show the
church's own numbers in national format and others internationally; the search finds a number
however it is typed."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from members import services
from members.models import Church, Member
from members.validators import format_phone, normalize_phone
from tests.base import FlockTestCase


class PhonesTestCase(FlockTestCase):
    def setUp(self) -> None:
        self.login(self.alice)

    def test_it_reads_numbers_as_typed_in_the_churchs_region(self):
        for typed in ("(808) 555-1234", "808-555-1234", "808.555.1234", "+1 808 555 1234", "1 (808) 555 1234",
                      "001 808 555 1234"):
            with self.subTest(typed=typed):
                self.assertEqual(normalize_phone(typed, "US"), "+18085551234")
        self.assertEqual(normalize_phone("020 7946 0018", "GB"), "+442079460018")
        self.assertEqual(normalize_phone("+44 20 7946 0018", "US"), "+442079460018")

    def test_it_refuses_what_is_not_a_whole_number_with_a_clear_message(self):
        for typed, message in (("555-1234", "Add the area code"), ("12345", "Enter a valid phone number"),
                               ("(808) 555-12345678", "Enter a valid phone number"), ("call me", "Enter a valid"),
                               ("+1 808 555 1234 ext. 7", "without an extension")):
            with self.subTest(typed=typed):
                response = self.client.post("/members/new/", {"first_name": "P", "last_name": "Q", "phone": typed})
                self.assertEqual(response.status_code, 200)
                self.assertContains(response, message)
        self.assertFalse(Member.objects.exists())

    def test_it_stores_e164_from_the_form_and_the_import(self):
        self.client.post("/members/new/", {"first_name": "Kai", "last_name": "Kona", "phone": "(808) 555-1234"})
        self.assertEqual(Member.objects.get(first_name="Kai").phone, "+18085551234")
        upload = SimpleUploadedFile("m.csv", b"first_name,last_name,email,phone\nLei,Lani,,808 555 4321\n")
        services.members_import_csv(church=self.grace, file=upload)
        self.assertEqual(Member.objects.get(first_name="Lei").phone, "+18085554321")

    def test_it_uses_the_churchs_own_region(self):
        Church.objects.filter(pk=self.grace.pk).update(phone_region="GB")
        self.grace.refresh_from_db()
        upload = SimpleUploadedFile("m.csv", b"first_name,last_name,email,phone\nAda,Lovelace,,020 7946 0018\n")
        services.members_import_csv(church=self.grace, file=upload)
        self.assertEqual(Member.objects.get(first_name="Ada").phone, "+442079460018")

    def test_it_shows_national_numbers_for_the_churchs_country_and_international_otherwise(self):
        self.assertEqual(format_phone("+18085551234", "US"), "(808) 555-1234")
        self.assertEqual(format_phone("+442079460018", "US"), "+44 20 7946 0018")
        self.assertEqual(format_phone("+442079460018", "GB"), "020 7946 0018")
        self.assertEqual(format_phone("+18085551234", "GB"), "+1 808-555-1234")
        Member.objects.create(church=self.grace, first_name="Kai", last_name="Kona", phone="+18085551234")
        Member.objects.create(church=self.grace, first_name="Ada", last_name="Lovelace", phone="+442079460018")
        self.recount()
        response = self.client.get("/members/")
        self.assertContains(response, "(808) 555-1234")
        self.assertContains(response, "+44 20 7946 0018")
        self.assertNotContains(response, "+18085551234<")

    def test_it_finds_a_number_however_it_is_typed(self):
        kai = Member.objects.create(church=self.grace, first_name="Kai", last_name="Kona", phone="+18085551234")
        Member.objects.create(church=self.grace, first_name="Other", last_name="Person", phone="+18085559999")
        self.recount()
        for typed in ("(808) 555-1234", "808-555-1234", "+1 808 555 1234", "555-1234", "5551234", "808 555 12"):
            with self.subTest(typed=typed):
                rows = self.client.get("/members/", {"q": typed}).context["page"].rows
                self.assertEqual([row["id"] for row in rows], [kai.id])
