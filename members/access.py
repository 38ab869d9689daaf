"""Tenant scoping for staff views: the one place where a request gets its church.

`@staff_view` lets in only logged-in staff accounts that belong to a church and sets
`request.church`; every read in the view then goes through a church-scoped queryset or
selector, and another church's object id is a 404.

It also holds the rules every staff page shares, so a new view cannot forget them:
- The church's time zone is the current one while the view runs and its page renders: every
  datetime shown, and `timezone.localdate()`, are the church's (members.timezones).
- Pages show personal data: the answer is `Cache-Control: private, no-store` (no shared
  proxy and no browser history keeps a copy; the CSV export included).
- A lost race is never a 500: a service that finds its row gone or changed by someone else
  raises `ValidationError`, and a lookup of a row deleted meanwhile raises `DoesNotExist`;
  a view that does not handle them itself answers 409 with the message (or 404).
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_http_methods

from .models import Church
from .timezones import church_zone

# Form pages: shown with GET (and HEAD, wherever GET is allowed), submitted with POST.
form_methods = require_http_methods(["GET", "HEAD", "POST"])


def staff_view(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if user.church_id is None:
            if user.is_staff:
                # Platform admins work across churches, in the Django admin.
                return redirect("admin:index")
            return render(request, "members/no_church.html", status=403)
        request.church = user.church
        try:
            # Every date and time the page shows (and "today") is the church's (members.timezones).
            with timezone.override(church_zone(request.church)):
                response = view(request, *args, **kwargs)
        except ValidationError as exc:
            response = render(request, "members/conflict.html", {"problems": exc.messages}, status=409)
        except ObjectDoesNotExist:
            raise Http404("It was deleted in the meantime.") from None
        patch_cache_control(response, private=True, no_store=True)
        return response

    return wrapper


def get_for_church(queryset, church: Church, **lookup):
    """`get_object_or_404` inside the church: another church's id is a 404, never a 403."""
    return get_object_or_404(queryset.for_church(church), **lookup)
