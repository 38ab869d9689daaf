"""Walking every URL pattern at runtime, for the hardening tests (tests/security/).

The URL kwargs are filled from the one table of tests/members/test_access.py (OBJECT_KWARGS,
VALUE_KWARGS, PK_BY_NAME_PREFIX) with the objects its AccessTestCase makes, so a view added
later is walked here as soon as its pattern exists, and a path argument nobody knows fails
loudly there and here alike.

`PARAMS` is the other table: the query parameters each view reads, with a plausible value
(so that the walk reaches the code behind them). `recorded_params` watches which parameters
a view really reads; a view reading one that is not listed fails with the line to add.
"""

from __future__ import annotations

import contextlib
import datetime
from unittest import mock

from django.core.handlers.wsgi import WSGIRequest
from django.http import QueryDict
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.functional import cached_property

from tests.members.test_access import VALUE_KWARGS, AccessTestCase, make_grace_objects

# Not walked: the Django admin (its changelists are walked in test_odd_input through
# admin.site's registry) and static files.
SKIPPED_PREFIXES = ("admin/", "static/", "media/")
# Who each URL is walked as: the first prefix that matches; staff pages otherwise.
AS_ADMIN_PREFIXES = ("api/admin/",)
# (sms/: Twilio's webhooks, signature-checked rather than logged in.)
AS_ANONYMOUS_PREFIXES = ("accounts/", "healthz", "readyz", "metrics", "sms/")

DAY = VALUE_KWARGS.get("date", datetime.date(2026, 3, 1).isoformat())
# The query parameters each view reads, with a plausible value each (keys: URL names).
PARAMS: dict[str, dict[str, str]] = {
    "member_list": {"q": "gia", "page": "2", "after": "", "before": "", "status": "visitor", "group": "none",
                    "sort": "-joined", "new": "30"},
    "member_detail": {"page": "2", "back": "/members/?status=visitor"},
    "member_new": {},
    "member_edit": {},
    "member_delete": {},
    "member_import": {},
    "member_export": {"q": "gia", "status": "active", "group": "none", "sort": "joined", "new": "30"},
    "member_bulk_status": {},
    "group_list": {"archived": "1", "page": "2"},
    "group_new": {},
    "group_edit": {},
    "group_detail": {"find": "gia", "page": "2"},
    "membership_add": {},
    "membership_remove": {},
    "membership_role": {},
    "dashboard": {},
    "attendance_list": {"page": "2"},
    "attendance_record": {"date": DAY, "group": "", "q": "gia", "page": "2", "inactive": "1"},
    "attendance_save": {},
    "attendance_head_count": {},
    "attendance_add_visitor": {},
    "login": {"next": "/members/"},
    "logout": {},
    "healthz": {},
    "readyz": {},
    "prometheus_metrics": {},
    "api_cache_metrics": {},
    "api_cache_health": {},
    "api_cache_reset": {},
    "message_list": {"page": "2"},
    "message_new": {"group": "1"},
    "message_confirm": {},
    "message_detail": {"page": "2"},
    "message_cancel": {},
    "member_optout": {},
    "sms_status": {},
    "sms_inbound": {},
    "api_queue_health": {},
}
# Odd values every parameter is tried with (besides a NUL byte, which must answer 400).
ODD_VALUES = (
    "", " ", "-1", "0", "99999999999999999999999", "1e5", "abc", "%", "'\"\\", "<b>", "\u202egia",
    "ｇｉａ", "x" * 3000, "2026-02-30", "0001-01-01", "9999-12-31", "\n\t", "[]",
)
NUL_VALUES = ("\x00", "gia\x00")


def all_patterns() -> list[tuple[str, str, dict]]:
    """(name, route, converters) of every named URL pattern outside SKIPPED_PREFIXES."""
    found: list[tuple[str, str, dict]] = []

    def walk(patterns, prefix: str, converters: dict, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if route.startswith(SKIPPED_PREFIXES):
                continue
            entry_converters = {**converters, **getattr(entry.pattern, "converters", {})}
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, route, entry_converters, inner)
            elif isinstance(entry, URLPattern):
                if entry.name is None:
                    raise AssertionError(f"URL {route!r} has no name; name it so the walks can reverse it.")
                if entry.name != "home":  # "/" only redirects to the dashboard
                    found.append((namespace + entry.name, route, entry_converters))

    walk(get_resolver().url_patterns, "", {}, "")
    return found


def who(route: str) -> str:
    if route.startswith(AS_ADMIN_PREFIXES):
        return "admin"
    if route.startswith(AS_ANONYMOUS_PREFIXES):
        return "anonymous"
    return "staff"


class WalkFixtures:
    """Mixed into a FlockTestCase: AccessTestCase's objects of Grace, and its kwarg filling."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        make_grace_objects(cls)

    _grace_object = AccessTestCase._grace_object
    _url = AccessTestCase._url

    def url_for(self, name: str, converters: dict, **override) -> str:
        """The URL with Grace's objects filled in (or `override`'s values for some kwargs)."""
        if not override:
            return self._url(name, converters)[0]
        kwargs = {}
        for kwarg in converters:
            if kwarg in override:
                kwargs[kwarg] = override[kwarg]
            elif kwarg in VALUE_KWARGS:
                kwargs[kwarg] = VALUE_KWARGS[kwarg]
            else:
                kwargs[kwarg] = self._grace_object(name, kwarg).pk
        return reverse(name, kwargs=kwargs)

    def log_in_as(self, role: str) -> None:
        self.client.logout()
        if role == "staff":
            self.login(self.alice)
        elif role == "admin":
            self.login(self.dana)


class RecordingQueryDict(QueryDict):
    """A QueryDict that notes every key a view asks it for."""

    read: set[str] | None = None  # set once built: QueryDict's own __init__ uses `in`

    def _note(self, key) -> None:
        if self.read is not None and isinstance(key, str):
            self.read.add(key)

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._note(key)
        return super().get(key, default)

    def getlist(self, key, default=None):
        self._note(key)
        return super().getlist(key, default)

    def __contains__(self, key) -> bool:
        self._note(key)
        return super().__contains__(key)


@contextlib.contextmanager
def recorded_params():
    """Every request's GET becomes a RecordingQueryDict; yields the set of keys read."""
    read: set[str] = set()

    def get(request):
        query = RecordingQueryDict(request.environ.get("QUERY_STRING", ""), encoding=request._encoding)
        query.read = read
        return query

    prop = cached_property(get)
    prop.__set_name__(WSGIRequest, "GET")
    with mock.patch.object(WSGIRequest, "GET", prop):
        yield read


def check_params_known(name: str, read: set[str]) -> None:
    listed = PARAMS.get(name)
    if listed is None:
        raise AssertionError(
            f"URL {name!r} is not in PARAMS of {__name__}: add it with the query parameters its view reads "
            f"({sorted(read) or 'none'}), each with a plausible value, so that odd input is tried on it."
        )
    unknown = sorted(read - set(listed))
    if unknown:
        raise AssertionError(
            f"The view of {name!r} reads the query parameter(s) {unknown} that PARAMS[{name!r}] in {__name__} "
            f"does not list: add each with a plausible value, so that odd input is tried on it."
        )
