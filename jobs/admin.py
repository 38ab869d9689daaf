"""Workers and periodic runs in the Django admin: read-only (the workers write them)."""

from django.contrib import admin

from .models import PeriodicRun, WorkerHeartbeat


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(_ReadOnly):
    list_display = ("worker_id", "hostname", "pid", "started_at", "seen_at", "stopped_at")
    search_fields = ("worker_id", "hostname")


@admin.register(PeriodicRun)
class PeriodicRunAdmin(_ReadOnly):
    list_display = ("job", "period_start", "worker_id", "duration_ms", "result")
    list_filter = ("job",)
    search_fields = ("job", "worker_id")
