"""Messaging in the Django admin: sender numbers (editable), messages, deliveries and opt-outs,
and the queue health page (/admin/queue/, linked from the admin index)."""

from django.contrib import admin
from django.urls import path

from . import admin_views
from .models import Delivery, Message, OptOut, SenderNumber


@admin.register(SenderNumber)
class SenderNumberAdmin(admin.ModelAdmin):
    list_display = ("church", "phone")
    search_fields = ("phone", "church__name", "church__slug")
    list_select_related = ("church",)
    raw_id_fields = ("church",)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "church", "audience", "created_at", "scheduled_for", "n_queued", "n_sent",
                    "n_delivered", "n_failed", "n_skipped", "n_cancelled")
    list_filter = ("church",)
    search_fields = ("body", "audience")
    list_select_related = ("church",)
    raw_id_fields = ("church", "created_by", "group", "cancelled_by")
    readonly_fields = ("n_queued", "n_sending", "n_sent", "n_delivered", "n_failed", "n_skipped", "n_cancelled",
                       "confirm_key", "recipients")

    def has_add_permission(self, request) -> bool:
        return False  # a message is queued from the compose page, with its deliveries and tasks

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # its text and counters belong to the queue (cancel it from its page)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "message_id", "name", "phone", "state", "attempts", "provider_sid", "error_code")
    list_filter = ("state",)
    search_fields = ("phone", "provider_sid", "name")
    raw_id_fields = ("message", "church", "member")
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the state machine (services) is the only writer: counters stay exact


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    list_display = ("phone", "church", "opted_out", "changed_at", "how", "detail")
    list_filter = ("opted_out", "how")
    search_fields = ("phone",)
    list_select_related = ("church",)
    raw_id_fields = ("church",)


_admin_urls = admin.site.get_urls


def _get_urls():
    return [
        path("queue/", admin.site.admin_view(admin_views.admin_queue_health), name="messaging_queue_health"),
        *_admin_urls(),
    ]


admin.site.get_urls = _get_urls
