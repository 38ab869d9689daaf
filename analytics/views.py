"""The staff dashboard: headline figures and charts of the church."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from members.access import staff_view

from .selectors import dashboard_fragment, platform_statistics


@staff_view
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    # Everything church-wide comes pre-rendered from the cache; only the page chrome
    # (user name, CSRF token, messages) is rendered per request. Warm: no SQL at all.
    ctx = {"nav": "dashboard", "fragment": dashboard_fragment(church=request.church)}
    return render(request, "analytics/dashboard.html", ctx)


def admin_platform_stats(request: HttpRequest) -> HttpResponse:
    """Figures of every church for platform admins (wrapped in admin.site.admin_view: analytics/admin.py)."""
    from django.contrib import admin

    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    stats = platform_statistics(page=page)
    ctx = {**admin.site.each_context(request), "title": "Platform statistics", **stats}
    return render(request, "analytics/admin_stats.html", ctx)
