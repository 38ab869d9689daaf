"""Every write view hit twice at once never answers 500 (walked over every staff URL pattern).

Deterministic, no threads and no timing: request A (alice) runs, and after its k-th SQL
statement request B (bob, the same POST) runs from start to finish, for every k. That is each
way the two can interleave at statement boundaries under READ COMMITTED, except where A holds
row locks (a write or a SELECT ... FOR UPDATE inside its transaction), where a real B would
wait for A's commit: B then runs as soon as A's transaction has ended (on SQLite, whose
IMMEDIATE transactions lock the database when they begin, that is any statement of it). Each interleaving is
rolled back afterwards; A and B must both answer below 500, and the counters
(members.tallies, attendance.tallies) must still match the rows: nothing done twice.

A staff URL that accepts POST and has no entry in WRITES fails with the line to add.
"""

from __future__ import annotations

import contextlib

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client

from members import tallies
from messaging import services as messaging_services
from tests.base import FlockTestCase, clear_caches
from tests.security.walk import DAY, WalkFixtures, all_patterns, who

WRITE_SQL = ("INSERT", "UPDATE", "DELETE")


def _csv() -> SimpleUploadedFile:
    return SimpleUploadedFile("people.csv", b"first_name,last_name,email,phone\nRae,Race,rae@race.test,\n",
                              content_type="text/csv")


# What each write view is sent (keys: URL names); a callable gets the test case.
WRITES = {
    "member_new": lambda t: {"first_name": "Dee", "last_name": "Double", "email": "dee@grace.test", "phone": ""},
    "member_edit": lambda t: {"first_name": "Gia", "last_name": "Edited", "email": "gia@grace.test",
                              "phone": "+15550000001", "status": "member", "joined_on": "2024-01-01"},
    "member_delete": lambda t: {},
    "member_import": lambda t: {"file": _csv()},
    "member_bulk_status": lambda t: {"member_ids": [t.member.pk, t.other_member.pk], "status": "inactive"},
    "group_new": lambda t: {"name": "Twice", "kind": "other", "description": ""},
    "group_edit": lambda t: {"name": "Grace Choir", "kind": "other", "description": "", "archived": "on"},
    "membership_add": lambda t: {"member_id": t.other_member.pk},
    "membership_remove": lambda t: {},
    "membership_role": lambda t: {"role": "leader"},
    "message_new": lambda t: {"group": t.group.pk, "body": "Choir moves to 7pm"},
    # Signed for alice (request A); bob's copy (request B) is refused as another user's preview.
    "message_confirm": lambda t: {"token": messaging_services.draft_sign(
        church=t.grace, user=t.alice, draft=messaging_services.Draft(body="Choir moves to 7pm", group_id=t.group.pk))},
    "message_cancel": lambda t: {},
    "member_optout": lambda t: {"opted_out": "1"},
    "attendance_save": lambda t: {"date": DAY, "group": "", "shown": [t.member.pk, t.other_member.pk],
                                  "present": [t.other_member.pk], "absent_ids": f"{t.member.pk}"},
    "attendance_head_count": lambda t: {"date": DAY, "group": "", "present": "240"},
    "attendance_add_visitor": lambda t: {"date": DAY, "group": "", "first_name": "Vi", "last_name": "Visitor",
                                         "email": "vi@grace.test"},
}


class RacesTestCase(WalkFixtures, FlockTestCase):
    def setUp(self) -> None:
        self.login(self.alice)
        self.other = Client()
        self.other.force_login(self.bob)

    def write_urls(self) -> list[tuple[str, str]]:
        found = []
        for name, route, converters in all_patterns():
            if who(route) != "staff":
                continue
            url = self.url_for(name, converters)
            if name not in WRITES:
                with self.rolled_back():
                    accepts_post = self.client.post(url, {}).status_code != 405
                if accepts_post:
                    raise AssertionError(
                        f"{name!r} accepts POST but is not in WRITES of {__name__}: add what it is sent, "
                        f"so that two of its requests at once are tried."
                    )
                continue
            found.append((name, url))
        return found

    @contextlib.contextmanager
    def rolled_back(self):
        """A savepoint rolled back afterwards, whatever happened inside, from an empty cache."""
        clear_caches()
        with transaction.atomic():
            try:
                yield
            finally:
                transaction.set_rollback(True)

    def race(self, name: str, url: str, k: int) -> tuple[object, object, int]:
        """A's status, B's status (or the exception either raised), and A's statement count."""
        base = len(connection.atomic_blocks)
        # SQLite (transaction_mode IMMEDIATE) takes the database's write lock when a transaction
        # begins: nothing else writes until it ends (and it has no SELECT ... FOR UPDATE).
        whole_transaction_locks = connection.vendor == "sqlite"
        state = {"n": 0, "inside": False, "locked": False, "due": False, "b": None}

        def run_b() -> None:
            state["inside"], state["due"] = True, False
            try:
                state["b"] = self.other.post(url, WRITES[name](self)).status_code
            except Exception as exc:  # the view raised: what would have been a 500
                state["b"] = exc
            finally:
                state["inside"] = False

        def wrapper(execute, sql, params, many, context):
            if state["inside"]:
                return execute(sql, params, many, context)
            in_transaction = len(connection.atomic_blocks) > base
            if not in_transaction:
                state["locked"] = False
            if state["due"] and not state["locked"]:
                run_b()  # A's transaction is over: the B that waited for its locks goes now
            result = execute(sql, params, many, context)
            state["n"] += 1
            if in_transaction and (whole_transaction_locks or sql.lstrip().upper().startswith(WRITE_SQL)
                                   or "FOR UPDATE" in sql.upper()):
                state["locked"] = True
            if state["n"] == k and state["b"] is None:
                if state["locked"]:
                    state["due"] = True
                else:
                    run_b()
            return result

        with connection.execute_wrapper(wrapper):
            try:
                a = self.client.post(url, WRITES[name](self)).status_code
            except Exception as exc:
                a = exc
        if state["b"] is None:
            run_b()  # after A, start to finish
        return a, state["b"], state["n"]

    def test_it_never_answers_500_to_a_write_made_twice_at_once(self):
        urls = self.write_urls()
        self.assertGreaterEqual(len(urls), len(WRITES))
        interleavings = 0
        for name, url in urls:
            k, statements = 1, 1
            while k <= statements + 1:
                with self.subTest(url=url, after_statement=k), self.rolled_back():
                    a, b, statements = self.race(name, url, k)
                    for who_, outcome in (("A", a), ("B", b)):
                        if isinstance(outcome, Exception):
                            self.fail(f"{url}, B after A's statement {k}: {who_} raised "
                                      f"{type(outcome).__name__}: {outcome}")
                        self.assertLess(outcome, 500, f"{url}, B after A's statement {k}: {who_}")
                    self.assertEqual(tallies.drift(self.grace.id),
                                     {"member_buckets": 0, "group_sizes": 0, "attendance_days": 0},
                                     f"{url}, B after A's statement {k}: the counters no longer match the rows")
                interleavings += 1
                k += 1
        self.assertGreater(interleavings, 50)
