"""The pages work in a real browser under Flock's Content-Security-Policy: no violation is
reported on the staff pages or the admin, the member list's "select all" box ticks the page,
and removing someone from a group asks first (both from static/js/flock.js, not inline code).

Chromium through Playwright, as tests/browser/test_staff_flow.py (whose fixtures it uses).
"""

from __future__ import annotations

import re

import pytest

from tests.browser.test_staff_flow import (  # noqa: F401  (fixtures)
    PASSWORD, TIMEOUT_MS, _allow_orm_next_to_playwright, browser, grace_staff,
)

pytestmark = pytest.mark.browser


def _log_in(page, username: str, next_url: str) -> None:
    page.goto(f"/accounts/login/?next={next_url}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(next_url) + "$"))


def test_the_pages_run_under_the_policy(browser, live_server, grace_staff):
    from django.db import connections

    from members import tallies
    from members.models import Group, Member, Membership, User

    member = Member.objects.filter(church=grace_staff.church).first()
    group = Group.objects.create(church=grace_staff.church, name="Choir")
    Membership.objects.create(group=group, member=member)
    tallies.rebuild_church(grace_staff.church_id)  # written with the ORM: count the group's size
    User.objects.create_superuser("dana", "dana@flock.test", PASSWORD)
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        _log_in(page, grace_staff.username, "/members/")
        boxes = page.locator("input[name=member_ids]")
        assert boxes.count() == 3
        page.check("input[data-select-all]")
        assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
        page.uncheck("input[data-select-all]")
        assert not any(boxes.nth(i).is_checked() for i in range(boxes.count()))

        page.goto(f"/groups/{group.pk}/")
        page.click("form[data-confirm] button[type=submit]")
        assert dialogs and dialogs[0].startswith("Remove Existing"), dialogs
        assert Membership.objects.filter(group=group).exists()  # dismissed: nothing removed

        for url in ("/dashboard/", f"/members/{member.pk}/", "/attendance/", "/groups/", f"/members/{member.pk}/edit/"):
            page.goto(url)
        context.clear_cookies()
        _log_in(page, "dana", "/admin/")
        for url in ("/admin/members/member/", f"/admin/members/member/{member.pk}/change/", "/admin/cache/",
                    "/admin/members/membership/add/"):
            page.goto(url)
        assert violations == [], violations
    finally:
        context.close()
        connections.close_all()  # see test_staff_flow: the ORM calls above opened a connection
