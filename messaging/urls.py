from django.urls import path

from . import views, webhooks
from .admin_views import api_queue_health

urlpatterns = [
    path("messages/", views.message_list, name="message_list"),
    path("messages/new/", views.message_new, name="message_new"),
    path("messages/new/confirm/", views.message_confirm, name="message_confirm"),
    path("messages/<int:message_id>/", views.message_detail, name="message_detail"),
    path("messages/<int:message_id>/cancel/", views.message_cancel, name="message_cancel"),
    path("members/<int:member_id>/texts/opt-out/", views.member_optout, name="member_optout"),
    path("sms/status/", webhooks.status_callback, name="sms_status"),
    path("sms/inbound/", webhooks.inbound, name="sms_inbound"),
    path("api/admin/queue/health", api_queue_health, name="api_queue_health"),
]
