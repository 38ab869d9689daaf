"""Locust load test of Flock: church staff going about their day, with occasional edits.

    make loadtest        # starts its own Gunicorn on 127.0.0.1, 20 users, 60 s, writes docs/loadtest.md
    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000     # the web UI, by hand

Accounts: `LOADTEST_ACCOUNTS="user:password,user2:password"`, or a file of
`username password` lines in `LOADTEST_ACCOUNTS_FILE` (default `var/bench/accounts.txt`,
written by `make bench` / `make loadtest` from the seeded database). Users take the
accounts in turn; several users may share one account (each has its own session).

Every user logs in once through the login form (CSRF token and all), then keeps clicking:
the dashboard most, member lists, searches and profiles, groups and rosters, and now and
then edits a member (a write: it invalidates the church's cached dashboard and lists, so the
next readers pay a miss, as in real life).
"""

from __future__ import annotations

import itertools
import os
import random
import re
import threading
import sys
from pathlib import Path

from locust import HttpUser, between, task

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "bench"))
from common import form_fields  # noqa: E402  (the bench's form reader: one parser for both)
# Name prefixes staff type into the search box (the demo data's common names).
SEARCH_TERMS = ("smit", "john", "garc", "mart", "will", "brow", "nguy", "lee", "pate", "davi", "mari",
                "jame", "sara", "lopez", "kim", "chen", "okaf", "wang", "+1212", "example.org")
AREA_CODES = (212, 312, 415, 503, 617, 713, 917)


def load_accounts() -> list[tuple[str, str]]:
    raw = os.environ.get("LOADTEST_ACCOUNTS", "").strip()
    if raw:
        pairs = [item.split(":", 1) for item in raw.split(",") if ":" in item]
        return [(u.strip(), p.strip()) for u, p in pairs]
    path = Path(os.environ.get("LOADTEST_ACCOUNTS_FILE", ROOT / "var" / "bench" / "accounts.txt"))
    if not path.exists():
        raise SystemExit(f"No accounts: set LOADTEST_ACCOUNTS=user:password or LOADTEST_ACCOUNTS_FILE "
                         f"({path} does not exist; `make loadtest` writes it from the seeded database).")
    accounts = [tuple(line.split(None, 1)) for line in path.read_text().splitlines() if line.strip()]
    return [(u, p.strip()) for u, p in accounts]


ACCOUNTS = load_accounts()
_next_account = itertools.cycle(ACCOUNTS)
_account_lock = threading.Lock()


class StaffUser(HttpUser):
    """A church staff member: mostly reading, sometimes editing a person's details."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        with _account_lock:
            self.username, password = next(_next_account)
        page = self.client.get("/accounts/login/", name="login form")
        fields = form_fields(page.text, having="username")
        fields.update(username=self.username, password=password)
        with self.client.post("/accounts/login/", data=fields, name="login", catch_response=True) as resp:
            if not resp.url.rstrip("/").endswith("/dashboard"):
                resp.failure(f"login as {self.username} did not land on the dashboard ({resp.url})")
                self.stop()
                return
        self.member_ids: list[int] = []
        self.group_ids: list[int] = []
        self._refresh_ids(self.client.get("/members/", name="/members/").text)

    def _refresh_ids(self, html: str) -> None:
        ids = [int(i) for i in re.findall(r'href="/members/(\d+)/"', html)]
        if ids:
            self.member_ids = ids

    def _member_id(self) -> int | None:
        return random.choice(self.member_ids) if self.member_ids else None

    @task(10)
    def dashboard(self) -> None:
        with self.client.get("/dashboard/", name="/dashboard/", catch_response=True) as resp:
            if 'data-stat="members_total"' not in resp.text:
                resp.failure("dashboard without its members_total figure")

    @task(6)
    def member_list(self) -> None:
        self._refresh_ids(self.client.get("/members/", name="/members/").text)

    @task(2)
    def member_list_deeper(self) -> None:
        page = random.randint(2, 40)
        self._refresh_ids(self.client.get(f"/members/?page={page}", name="/members/?page=N").text)

    @task(3)
    def member_search(self) -> None:
        resp = self.client.get(f"/members/?q={random.choice(SEARCH_TERMS)}", name="/members/?q=…")
        self._refresh_ids(resp.text)

    @task(5)
    def member_detail(self) -> None:
        member_id = self._member_id()
        if member_id:
            self.client.get(f"/members/{member_id}/", name="/members/[id]/")

    @task(2)
    def group_list(self) -> None:
        resp = self.client.get("/groups/", name="/groups/")
        ids = [int(i) for i in re.findall(r'href="/groups/(\d+)/"', resp.text)]
        if ids:
            self.group_ids = ids[:200]

    @task(2)
    def group_roster(self) -> None:
        if self.group_ids:
            self.client.get(f"/groups/{random.choice(self.group_ids)}/", name="/groups/[id]/")

    @task(1)
    def member_edit(self) -> None:
        """Open a member's edit form and save a new phone number (a write, with invalidation)."""
        member_id = self._member_id()
        if not member_id:
            return
        url = f"/members/{member_id}/edit/"
        form = form_fields(self.client.get(url, name="/members/[id]/edit/ (form)").text, having="first_name")
        if not form:
            return
        form["phone"] = f"+1{random.choice(AREA_CODES)}{random.randint(2_000_000, 9_999_999)}"
        with self.client.post(url, data=form, name="/members/[id]/edit/ (save)", catch_response=True) as resp:
            # A saved form redirects to the member's page; a re-rendered form means it was refused.
            if not re.search(rf"/members/{member_id}/$", resp.url or ""):
                resp.failure(f"edit not saved (ended at {resp.url}, status {resp.status_code})")
