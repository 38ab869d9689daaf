from __future__ import annotations

from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from cachemon.db_queries import UNRESOLVED, view_label
from tests.base import PASSWORD, FlockTestCase


def counted(view: str) -> float:
    return REGISTRY.get_sample_value("flock_db_queries_total", {"view": view}) or 0.0


class DBQueriesTestCase(FlockTestCase):
    def test_it_counts_exactly_the_statements_of_a_request(self):
        self.login(self.dana)
        before = counted("admin:index")
        with CaptureQueriesContext(connection) as ran:
            response = self.client.get("/admin/")
        self.assertEqual(response.status_code, 200)
        self.assertGreater(len(ran), 0)
        self.assertEqual(counted("admin:index") - before, len(ran))

    def test_it_counts_the_statements_of_the_login_post(self):
        before = counted("login")
        with CaptureQueriesContext(connection) as ran:
            response = self.client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
        self.assertEqual(response.status_code, 302)
        self.assertGreater(len(ran), 0)
        self.assertEqual(counted("login") - before, len(ran))

    def test_it_counts_nothing_for_a_request_without_sql(self):
        before = counted("login")
        with CaptureQueriesContext(connection) as ran:
            response = self.client.get("/accounts/login/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(ran), 0)
        self.assertEqual(counted("login"), before)

    def test_it_counts_a_staff_page_under_its_url_name(self):
        self.login(self.alice)
        before = counted("member_list")
        with CaptureQueriesContext(connection) as ran:
            response = self.client.get("/members/")
        self.assertEqual(response.status_code, 200)
        self.assertGreater(len(ran), 0)
        self.assertEqual(counted("member_list") - before, len(ran))

    def test_it_labels_requests_that_reach_no_view_unresolved(self):
        self.assertEqual(view_label(RequestFactory().get("/no-such-page/")), UNRESOLVED)
        response = self.client.get("/no-such-page/")
        self.assertEqual(response.status_code, 404)
        # The label is the URL name, never the path: no per-path series appear.
        self.assertIsNone(REGISTRY.get_sample_value("flock_db_queries_total", {"view": "/no-such-page/"}))
