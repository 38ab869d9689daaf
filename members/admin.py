"""Django admin for platform admins: churches, staff accounts, members, groups, memberships.

Member and membership tables hold millions of rows: foreign keys are raw-id inputs (never a
<select> of every row), changelists preload what they display (no query per row) and skip
the full `COUNT(*)` of unfiltered tables.
"""

from __future__ import annotations

import phonenumbers
from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group as AuthGroup

from cachemon import cache_aside, keys

from . import tallies
from .login import ThrottledAdminAuthenticationForm
from .models import Church, Group, Member, Membership, User
from .validators import available_time_zones


class InvalidatingAdmin(admin.ModelAdmin):
    """Admin writes bypass the services, so they recount the church's counters (members.tallies:
    a full rebuild, ~1 s for a 100,000-member church; admin edits are rare) and invalidate the
    staff pages' caches here."""

    namespaces: tuple[str, ...] = ()
    church_lookup = "church_id"

    def church_ids(self, obj) -> set[int]:
        return {obj.church_id}

    def _invalidate(self, church_ids: set[int]) -> None:
        for church_id in sorted(i for i in church_ids if i is not None):
            tallies.rebuild_church(church_id)
            cache_aside.invalidate(*self.namespaces, church_id=church_id)

    def save_model(self, request, obj, form, change) -> None:
        before = set()
        if change and obj.pk:
            # Moving a row to another church makes both churches' pages stale.
            old = type(obj).objects.filter(pk=obj.pk).first()
            before = self.church_ids(old) if old is not None else set()
        super().save_model(request, obj, form, change)
        self._invalidate(before | self.church_ids(obj))

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        self._invalidate(self.church_ids(form.instance))

    def delete_model(self, request, obj) -> None:
        church_ids = self.church_ids(obj)
        super().delete_model(request, obj)
        self._invalidate(church_ids)

    def delete_queryset(self, request, queryset) -> None:
        church_ids = set(queryset.order_by().values_list(self.church_lookup, flat=True).distinct())
        super().delete_queryset(request, queryset)
        self._invalidate(church_ids)


# The admin's login goes through the same throttle as the staff login (members.login): its
# form says "too many failed attempts" and the backend refuses locked-out accounts anyway.
admin.site.login_form = ThrottledAdminAuthenticationForm


# Branded for the people who use it; Django's own auth groups are not used by Flock (staff
# belong to a church, admins are `is_staff`), so they are not shown next to the church's groups.
admin.site.site_header = "Flock administration"
admin.site.site_title = "Flock administration"
admin.site.index_title = "Churches, people and monitoring"
admin.site.unregister(AuthGroup)


def _zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(available_time_zones())]


def _region_choices() -> list[tuple[str, str]]:
    return [(code, f"{code} (+{phonenumbers.country_code_for_region(code)})")
            for code in sorted(phonenumbers.SUPPORTED_REGIONS)]


class ChurchAdminForm(forms.ModelForm):
    time_zone = forms.TypedChoiceField(choices=_zone_choices, help_text=Church._meta.get_field("time_zone").help_text)
    phone_region = forms.TypedChoiceField(choices=_region_choices,
                                          help_text=Church._meta.get_field("phone_region").help_text)

    class Meta:
        model = Church
        fields = ["name", "slug", "time_zone", "phone_region", "service_day"]


@admin.register(Church)
class ChurchAdmin(admin.ModelAdmin):
    form = ChurchAdminForm
    list_display = ("name", "slug", "time_zone", "phone_region", "service_day", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    ordering = ("name",)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change:
            # Its zone, region and service day show on every staff page (the dashboard's cached
            # "as of", "today"), and its staff's cached logins carry the church's row.
            cache_aside.invalidate(*keys.NAMESPACES_OF_CHURCH, church_id=obj.pk)
            for user_id in User.objects.filter(church=obj).values_list("id", flat=True):
                cache_aside.invalidate_user(user_id)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    # Django's fieldsets without its auth groups (unused: a staff account's church says what it sees).
    fieldsets = tuple(
        (name, {**options, "fields": tuple(f for f in options["fields"] if f != "groups")})
        for name, options in BaseUserAdmin.fieldsets
    ) + (
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
class MemberAdmin(InvalidatingAdmin):
    # Names show in rosters and as group leaders; inline memberships change group sizes.
    namespaces = keys.MEMBER_WRITE + (keys.GROUPS,)
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
class GroupAdmin(InvalidatingAdmin):
    namespaces = keys.GROUP_WRITE
    list_display = ("name", "church", "kind", "archived", "size", "created_at")
    list_filter = ("archived", "kind", "church")
    list_select_related = ("church",)
    search_fields = ("name", "church__name")
    raw_id_fields = ("church",)
    show_full_result_count = False

    @admin.display(description="People", ordering="member_count")
    def size(self, obj: Group) -> int:
        return obj.member_count


@admin.register(Membership)
class MembershipAdmin(InvalidatingAdmin):
    namespaces = keys.GROUP_WRITE
    church_lookup = "group__church_id"
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

    def church_ids(self, obj: Membership) -> set[int]:
        return {obj.group.church_id}
