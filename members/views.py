"""Staff pages for members, groups and rosters: thin views over `selectors` and `services`."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe


from . import selectors, services, spreadsheet
from .access import form_methods, get_for_church, staff_view
from .forms import GroupForm, MemberForm, MemberImportForm, MembershipRoleForm, MemberStatusForm
from .models import Group, Member, Membership
from .timezones import church_today

ATTENDANCE_HISTORY_LIMIT = 20
MAX_HISTORY_PAGE = 10_000  # 200,000 records: past any real history; keeps the OFFSET a sane number


def _page_links(request: HttpRequest, page: selectors.PageOf, **params: str) -> dict:
    """Previous/next URLs that keep the other query parameters (search, tab)."""
    kept = {k: v for k, v in params.items() if v}

    def url(number: int) -> str:
        query = {**kept, **({"page": number} if number > 1 else {})}
        return f"{request.path}?{urlencode(query)}" if query else request.path

    return {
        "previous_url": url(page.previous_page_number) if page.has_previous else "",
        "next_url": url(page.next_page_number) if page.has_next else "",
    }


def _member_page_links(request: HttpRequest, page: selectors.PageOf, *, q: str,
                       flt: selectors.MemberFilter = selectors.DEFAULT_FILTER) -> dict:
    """Previous/next URLs of the member list: keyset cursors (constant time at any depth),
    except that page 1 is linked plainly, so that it is served from the cache. The search and
    the filter are kept."""
    kept = {**({"q": q} if q else {}), **flt.params()}

    def url(**cursor: str) -> str:
        query = {**kept, **cursor}
        return f"{request.path}?{urlencode(query)}" if query else request.path

    previous = ""
    if page.previous_cursor:
        previous = url(before=page.previous_cursor)
    elif page.has_previous:
        previous = url()
    return {"previous_url": previous, "next_url": url(after=page.next_cursor) if page.next_cursor else ""}


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


def _posted(request: HttpRequest):
    """The form data of a POST (even an empty one, so that it shows its errors), else None."""
    return request.POST if request.method == "POST" else None


def _validation_messages(exc: ValidationError) -> list[str]:
    return list(exc.messages)


# --- Members ---------------------------------------------------------------------------

def _query(**params: str) -> str:
    kept = {k: v for k, v in params.items() if v}
    return f"?{urlencode(kept)}" if kept else ""


@staff_view
@require_safe
def member_list(request: HttpRequest) -> HttpResponse:
    q = selectors.normalize_search(request.GET.get("q"))
    flt, problems = selectors.member_filter_parse(church=request.church, params=request.GET)
    page = selectors.member_list_page(
        church=request.church, q=q, page=selectors.parse_page(request.GET.get("page")),
        after=request.GET.get("after", ""), before=request.GET.get("before", ""), flt=flt,
    )
    ctx = {
        "nav": "members",
        "q": q,
        "flt": flt,
        "filter_problems": problems,
        "page": page,
        "statuses": Member.Status.choices,
        "status_filters": selectors.STATUS_FILTER_LABELS.items(),
        "sorts": selectors.SORT_LABELS.items(),
        "group_choices": selectors.group_choices(church=request.church),
        "export_url": reverse("member_export") + _query(q=q, **flt.params()),
        "clear_search_url": reverse("member_list") + _query(**flt.params()),
        "return_to": request.get_full_path(),
        **_member_page_links(request, page, q=q, flt=flt),
    }
    return render(request, "members/member_list.html", ctx)


@staff_view
@require_POST
def member_bulk_status(request: HttpRequest) -> HttpResponse:
    form = MemberStatusForm(request.POST)
    back = _safe_next(request, reverse("member_list"))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    status = form.cleaned_data["status"]
    updated = services.members_set_status(
        church=request.church, member_ids=form.cleaned_data["member_ids"], status=status,
    )
    label = Member.Status(status).label
    if updated:
        messages.success(request, f"Set {updated} member{'s' if updated != 1 else ''} to “{label}”.")
    else:
        messages.warning(request, "None of the selected members were found; nothing was changed.")
    return redirect(back)


@staff_view
@form_methods
def member_new(request: HttpRequest) -> HttpResponse:
    form = MemberForm(_posted(request), church=request.church)
    if request.method == "POST" and form.is_valid():
        try:
            member = services.member_create(church=request.church, data=form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Added {member.full_name}.")
            return redirect(member)
    ctx = {"nav": "members", "form": form, "member": None}
    return render(request, "members/member_form.html", ctx)


# The member list's own parameters: what a link back to it may carry (nothing else is kept).
LIST_PARAMS = ("q", "status", "group", "sort", "page", "after", "before")


def _back_link(request: HttpRequest) -> tuple[str, str]:
    """(URL, label) of the list the member's page was opened from: the member list with its
    search, filter and page, or a group's roster. Read from `?back=` (the page's own links
    carry it) or else the Referer, and only ever a path of this site rebuilt from the known
    parameters: never an open redirect. ("", "") when it came from elsewhere."""
    raw = request.GET.get("back") or request.META.get("HTTP_REFERER", "")
    if not raw or len(raw) > 4096:
        return "", ""
    parts = urlsplit(raw)
    if (parts.scheme and parts.scheme not in ("http", "https")) or (parts.netloc and parts.netloc != request.get_host()):
        return "", ""
    try:
        match = resolve(parts.path)
    except Http404:
        return "", ""
    query = QueryDict(parts.query)
    if match.url_name == "member_list":
        kept = {name: query[name][:1024] for name in LIST_PARAMS if query.get(name)}
        return reverse("member_list") + _query(**kept), "Back to the list"
    if match.url_name == "group_detail":
        page = str(selectors.parse_page(query.get("page")))
        return (reverse("group_detail", args=[match.kwargs["group_id"]]) + _query(page=page if page != "1" else ""),
                "Back to the group")
    return "", ""


def _age(birth_date, today) -> int | None:
    if birth_date is None:
        return None
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


@staff_view
@require_safe
def member_detail(request: HttpRequest, member_id: int) -> HttpResponse:
    profile = selectors.member_profile(church=request.church, member_id=member_id,
                                       attendance_limit=ATTENDANCE_HISTORY_LIMIT)
    if profile is None:
        raise Http404("No such member in this church.")
    number = min(selectors.parse_page(request.GET.get("page")), MAX_HISTORY_PAGE)
    attendance, more = profile["attendance"], profile["attendance_more"]
    if number > 1:
        attendance, more = selectors.member_attendance_page(
            church=request.church, member=profile["member"], limit=ATTENDANCE_HISTORY_LIMIT, page=number)
    back_url, back_label = _back_link(request)
    page_query = {"back": back_url} if back_url else {}
    ctx = {
        "nav": "members", **profile,
        "attendance": attendance,
        "last_attended": profile["attendance"][0] if profile["attendance"] else None,
        "age": _age(profile["member"].birth_date, church_today(request.church)),
        "attendance_page": number,
        "older_url": f"{request.path}{_query(page=str(number + 1), **page_query)}" if more else "",
        "newer_url": (f"{request.path}{_query(page=str(number - 1) if number > 2 else '', **page_query)}"
                      if number > 1 else ""),
        "back_url": back_url, "back_label": back_label,
    }
    return render(request, "members/member_detail.html", ctx)


@staff_view
@form_methods
def member_edit(request: HttpRequest, member_id: int) -> HttpResponse:
    member = get_for_church(Member.objects, request.church, pk=member_id)
    form = MemberForm(_posted(request), church=request.church, instance=member)
    if request.method == "POST" and form.is_valid():
        try:
            services.member_update(member=member, data=form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Saved {member.full_name}.")
            return redirect(member)
    ctx = {"nav": "members", "form": form, "member": member}
    return render(request, "members/member_form.html", ctx)


@staff_view
@form_methods
def member_delete(request: HttpRequest, member_id: int) -> HttpResponse:
    member = get_for_church(Member.objects, request.church, pk=member_id)
    if request.method == "POST":
        name = member.full_name
        services.member_delete(member=member)
        messages.success(request, f"Deleted {name}, with their group memberships and attendance.")
        return redirect("member_list")
    ctx = {
        "nav": "members",
        "member": member,
        "group_count": member.memberships.count(),
        "attendance_count": member.attendance.count(),
    }
    return render(request, "members/member_confirm_delete.html", ctx)


@staff_view
@form_methods
def member_import(request: HttpRequest) -> HttpResponse:
    form = MemberImportForm(_posted(request), request.FILES if request.method == "POST" else None)
    problems: list[str] = []
    if request.method == "POST":
        if not form.is_valid():
            problems = [error for errors in form.errors.values() for error in errors]
        else:
            try:
                result = services.members_import_csv(church=request.church, file=form.cleaned_data["file"])
            except services.ImportRejected as exc:
                problems = exc.problems
            else:
                messages.success(request, f"Imported {result.created:,} member{'s' if result.created != 1 else ''}.")
                return redirect("member_list")
    ctx = {
        "nav": "members",
        "form": form,
        "problems": problems,
        "required": services.IMPORT_REQUIRED,
        "optional": services.IMPORT_OPTIONAL,
        "max_size": services._size(services.IMPORT_MAX_BYTES),
        "max_rows": services.IMPORT_MAX_ROWS,
    }
    return render(request, "members/member_import.html", ctx, status=400 if problems else 200)


class _Echo:
    """csv.writer target that hands each written line back instead of buffering it."""

    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    # A name like "=HYPERLINK(...)" would run as a formula in a spreadsheet (members.spreadsheet).
    return "" if value is None else spreadsheet.guard(str(value))


EXPORT_LINES_PER_CHUNK = 500


def _export_lines(rows: Iterator[tuple]) -> Iterator[str]:
    """CSV text in chunks of a few hundred lines: one write to the socket per chunk, not per row."""
    writer = csv.writer(_Echo())
    phone_at = selectors.EXPORT_FIELDS.index("phone")
    # The BOM lets Excel open the UTF-8 file with the right accents.
    chunk = ["\ufeff", writer.writerow(selectors.EXPORT_FIELDS)]
    for row in rows:
        # Phones are validated E.164: the leading + is data, not a formula.
        chunk.append(writer.writerow([value if i == phone_at else _cell(value) for i, value in enumerate(row)]))
        if len(chunk) >= EXPORT_LINES_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


@staff_view
@require_safe
def member_export(request: HttpRequest) -> StreamingHttpResponse:
    # What the list shows: its search, status, group and order (`/members/export.csv?status=visitor`).
    flt, _ = selectors.member_filter_parse(church=request.church, params=request.GET)
    rows = selectors.member_export_rows(church=request.church, q=request.GET.get("q", ""), flt=flt)
    response = StreamingHttpResponse(_export_lines(rows), content_type="text/csv; charset=utf-8")
    filename = f"members-{request.church.slug}-{church_today(request.church):%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Groups ----------------------------------------------------------------------------

@staff_view
@require_safe
def group_list(request: HttpRequest) -> HttpResponse:
    archived = request.GET.get("archived") == "1"
    data = selectors.group_list(church=request.church, archived=archived,
                                page=selectors.parse_page(request.GET.get("page")))
    ctx = {
        "nav": "groups", "page": data["page"], "groups": data["page"].rows, "other_count": data["other_count"],
        "archived": archived, **_page_links(request, data["page"], archived="1" if archived else ""),
    }
    return render(request, "members/group_list.html", ctx)


@staff_view
@form_methods
def group_new(request: HttpRequest) -> HttpResponse:
    form = GroupForm(_posted(request), church=request.church)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.group_create(church=request.church, data=form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Created the group {group.name}.")
            return redirect(group)
    return render(request, "members/group_form.html", {"nav": "groups", "form": form, "group": None})


@staff_view
@form_methods
def group_edit(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_for_church(Group.objects, request.church, pk=group_id)
    form = GroupForm(_posted(request), instance=group, church=request.church)
    if request.method == "POST" and form.is_valid():
        try:
            services.group_update(group=group, data=form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Saved {group.name}{' (archived)' if group.archived else ''}.")
            return redirect(group)
    return render(request, "members/group_form.html", {"nav": "groups", "form": form, "group": group})


@staff_view
@require_safe
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    found = selectors.group_with_roster_page(
        church=request.church, group_id=group_id, page=selectors.parse_page(request.GET.get("page")),
    )
    if found is None:
        raise Http404("No such group in this church.")
    group, roster = found
    find = selectors.normalize_search(request.GET.get("find"))
    ctx = {
        "nav": "groups",
        "group": group,
        "page": roster,
        "find": find,
        "candidates": selectors.group_add_candidates(church=request.church, group=group, q=find) if find else [],
        "return_to": request.get_full_path(),
        **_page_links(request, roster, find=find),
    }
    return render(request, "members/group_detail.html", ctx)


@staff_view
@require_POST
def membership_add(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_for_church(Group.objects, request.church, pk=group_id)
    back = _safe_next(request, group.get_absolute_url())
    try:
        member_id = int(request.POST.get("member_id", ""))
    except ValueError:
        messages.error(request, "Choose a person to add.")
        return redirect(back)
    try:
        membership = services.membership_add(church=request.church, group=group, member_id=member_id)
    except ValidationError as exc:
        for message in _validation_messages(exc):
            messages.error(request, message)
    else:
        messages.success(request, f"Added {membership.member.full_name} to {group.name}.")
    return redirect(back)


def _membership(request: HttpRequest, group_id: int, member_id: int) -> Membership:
    group = get_for_church(Group.objects, request.church, pk=group_id)
    # The group is the church's (or a 404), so the membership lookup is scoped through it.
    return get_object_or_404(Membership.objects.select_related("member", "group"), group=group, member_id=member_id)


@staff_view
@require_POST
def membership_remove(request: HttpRequest, group_id: int, member_id: int) -> HttpResponse:
    membership = _membership(request, group_id, member_id)
    services.membership_remove(membership=membership)
    messages.success(request, f"Removed {membership.member.full_name} from {membership.group.name}.")
    return redirect(_safe_next(request, membership.group.get_absolute_url()))


@staff_view
@require_POST
def membership_role(request: HttpRequest, group_id: int, member_id: int) -> HttpResponse:
    membership = _membership(request, group_id, member_id)
    form = MembershipRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose leader or member.")
    else:
        services.membership_set_role(membership=membership, role=form.cleaned_data["role"])
        what = "a leader" if membership.role == Membership.Role.LEADER else "a member (not a leader)"
        messages.success(request, f"{membership.member.full_name} is now {what} of {membership.group.name}.")
    return redirect(_safe_next(request, membership.group.get_absolute_url()))
