from django.contrib import admin

from cachemon import keys
from members.admin import InvalidatingAdmin

from .models import Attendance, HeadCount


@admin.register(Attendance)
class AttendanceAdmin(InvalidatingAdmin):
    # Records change the dashboard's attendance and the member's history.
    namespaces = keys.ATTENDANCE_WRITE
    list_display = ("date", "member", "group", "church")
    list_select_related = ("member", "group", "church")
    list_filter = ("date", "church")
    date_hierarchy = "date"
    # Millions of rows: no select boxes of every member or group, no full COUNT(*) per page.
    raw_id_fields = ("member", "group")
    show_full_result_count = False
    ordering = ("-date", "-id")


@admin.register(HeadCount)
class HeadCountAdmin(InvalidatingAdmin):
    # A service's head count is in the dashboard's attendance figures (recounted on save).
    namespaces = keys.ATTENDANCE_WRITE
    list_display = ("date", "present", "church", "updated_at")
    list_select_related = ("church",)
    list_filter = ("church",)
    raw_id_fields = ("church",)
    date_hierarchy = "date"
    ordering = ("-date", "-id")
