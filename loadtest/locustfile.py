"""Locust load test of Flock: church staff going about their day, with occasional edits.

    make loadtest        # starts its own Gunicorn on 127.0.0.1, 20 users, 60 s, writes docs/loadtest.md
    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000     # the web UI, by hand

Accounts: `LOADTEST_ACCOUNTS="user:password,user2:password"`, or a file of
`username password` lines in `LOADTEST_ACCOUNTS_FILE` (default `var/bench/accounts.txt`,
written by `make bench` / `make loadtest` from the seeded database). Users take the
accounts in turn; several users may share one account (each has its own session).

Every user logs in once through the login form (CSRF token and all), then keeps clicking
through `StaffMix`: the dashboard most, member lists, deep pages, searches and profiles,
groups and rosters, attendance pages, texts when the messaging pages exist, and now and then
an edit of a member (a write: it invalidates the church's cached lists and member pages, so the
next readers pay a miss, as in real life). `make capacity` drives the same `StaffMix` open-loop
(scripts/bench/openloop.py), with the ids to visit handed in (`StaffMix.targets`) instead of
collected from the pages.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import sys
import threading
from pathlib import Path

from locust import HttpUser, TaskSet, between, task

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "bench"))
from common import form_fields  # noqa: E402  (the bench's form reader: one parser for both)

# Name prefixes staff type into the search box (the demo data's common names), and phone digits.
SEARCH_TERMS = ("smit", "john", "garc", "mart", "will", "brow", "nguy", "lee", "pate", "davi", "mari",
                "jame", "sara", "lopez", "kim", "chen", "okaf", "wang", "+1212", "example.org")
AREA_CODES = (212, 312, 415, 503, 617, 713, 917)
# Requests each task sends (every other task sends one): the edit opens the form, then saves it.
REQUESTS_PER_TASK = {"member_edit": 2}
# Pages a helper may not have built yet on this branch: their task is skipped, with a note, when
# the page answers 404 (`make capacity` probes them first and leaves them out of the mix).
OPTIONAL_PAGES = {"messages": "/messages/"}
SKIPPED: set[str] = set()


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


def task_weights() -> dict[str, int]:
    """Each task of the mix and its weight (what the reports state)."""
    return {fn.__name__: StaffMix.tasks.count(fn) for fn in dict.fromkeys(StaffMix.tasks)}


class StaffMix(TaskSet):
    """A church staff member: mostly reading, sometimes editing a person's details.

    With `targets` set (a dict of `member_ids`, `group_ids`, `terms`, `sessions`: attendance
    checklist paths) the tasks pick from it and read no ids off the pages; otherwise ids are
    collected as the user browses."""

    targets: dict | None = None

    def on_start(self) -> None:
        t = self.targets or {}
        self.member_ids: list[int] = list(t.get("member_ids", []))
        self.group_ids: list[int] = list(t.get("group_ids", []))
        self.sessions: list[str] = list(t.get("sessions", []))
        self.terms: list[str] = list(t.get("terms", [])) or list(SEARCH_TERMS)
        self.next_url: str | None = t.get("next_url")
        if not self.targets:
            self._refresh_ids(self._get("/members/", "/members/"))

    # --- helpers -------------------------------------------------------------------------
    def _get(self, path: str, name: str) -> str:
        """GET a staff page: anything but a 200 that is not the login page is a failure."""
        with self.client.get(path, name=name, catch_response=True) as resp:
            text = resp.text or ""
            if resp.status_code != 200:
                resp.failure(f"status {resp.status_code}")
            elif "/accounts/login/" in (resp.url or ""):
                resp.failure("redirected to the login page (session lost)")
            return text

    def _refresh_ids(self, html: str) -> None:
        if self.targets:
            return
        ids = [int(i) for i in re.findall(r'href="/members/(\d+)/"', html)]
        if ids:
            self.member_ids = ids
        nxt = re.search(r'href="([^"]*[?&;]after=[^"]*)" rel="next"', html)
        if nxt:
            self.next_url = nxt.group(1).replace("&amp;", "&")

    # --- the mix -------------------------------------------------------------------------
    @task(10)
    def dashboard(self) -> None:
        with self.client.get("/dashboard/", name="/dashboard/", catch_response=True) as resp:
            if resp.status_code != 200 or 'data-stat="members_total"' not in (resp.text or ""):
                resp.failure(f"dashboard without its members_total figure (status {resp.status_code})")

    @task(6)
    def member_list(self) -> None:
        self._refresh_ids(self._get("/members/", "/members/"))

    @task(2)
    def member_list_deeper(self) -> None:
        page = random.randint(2, 200)
        self._refresh_ids(self._get(f"/members/?page={page}", "/members/?page=N"))

    @task(1)
    def member_list_next(self) -> None:
        """Next from a page (a signed keyset cursor, `?after=`): what staff do after a typed page."""
        if self.next_url:
            url = self.next_url if self.next_url.startswith("/") else f"/members/{self.next_url}"
            self._get(url, "/members/?after= (Next)")

    @task(3)
    def member_search(self) -> None:
        self._refresh_ids(self._get(f"/members/?q={random.choice(self.terms)}", "/members/?q=…"))

    @task(5)
    def member_detail(self) -> None:
        if self.member_ids:
            self._get(f"/members/{random.choice(self.member_ids)}/", "/members/[id]/")

    @task(2)
    def group_list(self) -> None:
        html = self._get("/groups/", "/groups/")
        if not self.targets:
            ids = [int(i) for i in re.findall(r'href="/groups/(\d+)/"', html)]
            if ids:
                self.group_ids = ids[:200]

    @task(2)
    def group_roster(self) -> None:
        if self.group_ids:
            self._get(f"/groups/{random.choice(self.group_ids)}/", "/groups/[id]/")

    @task(2)
    def attendance_list(self) -> None:
        html = self._get("/attendance/", "/attendance/")
        if not self.targets:
            links = re.findall(r'href="(/attendance/record/\?[^"]+)"', html)
            if links:
                self.sessions = [link.replace("&amp;", "&") for link in links]

    @task(1)
    def attendance_checklist(self) -> None:
        if self.sessions:
            self._get(random.choice(self.sessions), "/attendance/record/")

    @task(1)
    def messages(self) -> None:
        if "messages" in SKIPPED:
            return
        with self.client.get(OPTIONAL_PAGES["messages"], name="/messages/", catch_response=True) as resp:
            if resp.status_code == 404:
                # Not built on this branch: leave it out from now on instead of counting failures.
                SKIPPED.add("messages")
                resp.success()
            elif resp.status_code != 200:
                resp.failure(f"status {resp.status_code}")

    @task(1)
    def member_edit(self) -> None:
        """Open a member's edit form and save a new phone number (a write, with invalidation)."""
        if not self.member_ids:
            return
        member_id = random.choice(self.member_ids)
        url = f"/members/{member_id}/edit/"
        form = form_fields(self._get(url, "/members/[id]/edit/ (form)"), having="first_name")
        if not form:
            return
        form["phone"] = f"+1{random.choice(AREA_CODES)}{random.randint(2_000_000, 9_999_999)}"
        with self.client.post(url, data=form, name="/members/[id]/edit/ (save)", catch_response=True) as resp:
            # A saved form redirects to the member's page; a re-rendered form means it was refused.
            if not re.search(rf"/members/{member_id}/$", resp.url or ""):
                resp.failure(f"edit not saved (ended at {resp.url}, status {resp.status_code})")


_accounts: list[tuple[str, str]] | None = None
_next_account = None
_account_lock = threading.Lock()


def _take_account() -> tuple[str, str]:
    global _accounts, _next_account
    with _account_lock:
        if _accounts is None:
            _accounts = load_accounts()
            _next_account = itertools.cycle(_accounts)
        return next(_next_account)


class StaffUser(HttpUser):
    """`make loadtest`: logs in through the form once, then browses with 0.5-2 s of think time."""

    wait_time = between(0.5, 2.0)
    tasks = [StaffMix]

    def on_start(self) -> None:
        self.username, password = _take_account()
        page = self.client.get("/accounts/login/", name="login form")
        fields = form_fields(page.text, having="username")
        fields.update(username=self.username, password=password)
        with self.client.post("/accounts/login/", data=fields, name="login", catch_response=True) as resp:
            if not resp.url.rstrip("/").endswith("/dashboard"):
                resp.failure(f"login as {self.username} did not land on the dashboard ({resp.url})")
                self.stop()
