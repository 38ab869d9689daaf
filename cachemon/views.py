"""Cache monitoring endpoints: the admin JSON API, the Django admin page, probes and /metrics.

Access: `/api/admin/cache/*` is for platform admins (`is_staff`); anyone else, anonymous
included, gets a 403 JSON answer (an API client cannot follow a login redirect). The admin
page goes through `admin.site.admin_view` (non-admins are redirected to the admin login).
`/healthz` and `/readyz` are public; `/metrics` is guarded by `METRICS_TOKEN` or loopback.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from . import prometheus, selectors, services
from .breaker import breaker

LOOPBACK = ("127.0.0.1", "::1")
# A request that came through a proxy has its REMOTE_ADDR rewritten to the proxy's (often
# loopback): such a request is not "from this host", so loopback alone does not let it in.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def admin_api(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Platform admins only (403 JSON otherwise), rate limited per admin (429 JSON)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return JsonResponse({"error": "authentication required"}, status=403)
        if not (user.is_active and user.is_staff):
            return JsonResponse({"error": "platform admins only"}, status=403)
        limit = int(getattr(settings, "ADMIN_API_RATE_PER_MINUTE", 60))
        retry_after = services.rate_limit_hit(scope="admin-cache-api", user_id=user.pk, limit=limit)
        if retry_after is not None:
            response = JsonResponse(
                {"error": f"too many requests: at most {limit} a minute", "retry_after": retry_after}, status=429
            )
            response["Retry-After"] = str(retry_after)
            return response
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


@require_safe
@admin_api
def api_cache_metrics(request: HttpRequest) -> JsonResponse:
    try:
        data = selectors.cache_metrics_get()
    except Exception as exc:
        data = {
            "backend": selectors.cache_backend_name(),
            "breaker": breaker.snapshot(),
            "error": f"the shared counters cannot be read: {type(exc).__name__}: {exc}",
        }
        return JsonResponse(data, status=503)
    return JsonResponse(data)


@require_safe
@admin_api
def api_cache_health(request: HttpRequest) -> JsonResponse:
    result = selectors.cache_health_get()
    result["backend"] = selectors.cache_backend_name()
    result["breaker"] = breaker.state
    return JsonResponse(result, status=200 if result["status"] == "ok" else 503)


@require_POST
@admin_api
def api_cache_reset(request: HttpRequest) -> JsonResponse:
    # CSRF is enforced by the middleware (an API caller sends the csrftoken cookie + X-CSRFToken).
    services.cache_counters_reset()
    return JsonResponse({"status": "ok", "reset": "counters"})


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: touches neither the database nor the cache (and is the benchmarks' baseline)."""
    return HttpResponse("ok\n", content_type="text/plain")


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    result = selectors.readiness_get()
    return JsonResponse(result, status=503 if result["failed"] else 200)


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        # compare_digest: the time taken must not reveal how much of the token was right.
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    if any(request.META.get(h) for h in PROXY_HEADERS):
        return False
    return request.META.get("REMOTE_ADDR") in LOOPBACK


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not _metrics_allowed(request):
        return HttpResponse("forbidden: set METRICS_TOKEN and send it as a Bearer token\n",
                            status=403, content_type="text/plain")
    body, content_type = prometheus.render()
    return HttpResponse(body, content_type=content_type)


# --- the Django admin page (wrapped in admin.site.admin_view in cachemon/admin.py) ---------
BAR_WIDTH = 160


def _bar(ratio: float | None) -> int:
    return round((ratio or 0) * BAR_WIDTH)


def admin_cache_stats(request: HttpRequest) -> HttpResponse:
    ctx = {
        **admin.site.each_context(request),
        "title": "Cache statistics",
        "backend": selectors.cache_backend_name(),
        "cache_aside": settings.CACHE_ASIDE,
        "breaker": breaker.snapshot(),
        "health": selectors.cache_health_get(),
        "bar_width": BAR_WIDTH,
        "error": "",
        "rows": [],
        "total": None,
        "redis": None,
        "embedded": None,
    }
    try:
        figures = selectors.cache_metrics_get()
    except Exception as exc:
        ctx["error"] = f"{type(exc).__name__}: {exc}"
    else:
        ctx["rows"] = [
            {"namespace": ns, **f, "bar": _bar(f["hit_ratio"])} for ns, f in figures["namespaces"].items()
        ]
        ctx["total"] = {**figures["total"], "bar": _bar(figures["total"]["hit_ratio"])}
        ctx["redis"], ctx["embedded"] = figures["redis"], figures["embedded"]
    return render(request, "cachemon/admin_cache.html", ctx)


@require_POST
def admin_cache_reset(request: HttpRequest) -> HttpResponse:
    try:
        services.cache_counters_reset()
    except Exception as exc:
        messages.error(request, f"The counters could not be reset: {type(exc).__name__}: {exc}")
    else:
        messages.success(request, "Cache counters reset.")
    return redirect("admin:cachemon_cache_stats")
