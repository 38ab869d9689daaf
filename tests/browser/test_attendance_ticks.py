"""Attendance that cannot lose work, in Debian's Chromium (static/js/attendance.js).

The checklist shows 100 people a page. Ticks made on one page, then on another, then in a search
are all recorded by ONE press of "Save attendance"; a box ticked on a page left and come back to
is still ticked; leaving the session with unsaved ticks asks first; an untick of someone saved
earlier, made on another page, is saved too; the start form puts a group's meeting day in the
date. (Without the script the checklist saves page by page: tests/attendance/test_save_view.py.)
"""

from __future__ import annotations

import re

import pytest

from tests.browser.test_staff_flow import (  # noqa: F401  (fixtures)
    PASSWORD, TIMEOUT_MS, _allow_orm_next_to_playwright, browser,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def big_church(transactional_db):
    from members import tallies
    from members.models import Church, Group, Member, User

    grace = Church.objects.create(name="Grace Church", slug="grace")
    Member.objects.bulk_create([Member(church=grace, first_name=f"Ann{i:03d}", last_name="Able") for i in range(150)]
                               + [Member(church=grace, first_name="Zed", last_name="Zebedee")])
    Group.objects.create(church=grace, name="Tuesday group", meeting_day=1)
    tallies.rebuild_church(grace.id)
    User.objects.create_user("alice", "alice@grace.test", PASSWORD, church=grace)
    return grace


def _box(page, first_name: str):
    return page.locator("label", has_text=first_name).locator("input[type=checkbox]")


def test_one_save_records_the_ticks_of_every_page_and_search(browser, live_server, big_church):
    from django.db import connections

    from attendance.models import Attendance
    from members.models import Member
    from members.timezones import church_today, most_recent_weekday

    sunday = most_recent_weekday(church_today(big_church), big_church.service_day)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    try:
        page.goto("/accounts/login/?next=/attendance/")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(re.compile(r"/attendance/$"))
        # The start form: the service opens on Sunday, the group on its meeting day (a Tuesday).
        assert page.input_value("input[name=date]") == sunday.isoformat()
        page.select_option("select[name=group]", label="Tuesday group")
        assert page.input_value("input[name=date]") == most_recent_weekday(church_today(big_church), 1).isoformat()
        page.select_option("select[name=group]", label="Service")
        page.click("#start-form button[type=submit]")
        page.wait_for_url(re.compile(rf"date={sunday.isoformat()}"))

        _box(page, "Ann000").check()
        _box(page, "Ann001").check()
        page.click("a[rel=next]")  # page 2: no warning, the ticks are kept
        page.wait_for_url(re.compile(r"page=2"))
        assert "2 unsaved ticks (2 on other pages or searches)" in page.inner_text("[data-pending]")
        _box(page, "Ann120").check()
        page.fill("input[name=q]", "Zebedee")
        page.click("form[role=search] button[type=submit]")
        page.wait_for_url(re.compile(r"q=Zebedee"))
        _box(page, "Zed").check()
        page.click("a[data-keeps-ticks]:has-text('Clear')")
        page.wait_for_url(re.compile(r"record/\?date=[^&]*&group=$"))
        assert _box(page, "Ann000").is_checked()  # came back to page 1: still ticked
        assert dialogs == []
        with page.expect_navigation():
            page.click("form[data-attendance-form] button.primary")
        assert "Attendance saved for Service" in page.inner_text("main")
        assert "saved=" not in page.url
        present = set(Attendance.objects.filter(church=big_church, date=sunday, group=None)
                      .values_list("member__first_name", flat=True))
        assert present == {"Ann000", "Ann001", "Ann120", "Zed"}
        assert page.locator("[data-pending]").is_hidden()  # forgotten once saved

        # Untick someone saved, on page 1; tick someone on page 2; one save does both.
        _box(page, "Ann001").uncheck()
        page.click("a[rel=next]")
        page.wait_for_url(re.compile(r"page=2"))
        _box(page, "Ann130").check()
        with page.expect_navigation():
            page.click("form[data-attendance-form] button.primary")
        present = set(Attendance.objects.filter(church=big_church, date=sunday, group=None)
                      .values_list("member__first_name", flat=True))
        assert present == {"Ann000", "Ann120", "Ann130", "Zed"}

        # Unsaved ticks and leaving the session: asked first (and staying keeps them).
        _box(page, "Ann140").check()
        with page.expect_event("dialog") as asked:
            page.evaluate("setTimeout(() => { window.location.href = '/dashboard/'; }, 0)")
        assert asked.value.type == "beforeunload"
        assert "/attendance/record/" in page.url
        assert _box(page, "Ann140").is_checked()
        assert Member.objects.filter(church=big_church).count() == 151
    finally:
        context.close()
        connections.close_all()  # see test_staff_flow: ORM calls next to Playwright opened a connection
