"""Tenant scoping for staff views: the one place where a request gets its church.

`@staff_view` lets in only logged-in staff accounts that belong to a church and sets
`request.church`; every read in the view then goes through a church-scoped queryset or
selector, and another church's object id is a 404.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from .models import Church


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
        return view(request, *args, **kwargs)

    return wrapper


def get_for_church(queryset, church: Church, **lookup):
    """`get_object_or_404` inside the church: another church's id is a 404, never a 403."""
    return get_object_or_404(queryset.for_church(church), **lookup)
