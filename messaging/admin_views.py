"""Queue health for platform admins: the JSON API and the admin page beside the cache statistics."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from cachemon.views import admin_api

from . import health


@require_safe
@admin_api
def api_queue_health(request: HttpRequest) -> JsonResponse:
    figures = health.queue_health()
    body = {key: figures[key] for key in ("status", "queued", "oldest_queued_age_seconds", "sending",
                                          "sent_last_hour", "failed_last_hour", "workers_seen")}
    body["reasons"] = figures["reasons"]
    return JsonResponse(body, status=503 if figures["status"] == "stalled" else 200)


def admin_queue_health(request: HttpRequest) -> HttpResponse:
    from jobs.models import PeriodicRun, WorkerHeartbeat

    ctx = {
        **admin.site.each_context(request),
        "title": "Queue health",
        "health": health.queue_health(),
        "latency": health.provider_latency(),
        "workers": WorkerHeartbeat.objects.order_by("-seen_at")[:20],
        "runs": PeriodicRun.objects.order_by("-period_start")[:20],
    }
    return render(request, "messaging/admin_queue_health.html", ctx)
