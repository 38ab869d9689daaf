"""Twilio's webhooks: signatures, STOP/START per church, status callbacks that only go forward."""

from __future__ import annotations

from django.test import override_settings

from messaging import webhooks
from messaging.models import Delivery, Message, OptOut, PendingStatus, SenderNumber
from tests.base import FlockTestCase

from .support import confirm, people

TOKEN = "webhook-test-token"
BASE = "https://flock.example.org"
SHARED = "+15005550006"


@override_settings(TWILIO_AUTH_TOKEN=TOKEN, SMS_WEBHOOK_BASE_URL=BASE, TWILIO_FROM=SHARED)
class WebhooksTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        SenderNumber.objects.create(church=cls.grace, phone="+15550100001")
        SenderNumber.objects.create(church=cls.hope, phone="+15550100002")

    def post(self, path: str, data: dict, *, sign: bool = True, signature: str | None = None, url: str | None = None):
        headers = {}
        if sign:
            headers["HTTP_X_TWILIO_SIGNATURE"] = signature or webhooks.signature(
                url or BASE + path, [(k, [v]) for k, v in data.items()], TOKEN)
        return self.client.post(path, data, **headers)

    def stop(self, phone: str, to: str, body: str = "STOP"):
        return self.post("/sms/inbound/", {"From": phone, "To": to, "Body": body, "MessageSid": "SMin1"})

    def test_it_refuses_a_missing_or_forged_signature(self):
        data = {"From": "+15551230000", "To": "+15550100001", "Body": "STOP"}
        self.assertEqual(self.post("/sms/inbound/", data, sign=False).status_code, 403)
        self.assertEqual(self.post("/sms/inbound/", data, signature="Zm9yZ2Vk").status_code, 403)
        # Signed for another URL (the request's own, not the public one): refused too.
        self.assertEqual(self.post("/sms/inbound/", data, url="http://testserver/sms/inbound/").status_code, 403)
        # A parameter changed after signing.
        signed = webhooks.signature(BASE + "/sms/inbound/", [(k, [v]) for k, v in data.items()], TOKEN)
        response = self.client.post("/sms/inbound/", {**data, "Body": "START"}, HTTP_X_TWILIO_SIGNATURE=signed)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.post("/sms/status/", {"MessageSid": "SMx", "MessageStatus": "delivered"},
                                   sign=False).status_code, 403)
        self.assertFalse(OptOut.objects.exists())

    def test_it_matches_twilios_documented_signature(self):
        # The example of Twilio's "Webhooks security" documentation.
        params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030",
                  "To": "+18005551212"}
        got = webhooks.signature("https://mycompany.com/myapp.php?foo=1&bar=2",
                                 [(k, [v]) for k, v in params.items()], "12345")
        self.assertEqual(got, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")

    def test_it_opts_out_on_stop_for_that_numbers_church_only(self):
        response = self.stop("+15551230000", "+15550100001")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "<Response></Response>")
        optout = OptOut.objects.get(phone="+15551230000")
        self.assertEqual((optout.church_id, optout.opted_out, optout.how, optout.detail),
                         (self.grace.pk, True, "keyword", "STOP"))
        self.assertFalse(OptOut.objects.filter(church=self.hope).exists())

    def test_it_knows_every_keyword_in_any_case(self):
        for i, word in enumerate(["stop", "StopAll", "UNSUBSCRIBE", "cancel", "end", "quit", "revoke", "optout"]):
            self.stop(f"+1555123{i:04d}", "+15550100002", word)
        self.assertEqual(OptOut.objects.filter(church=self.hope, opted_out=True).count(), 8)
        self.stop("+15551239999", "+15550100002", "stop texting me about the picnic")
        self.assertFalse(OptOut.objects.filter(phone="+15551239999").exists())

    def test_it_opts_back_in_on_start_and_keeps_the_first_stop_on_a_retry(self):
        self.stop("+15551230000", "+15550100001")
        first = OptOut.objects.get(phone="+15551230000").changed_at
        self.stop("+15551230000", "+15550100001")  # Twilio retrying the webhook
        self.assertEqual(OptOut.objects.get(phone="+15551230000").changed_at, first)
        for word in ("START", "unstop", "Yes"):
            self.stop("+15551230000", "+15550100001", word)
            self.assertFalse(OptOut.objects.get(phone="+15551230000").opted_out)

    def test_it_opts_out_every_church_sharing_the_default_number(self):
        third = type(self.grace).objects.create(name="Third", slug="third")
        self.stop("+15551230000", SHARED)
        self.assertEqual(set(OptOut.objects.values_list("church_id", flat=True)), {third.pk})

    def test_it_ignores_replies_to_a_number_no_church_uses(self):
        self.assertEqual(self.stop("+15551230000", "+15559999999").status_code, 200)
        self.assertFalse(OptOut.objects.exists())

    def _sent_delivery(self, church, sid: str) -> Delivery:
        member = people(church, 1)[0]
        message = confirm(church, self.alice if church == self.grace else self.charlie, members=[member])
        delivery = Delivery.objects.get(message=message)
        Delivery.objects.filter(pk=delivery.pk).update(state="sent", provider_sid=sid, attempts=1)
        Message.objects.filter(pk=message.pk).update(n_queued=0, n_sent=1)
        return delivery

    def status(self, sid: str, status: str, sender: str = "+15550100001", **extra):
        return self.post("/sms/status/", {"MessageSid": sid, "MessageStatus": status, "From": sender, **extra})

    def test_it_moves_a_delivery_forward_and_never_back(self):
        delivery = self._sent_delivery(self.grace, "SMgrace1")
        self.assertEqual(self.status("SMgrace1", "delivered").status_code, 204)
        delivery.refresh_from_db()
        self.assertEqual(delivery.state, "delivered")
        for late in ("sent", "failed", "undelivered", "queued"):
            self.status("SMgrace1", late, ErrorCode="30003")
        delivery.refresh_from_db()
        self.assertEqual(delivery.state, "delivered")
        counts = Message.objects.get(pk=delivery.message_id).counts()
        self.assertEqual((counts["delivered"], counts["sent"], counts["failed"]), (1, 0, 0))

    def test_it_records_an_undelivered_text_with_the_carriers_reason(self):
        delivery = self._sent_delivery(self.grace, "SMgrace2")
        self.status("SMgrace2", "undelivered", ErrorCode="30006")
        self.status("SMgrace2", "undelivered", ErrorCode="30006")  # a retried callback
        delivery.refresh_from_db()
        self.assertEqual((delivery.state, delivery.error_code), ("failed", "30006"))
        self.assertIn("landline", delivery.error_reason)
        self.assertEqual(Message.objects.get(pk=delivery.message_id).n_failed, 1)

    def test_it_leaves_another_churchs_delivery_alone(self):
        delivery = self._sent_delivery(self.grace, "SMgrace3")
        # The id of Grace's text, but from Hope's number.
        self.status("SMgrace3", "failed", sender="+15550100002", ErrorCode="30005")
        delivery.refresh_from_db()
        self.assertEqual(delivery.state, "sent")

    def test_it_keeps_a_callback_that_beats_the_senders_commit(self):
        from messaging import services

        member = people(self.grace, 1)[0]
        message = confirm(self.grace, self.alice, members=[member])
        self.status("SMearly", "delivered")
        self.assertTrue(PendingStatus.objects.filter(provider_sid="SMearly").exists())
        delivery = Delivery.objects.get(message=message)
        Delivery.objects.filter(pk=delivery.pk).update(state="sending", claimed_by="w", attempts=1)
        Message.objects.filter(pk=message.pk).update(n_queued=0, n_sending=1)
        delivery.refresh_from_db()
        services._settle(delivery, "w", lambda d: services._sent(d, "SMearly", 10.0))
        delivery.refresh_from_db()
        self.assertEqual(delivery.state, "sent")
        self.assertIn("early_statuses=1", services.sweep())  # the periodic sweep applies it
        delivery.refresh_from_db()
        self.assertEqual(delivery.state, "delivered")
        self.assertFalse(PendingStatus.objects.exists())

    def test_it_rejects_get_and_refuses_nul_bytes(self):
        self.assertEqual(self.client.get("/sms/inbound/").status_code, 405)
        # The request guard refuses a NUL byte anywhere (security.middleware): nothing changes.
        self.assertEqual(self.stop("+15551230000", "+15550100001", "STOP\x00").status_code, 400)
        self.assertFalse(OptOut.objects.exists())
