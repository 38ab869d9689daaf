"""Django admin for platform admins: churches, staff accounts, members, groups, memberships.

Member and membership tables hold millions of rows: foreign keys are raw-id inputs (never a
<select> of every row), changelists preload what they display (no query per row) and skip
the full `COUNT(*)` of unfiltered tables.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Count

from .models import Church, Group, Member, Membership, User


@admin.register(Church)
class ChurchAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    ordering = ("name",)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (
        ("Church", {"fields": ("church",), "description": "Staff accounts belong to exactly one church. "
                                                          "Leave empty for platform admins."}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "church", "usable_password", "password1", "password2")}),
    )
    list_display = ("username", "email", "church", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "church")
    list_select_related = ("church",)
    autocomplete_fields = ("church",)
    search_fields = ("username", "first_name", "last_name", "email", "church__name")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("member", "group")
    fields = ("group", "member", "role", "joined_on")


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("last_name", "first_name", "email", "phone", "status", "church", "joined_on")
    list_display_links = ("last_name", "first_name")
    list_filter = ("status", "church")
    list_select_related = ("church",)
    search_fields = ("first_name", "last_name", "email", "phone")
    raw_id_fields = ("church",)
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = ("created_at", "updated_at")
    inlines = [MembershipInline]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name", "church", "kind", "archived", "size", "created_at")
    list_filter = ("archived", "kind", "church")
    list_select_related = ("church",)
    search_fields = ("name", "church__name")
    raw_id_fields = ("church",)
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(size=Count("memberships"))

    @admin.display(description="People", ordering="size")
    def size(self, obj: Group) -> int:
        return obj.size


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("member", "group", "church", "role", "joined_on")
    list_filter = ("role",)
    list_select_related = ("member", "group", "group__church")
    search_fields = ("member__first_name", "member__last_name", "member__email", "group__name")
    raw_id_fields = ("member", "group")
    show_full_result_count = False
    list_per_page = 50

    @admin.display(description="Church", ordering="group__church__name")
    def church(self, obj: Membership) -> Church:
        return obj.group.church
