"""Staff pages for text messages: thin views over `selectors` and `services`.

Every page runs in the church's time zone (times shown and typed), through `members.access`
(the church comes from the logged-in staff account; another church's message is a 404).
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from members.access import form_methods, get_for_church, staff_view
from members.models import Member
from members.timezones import church_zone

from . import gsm, selectors, services
from .forms import ComposeForm
from .models import Delivery, Message, OptOut

STATES = Delivery.State.values


def in_church_zone(view):
    """Render and parse times in the church's time zone (inside staff_view)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Pages are rendered inside the view (django.shortcuts.render), so inside the override.
        with timezone.override(church_zone(request.church)):
            return view(request, *args, **kwargs)

    return wrapper


def messaging_view(view):
    return staff_view(in_church_zone(view))


@messaging_view
@require_safe
def message_list(request: HttpRequest) -> HttpResponse:
    page = selectors.message_list_page(church=request.church, page=request.GET.get("page"))
    return render(request, "messaging/message_list.html", {"nav": "messages", "page": page, "states": STATES})


@messaging_view
@form_methods
def message_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" or "body" not in request.POST:
        # A fresh page, or the member list's "Text selected" (its ticked ids, no text yet).
        initial = {}
        if request.method == "POST":
            initial["member_ids"] = request.POST.getlist("member_ids")
        elif request.GET.get("group", "").isdigit():
            initial["group"] = request.GET["group"]
        form = ComposeForm(initial=initial, church=request.church)
        return _compose(request, form)
    form = ComposeForm(request.POST, church=request.church)
    if not form.is_valid():
        return _compose(request, form)
    data = form.cleaned_data
    draft = services.Draft(body=data["body"], group_id=data["group"],
                           member_ids=tuple(data["member_ids"]) if data["group"] is None else (),
                           send_at=data["send_at"])
    found = selectors.audience(church=request.church, group_id=draft.group_id, member_ids=list(draft.member_ids))
    if found is None:
        raise Http404("No such group in this church.")
    ctx = {
        "nav": "messages",
        "draft": draft,
        "audience": found,
        "length": gsm.measure(draft.body),
        "token": services.draft_sign(church=request.church, user=request.user, draft=draft),
        "form": form,
    }
    return render(request, "messaging/message_preview.html", ctx)


def _compose(request: HttpRequest, form: ComposeForm) -> HttpResponse:
    selected = form["member_ids"].value() or []
    ctx = {"nav": "messages", "form": form, "selected_count": len(selected) if isinstance(selected, list) else 0,
           "zone_name": church_zone(request.church).key}
    return render(request, "messaging/message_new.html", ctx)


@messaging_view
@require_POST
def message_confirm(request: HttpRequest) -> HttpResponse:
    try:
        draft = services.draft_load(church=request.church, user=request.user, token=request.POST.get("token", ""))
        message, created = services.message_confirm(church=request.church, user=request.user, draft=draft)
    except ValidationError as exc:
        for text in exc.messages:
            messages.error(request, text)
        return redirect("message_new")
    if created:
        when = "scheduled" if message.scheduled_for else "queued"
        messages.success(request, f"Text {when} for {message.n_queued:,} "
                                  f"{'person' if message.n_queued == 1 else 'people'}.")
    else:
        messages.info(request, "This text was already queued; it was not queued again.")
    return redirect(message)


@messaging_view
@require_safe
def message_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    message = selectors.message_get(church=request.church, message_id=message_id)
    if message is None:
        raise Http404("No such message in this church.")
    page = selectors.message_deliveries_page(message=message, page=request.GET.get("page"))
    ctx = {"nav": "messages", "message": message, "page": page, "counts": message.counts()}
    return render(request, "messaging/message_detail.html", ctx)


@messaging_view
@require_POST
def message_cancel(request: HttpRequest, message_id: int) -> HttpResponse:
    message = get_for_church(Message.objects, request.church, pk=message_id)
    cancelled = services.message_cancel(message=message, user=request.user)
    if cancelled:
        messages.success(request, f"Cancelled {cancelled:,} text{'s' if cancelled != 1 else ''} not yet sent.")
    else:
        messages.info(request, "Nothing was left to cancel: every text of this message had been sent or settled.")
    return redirect(message)


@messaging_view
@require_POST
def member_optout(request: HttpRequest, member_id: int) -> HttpResponse:
    member = get_for_church(Member.objects, request.church, pk=member_id)
    choice = request.POST.get("opted_out", "")
    if not member.phone:
        messages.error(request, f"{member.full_name} has no phone number to opt in or out.")
    elif choice not in ("0", "1"):
        messages.error(request, "Choose whether texts to this phone are allowed.")
    else:
        services.optout_set(church_id=request.church.pk, phone=member.phone, opted_out=choice == "1",
                            how=OptOut.How.STAFF, detail=request.user.get_username())
        if choice == "1":
            messages.success(request, f"{member.phone} will get no more texts from this church.")
        else:
            messages.success(request, f"{member.phone} can get this church's texts again.")
    return redirect(member)
