"""HEAD is allowed wherever GET is, on every URL pattern (walked at runtime), the admin's too.

(Django's `require_GET` refuses HEAD with a 405; views use `require_safe`, or
`members.access.form_methods` for GET+POST form pages.)
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse

from tests.base import FlockTestCase
from tests.security.walk import PARAMS, WalkFixtures, all_patterns, who


class HttpMethodsTestCase(WalkFixtures, FlockTestCase):
    def assert_head_like_get(self, url: str, params: dict) -> bool:
        get = self.client.get(url, params)
        if get.status_code == 405:
            self.assertEqual(self.client.head(url, params).status_code, 405, url)
            return False
        head = self.client.head(url, params)
        self.assertEqual(head.status_code, get.status_code, f"HEAD {url}")
        body = b"".join(head.streaming_content) if head.streaming else head.content
        self.assertEqual(body, b"", f"HEAD {url} has a body")
        return True

    def test_it_answers_head_wherever_get_is_answered(self):
        answered = set()
        for name, route, converters in all_patterns():
            self.log_in_as(who(route))
            with self.subTest(name=name):
                if self.assert_head_like_get(self.url_for(name, converters), PARAMS.get(name, {})):
                    answered.add(name)
        for name in ("member_list", "member_detail", "member_edit", "group_detail", "dashboard", "member_export",
                     "attendance_record", "login", "healthz", "readyz", "api_cache_metrics"):
            self.assertIn(name, answered)

    def test_it_answers_head_on_the_admins_changelists(self):
        self.login(self.dana)
        for model in admin.site._registry:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            self.assertTrue(self.assert_head_like_get(url, {}), url)
