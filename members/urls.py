from django.urls import path

from . import views

urlpatterns = [
    path("members/", views.member_list, name="member_list"),
    path("members/new/", views.member_new, name="member_new"),
    path("members/import/", views.member_import, name="member_import"),
    path("members/export.csv", views.member_export, name="member_export"),
    path("members/status/", views.member_bulk_status, name="member_bulk_status"),
    path("members/<int:member_id>/", views.member_detail, name="member_detail"),
    path("members/<int:member_id>/edit/", views.member_edit, name="member_edit"),
    path("members/<int:member_id>/delete/", views.member_delete, name="member_delete"),
    path("groups/", views.group_list, name="group_list"),
    path("groups/new/", views.group_new, name="group_new"),
    path("groups/<int:group_id>/", views.group_detail, name="group_detail"),
    path("groups/<int:group_id>/edit/", views.group_edit, name="group_edit"),
    path("groups/<int:group_id>/members/add/", views.membership_add, name="membership_add"),
    path("groups/<int:group_id>/members/<int:member_id>/remove/", views.membership_remove, name="membership_remove"),
    path("groups/<int:group_id>/members/<int:member_id>/role/", views.membership_role, name="membership_role"),
]
