"""Attendance pages: recent sessions with a start form, and the checklist to tick (with a head
count for the service and a first-time visitor form)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import dateformat
from django.views.decorators.http import require_POST, require_safe

from members.access import get_for_church, staff_view
from members.forms import MemberForm
from members.models import Church, Group
from members.timezones import church_today, most_recent_weekday

from . import selectors, services
from .forms import SERVICE_LABEL, HeadCountForm, SessionForm

# The browser's name for one save (static/js/attendance.js): echoed back on success as `?saved=`,
# so that it forgets exactly the ticks that were saved.
SAVE_TOKEN = re.compile(r"^[A-Za-z0-9]{8,40}$")
VISITOR_FIELDS = ("first_name", "last_name", "email", "phone")


def default_date(church: Church, group: Group | None):
    """The date attendance opens on: the most recent service day (a church setting, Sunday by
    default) for the service, the group's most recent meeting day for a group (today when it
    has none), never after today where the church is."""
    day = group.meeting_day if group is not None else church.service_day
    return most_recent_weekday(church_today(church), day)


def _render_list(request: HttpRequest, form: SessionForm, status: int = 200) -> HttpResponse:
    ctx = {
        "nav": "attendance",
        "form": form,
        "groups": selectors.attendance_group_choices(church=request.church),
        "selected_group": str(form["group"].value() or ""),
        "today": church_today(request.church),
        "service_date": default_date(request.church, None),
        "sessions": selectors.attendance_sessions(church=request.church, page=request.GET.get("page")),
    }
    return render(request, "attendance/list.html", ctx, status=status)


def _checklist_url(date, group: Group | None, q: str = "", page: str | int | None = None, *,
                   inactive: bool = False, saved: str = "") -> str:
    params = {"date": date.isoformat(), "group": group.id if group else ""}
    if q:
        params["q"] = q
    if page and str(page) != "1":
        params["page"] = page
    if inactive:
        params["inactive"] = "1"
    if saved:
        params["saved"] = saved
    return f"{reverse('attendance_record')}?{urlencode(params)}"


@require_safe
@staff_view
def attendance_list(request: HttpRequest) -> HttpResponse:
    return _render_list(request, SessionForm(church=request.church,
                                             initial={"date": default_date(request.church, None)}))


@require_safe
@staff_view
def attendance_record(request: HttpRequest) -> HttpResponse:
    if not (request.GET.get("date") or "").strip():
        # No date (the group page's link, a bookmark): the session's most recent meeting day.
        form = SessionForm({"date": church_today(request.church).isoformat(), "group": request.GET.get("group", "")},
                           church=request.church)
        if form.is_valid():
            group_id = form.cleaned_data["group"]
            group = get_for_church(Group.objects, request.church, pk=group_id) if group_id else None
            return redirect(_checklist_url(default_date(request.church, group), group))
    form = SessionForm(request.GET, church=request.church)
    if not form.is_valid():
        return _render_list(request, form, status=400)
    date, group_id = form.cleaned_data["date"], form.cleaned_data["group"]
    group = get_for_church(Group.objects, request.church, pk=group_id) if group_id else None
    try:
        services.attendance_check_session(church=request.church, date=date, group=group)
    except ValidationError as exc:
        form.add_error(None, exc)
        return _render_list(request, form, status=400)
    include_inactive = request.GET.get("inactive") == "1"
    checklist = selectors.attendance_checklist(
        church=request.church, date=date, group=group, q=request.GET.get("q", ""), page=request.GET.get("page"),
        include_inactive=include_inactive,
    )
    head_count = 0 if group else selectors.attendance_head_count(church=request.church, date=date)
    session_query = {"date": date.isoformat(), "group": group.id if group else ""}
    ctx = {
        "nav": "attendance",
        "date": date,
        "group": group,
        "session_name": group.name if group else SERVICE_LABEL,
        # The browser keeps unsaved ticks under this name (one church, date and session).
        "session_key": f"{request.church.id}:{date.isoformat()}:{group.id if group else 'service'}",
        "checklist": checklist,
        "head_count": head_count,
        "head_count_form": HeadCountForm(initial={"present": head_count or None}),
        "visitor_form": MemberForm(church=request.church),
        "page_query": urlencode({**session_query, "q": checklist.q, **({"inactive": "1"} if include_inactive else {})}),
        "inactive_url": _checklist_url(date, group, checklist.q, inactive=not include_inactive),
        "clear_url": _checklist_url(date, group, inactive=include_inactive),
    }
    return render(request, "attendance/record.html", ctx)


def _session(request: HttpRequest) -> tuple[SessionForm, object, Group | None]:
    """The posted session (date, group): the form, and (date, group) when valid (else None, None)."""
    form = SessionForm(request.POST, church=request.church)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return form, None, None
    group_id = form.cleaned_data["group"]
    group = get_for_church(Group.objects, request.church, pk=group_id) if group_id else None
    return form, form.cleaned_data["date"], group


def _id_list(request: HttpRequest, name: str) -> list[str]:
    """Ids posted one per field (`present`), plus those of the comma-separated `<name>_ids`
    that the browser fills with the ticks of other pages (one field: no form-field limit)."""
    joined = request.POST.get(f"{name}_ids", "")
    return request.POST.getlist(name) + [part for part in joined.split(",") if part.strip()]


def _back(request: HttpRequest, date, group: Group | None, *, saved: str = "") -> str:
    return _checklist_url(date, group, request.POST.get("q", "").strip(), request.POST.get("page"),
                          inactive=request.POST.get("inactive") == "1", saved=saved)


@require_POST
@staff_view
def attendance_save(request: HttpRequest) -> HttpResponse:
    _, date, group = _session(request)
    if date is None:
        return redirect("attendance_list")
    shown = request.POST.getlist("shown")
    # "Everyone on this page was here": the quick way to record a small group's meeting.
    present = shown + _id_list(request, "present") if request.POST.get("everyone") else _id_list(request, "present")
    try:
        result = services.attendance_record(
            church=request.church, date=date, group=group, present_member_ids=present, shown_member_ids=shown,
            absent_member_ids=_id_list(request, "absent"),
        )
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
        return redirect(_back(request, date, group) if not (group and group.archived) else reverse("attendance_list"))
    name = group.name if group else SERVICE_LABEL
    messages.success(
        request, f"Attendance saved for {name} on {dateformat.format(date, 'D j M Y')}: {result.headcount:,} present."
    )
    token = request.POST.get("token", "")
    return redirect(_back(request, date, group, saved=token if SAVE_TOKEN.match(token) else ""))


@require_POST
@staff_view
def attendance_head_count(request: HttpRequest) -> HttpResponse:
    _, date, group = _session(request)
    if date is None:
        return redirect("attendance_list")
    form = HeadCountForm(request.POST)
    if group is not None:
        messages.error(request, "A head count is for the service; a group's attendance is ticked by name.")
    elif not form.is_valid():
        for error in form.errors.get("present", []):
            messages.error(request, error)
    else:
        try:
            present = services.attendance_set_head_count(church=request.church, date=date,
                                                         present=form.cleaned_data["present"])
        except ValidationError as exc:
            for error in exc.messages:
                messages.error(request, error)
        else:
            when = dateformat.format(date, "D j M Y")
            messages.success(request, f"Head count saved for the service on {when}: {present:,} present."
                             if present else f"Head count removed for the service on {when}.")
    return redirect(_back(request, date, group))


@require_POST
@staff_view
def attendance_add_visitor(request: HttpRequest) -> HttpResponse:
    _, date, group = _session(request)
    if date is None:
        return redirect("attendance_list")
    form = MemberForm({name: request.POST.get(name, "") for name in VISITOR_FIELDS}, church=request.church)
    if not form.is_valid():
        for name, errors in form.errors.items():
            label = form.fields[name].label if name in form.fields else ""
            for error in errors:
                messages.error(request, f"{label}: {error}" if label else error)
        return redirect(_back(request, date, group))
    try:
        result = services.attendance_add_visitor(church=request.church, date=date, group=group,
                                                 data=form.cleaned_data)
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    else:
        messages.success(request, f"Added {result.member.full_name} as a visitor, marked present "
                                  f"({result.headcount:,} present).")
    return redirect(_back(request, date, group))
