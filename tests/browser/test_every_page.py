"""Every staff page on a phone (390x844) and on a desktop (1280x800), in Debian's Chromium.

The pages are found at runtime from the URL patterns (tests/members/test_access.py's walk, with
its table of path arguments), so a page added later (messaging's included) is walked as soon as
its pattern exists. On each, at both sizes:
- no sideways scrolling of the page: document.documentElement.scrollWidth <= innerWidth (tables
  reflow to cards or scroll inside their own box);
- no two checklist labels overlap;
- touch targets (buttons, fields, boxes with their labels, navigation, pagination and table
  links) are at least 44 px tall (phone);
- the navigation is collapsed behind its Menu button on the phone, and opens;
- axe-core (tests/browser/tooling, from npm: injected from node_modules, nothing fetched) finds no
  serious or critical violation.
A full-page screenshot of each goes to the test's temporary folder (and to $SHOTS_DIR when set,
for a person to look at). The Content-Security-Policy is bypassed in this test only, so that
axe's script can be injected: tests/browser/test_content_security_policy.py checks the policy.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest

from tests.browser.test_staff_flow import (  # noqa: F401  (fixtures)
    CHROMIUM_ARGS, PASSWORD, TIMEOUT_MS, _allow_orm_next_to_playwright, _unavailable, browser,
)

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "tooling" / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
# Query parameters a page needs to show what it is about (the rest open as they are).
PAGE_PARAMS = {"attendance_record": {"group": ""}}
TOUCH = ("main button, main .button, main select, main input:not([type=hidden]):not([type=checkbox]), "
         "main textarea, .topbar a, .topbar button, .pagination a, main td a, main dd a, main a.target")
LONG_EMAIL = "bartholomew.featherstonehaugh-wolfeschlegel@a-rather-long-example-domain.org"


def _make_grace(transactional_db):
    """Grace with people (long names and emails: what broke the checklist), a group with its
    roster and leader, attendance, a head count and a text; Hope with one person."""
    from attendance.services import attendance_record, attendance_set_head_count
    from members import services, tallies
    from members.models import Church, Group, Member, Membership, User
    from members.timezones import church_today
    from tests.members.test_access import make_grace_objects

    grace = Church.objects.create(name="Grace Church", slug="grace")
    hope = Church.objects.create(name="Hope Chapel", slug="hope")
    alice = User.objects.create_user("alice", "alice@grace.test", PASSWORD, church=grace)
    ns = SimpleNamespace(grace=grace, hope=hope, alice=alice)
    make_grace_objects(ns)
    statuses = ["visitor", "regular", "member", "inactive"]
    Member.objects.bulk_create([
        Member(church=grace, first_name=f"Person{i:03d}", last_name="Featherstonehaugh-Wolfeschlegelsteinhausen",
               email=f"p{i}.{LONG_EMAIL}", phone=f"+1808555{1000 + i}", status=statuses[i % 4],
               joined_on=datetime.date(2026, 1, 1) + datetime.timedelta(days=i), birth_date=datetime.date(1980, 5, 17))
        for i in range(30)
    ])
    tallies.rebuild_church(grace.id)
    people = list(Member.objects.filter(church=grace, first_name__startswith="Person").order_by("id")[:12])
    for person in people:
        Membership.objects.create(group=ns.group, member=person)
    Membership.objects.filter(group=ns.group, member=people[0]).update(role="leader")
    Group.objects.filter(pk=ns.group.pk).update(meeting_day=2, meeting_place="The Hall")
    tallies.rebuild_church(grace.id)
    from members.timezones import most_recent_weekday

    today = most_recent_weekday(church_today(grace), grace.service_day)  # the day the checklist opens on
    attendance_record(church=grace, date=today, group=None, present_member_ids=[p.pk for p in people[:5]],
                      shown_member_ids=[p.pk for p in people[:5]])
    attendance_set_head_count(church=grace, date=today, present=240)
    services.member_update(member=ns.member, data={
        "first_name": "Gia", "last_name": "Grace", "email": "gia@grace.test", "phone": "+18085550100",
        "status": "member", "joined_on": datetime.date(2024, 1, 1), "birth_date": datetime.date(1990, 2, 3)})
    return ns


def _pages(ns) -> list[tuple[str, str]]:
    """(name, URL) of every staff page a GET shows as HTML, from the URL patterns."""
    from django.test import Client

    from tests.members.test_access import OBJECT_KWARGS, PK_BY_NAME_PREFIX, VALUE_KWARGS, staff_patterns

    client = Client()
    client.force_login(ns.alice)
    pages = []
    for name, _, converters in staff_patterns():
        kwargs = {}
        for kwarg in converters:
            if kwarg in VALUE_KWARGS:
                kwargs[kwarg] = VALUE_KWARGS[kwarg]
            else:
                kind = OBJECT_KWARGS.get(kwarg) or next(k for p, k in PK_BY_NAME_PREFIX.items() if name.startswith(p))
                kwargs[kwarg] = getattr(ns, kind).pk
        from django.urls import reverse

        url = reverse(name, kwargs=kwargs)
        if name in PAGE_PARAMS and PAGE_PARAMS[name]:
            url += "?" + urlencode(PAGE_PARAMS[name])
        response = client.get(url, follow=True)
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            final = response.redirect_chain[-1][0] if response.redirect_chain else url
            pages.append((name, final))
    pages.append(("member_list_filtered", "/members/?status=visitor&sort=-joined"))
    pages.append(("attendance_record_group", f"/attendance/record/?group={ns.group.pk}"))
    pages.append(("member_detail_back", f"/members/{ns.member.pk}/?back=%2Fmembers%2F%3Fstatus%3Dmember"))
    return pages


def _log_in(page, next_url: str = "/dashboard/") -> None:
    page.goto(f"/accounts/login/?next={next_url}")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(next_url) + "$"))


def _overlaps(page) -> list[str]:
    return page.evaluate("""() => {
      const boxes = [...document.querySelectorAll('.checklist label')].map(l => [l.innerText.slice(0, 30), l.getBoundingClientRect()]);
      const found = [];
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const [a, r] = boxes[i], [b, s] = boxes[j];
        if (r.left < s.right - 0.5 && s.left < r.right - 0.5 && r.top < s.bottom - 0.5 && s.top < r.bottom - 0.5) found.push(a + ' / ' + b);
      }
      return found;
    }""")


def _small_targets(page) -> list[str]:
    return page.evaluate("""(selector) => {
      const small = [];
      const visible = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
      for (const e of document.querySelectorAll(selector)) {
        if (!visible(e)) continue;
        const r = e.getBoundingClientRect();
        if (r.height < 43.5) small.push(`${e.tagName.toLowerCase()} "${(e.innerText || e.value || e.name || '').trim().slice(0, 30)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
      }
      for (const box of document.querySelectorAll('main input[type=checkbox]')) {
        if (!visible(box)) continue;
        const target = box.closest('label') || box;
        const r = target.getBoundingClientRect();
        if (r.height < 43.5 || r.width < 43.5) small.push(`checkbox "${box.value}" ${Math.round(r.width)}x${Math.round(r.height)}`);
      }
      return small;
    }""", TOUCH)


def _axe(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
      const result = await axe.run(document, {resultTypes: ['violations']});
      return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => `${v.impact} ${v.id}: ${v.help} (${v.nodes.length}x, e.g. ${v.nodes.slice(0, 2).map(n => n.target.join(' ')).join(' | ')})`);
    }""")
    return found


def test_every_staff_page_fits_a_phone_and_a_desktop_and_passes_axe(browser, live_server, transactional_db, tmp_path):
    from django.conf import settings
    from django.db import connections

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        # Layout and accessibility do not depend on the database: walked once, in the embedded pass
        # (~40 s), not again in the PostgreSQL one.
        pytest.skip("walked in the embedded pass of make test")

    if not AXE.exists():
        _unavailable(f"axe-core is not installed at {AXE} (make tooling: npm ci in tests/browser/tooling)")
    ns = _make_grace(transactional_db)
    pages = _pages(ns)
    names = {name for name, _ in pages}
    for expected in ("dashboard", "member_list", "member_detail", "member_edit", "member_new", "member_import",
                     "group_list", "group_detail", "group_edit", "attendance_list", "attendance_record",
                     "message_list", "message_new", "message_detail"):
        assert expected in names, (expected, sorted(names))
    shots = [tmp_path]
    if os.environ.get("SHOTS_DIR"):
        shots.append(Path(os.environ["SHOTS_DIR"]))
        shots[-1].mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    try:
        for size, (width, height) in SIZES.items():
            context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": height},
                                          bypass_csp=True)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            try:
                _log_in(page)
                for name, url in pages:
                    page.goto(url)
                    where = f"{size} {url}"
                    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                    if scroll > inner:
                        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
                          .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                          .slice(0, 3).map(e => e.tagName.toLowerCase() + '.' + e.className)""")
                        problems.append(f"{where}: {scroll}px wide in a {inner}px window ({wide})")
                    problems += [f"{where}: checklist labels overlap: {pair}" for pair in _overlaps(page)]
                    if size == "phone":
                        problems += [f"{where}: touch target under 44 px: {t}" for t in _small_targets(page)]
                        toggle = page.locator("[data-nav-toggle]")
                        if not toggle.is_visible() or page.locator("#mainnav").is_visible():
                            problems.append(f"{where}: the navigation does not collapse behind Menu")
                    problems += [f"{where}: axe: {v}" for v in _axe(page)]
                    for folder in shots:
                        page.screenshot(path=str(folder / f"{name}-{size}.png"), full_page=True)
                    for folder in shots[1:]:  # and its first screens, small enough to look at
                        tall = page.evaluate("document.documentElement.scrollHeight")
                        page.screenshot(path=str(folder / f"top-{name}-{size}.png"), full_page=True,
                                        clip={"x": 0, "y": 0, "width": width, "height": min(tall, 2 * height)})
                if size == "phone":
                    page.goto("/members/")
                    page.click("[data-nav-toggle]")
                    assert page.locator("#mainnav").is_visible()
                    assert page.get_attribute("[data-nav-toggle]", "aria-expanded") == "true"
                    page.screenshot(path=str(tmp_path / "nav-open-phone.png"))
                    for folder in shots[1:]:
                        shutil.copy(tmp_path / "nav-open-phone.png", folder / "nav-open-phone.png")
            finally:
                context.close()
        assert not problems, "\n".join(problems)
        assert len(list(tmp_path.glob("*-phone.png"))) == len(pages) + 1
        assert len(list(tmp_path.glob("*-desktop.png"))) == len(pages)
    finally:
        connections.close_all()  # see test_staff_flow: ORM calls next to Playwright opened a connection
