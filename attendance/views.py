"""Attendance pages: recent sessions with a start form, and the checklist to tick."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import dateformat
from django.views.decorators.http import require_POST, require_safe

from members.access import get_for_church, staff_view
from members.models import Group

from . import selectors, services
from .forms import SERVICE_LABEL, SessionForm


def _render_list(request: HttpRequest, form: SessionForm, status: int = 200) -> HttpResponse:
    ctx = {
        "nav": "attendance",
        "form": form,
        "groups": selectors.attendance_group_choices(church=request.church),
        "selected_group": str(form["group"].value() or ""),
        "sessions": selectors.attendance_sessions(church=request.church, page=request.GET.get("page")),
    }
    return render(request, "attendance/list.html", ctx, status=status)


def _checklist_url(date, group: Group | None, q: str = "", page: str | int | None = None) -> str:
    params = {"date": date.isoformat(), "group": group.id if group else ""}
    if q:
        params["q"] = q
    if page and str(page) != "1":
        params["page"] = page
    return f"{reverse('attendance_record')}?{urlencode(params)}"


@require_safe
@staff_view
def attendance_list(request: HttpRequest) -> HttpResponse:
    return _render_list(request, SessionForm())


@require_safe
@staff_view
def attendance_record(request: HttpRequest) -> HttpResponse:
    form = SessionForm(request.GET)
    if not form.is_valid():
        return _render_list(request, form, status=400)
    date, group_id = form.cleaned_data["date"], form.cleaned_data["group"]
    group = get_for_church(Group.objects, request.church, pk=group_id) if group_id else None
    try:
        services.attendance_check_session(church=request.church, date=date, group=group)
    except ValidationError as exc:
        form.add_error(None, exc)
        return _render_list(request, form, status=400)
    checklist = selectors.attendance_checklist(
        church=request.church, date=date, group=group, q=request.GET.get("q", ""), page=request.GET.get("page"),
    )
    ctx = {
        "nav": "attendance",
        "date": date,
        "group": group,
        "session_name": group.name if group else SERVICE_LABEL,
        "checklist": checklist,
        "page_query": urlencode({"date": date.isoformat(), "group": group.id if group else "", "q": checklist.q}),
    }
    return render(request, "attendance/record.html", ctx)


@require_POST
@staff_view
def attendance_save(request: HttpRequest) -> HttpResponse:
    form = SessionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("attendance_list")
    date, group_id = form.cleaned_data["date"], form.cleaned_data["group"]
    group = get_for_church(Group.objects, request.church, pk=group_id) if group_id else None
    back = _checklist_url(date, group, request.POST.get("q", "").strip(), request.POST.get("page"))
    shown = request.POST.getlist("shown")
    # "Everyone on this page was here": the quick way to record a small group's meeting.
    present = shown if request.POST.get("everyone") else request.POST.getlist("present")
    try:
        result = services.attendance_record(
            church=request.church, date=date, group=group, present_member_ids=present, shown_member_ids=shown,
        )
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
        return redirect(back if not (group and group.archived) else reverse("attendance_list"))
    name = group.name if group else SERVICE_LABEL
    messages.success(
        request, f"Attendance saved for {name} on {dateformat.format(date, 'D j M Y')}: {result.headcount:,} present."
    )
    return redirect(back)
