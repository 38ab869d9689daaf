"""Churches (tenants), staff accounts, members, groups, memberships and attendance.

Every tenant-owned model has a `church` foreign key and a queryset with `for_church()`;
staff reads go through that (or through `members.selectors`), never through a hand-written
filter in a view.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from .validators import (
    validate_e164, validate_multiline_text, validate_phone_region, validate_plain_text, validate_time_zone,
)

GROUP_DESCRIPTION_MAX_LENGTH = 2000


class Weekday(models.IntegerChoices):
    """Days of the week as Python numbers them (date.weekday(): Monday is 0)."""

    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


def default_time_zone() -> str:
    return settings.DEFAULT_CHURCH_TIME_ZONE


def default_phone_region() -> str:
    return settings.DEFAULT_PHONE_REGION


class Church(models.Model):
    name = models.CharField(max_length=200, validators=[validate_plain_text])
    slug = models.SlugField(max_length=80, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Where the church's staff live: "today", every shown time and every typed time (members.timezones).
    time_zone = models.CharField(
        max_length=64, default=default_time_zone, validators=[validate_time_zone],
        help_text="The IANA time zone of the church, e.g. America/Chicago: dates and times are shown in it.",
    )
    # The country whose numbers staff type without a country code ("(808) 555-1234").
    phone_region = models.CharField(
        max_length=2, default=default_phone_region, validators=[validate_phone_region],
        help_text="Two-letter country code (US, GB, ...) for phone numbers typed without +country code; "
                  "numbers of this country are shown in its national format.",
    )
    service_day = models.PositiveSmallIntegerField(
        choices=Weekday.choices, default=Weekday.SUNDAY,
        help_text="The day of the main service: attendance opens on the most recent one.",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "churches"

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A login. Church staff have `church` set; platform admins are `is_staff` (Django admin)."""

    church = models.ForeignKey(
        Church, null=True, blank=True, on_delete=models.PROTECT, related_name="staff",
        help_text="The one church this staff account works for. Empty for platform admins.",
    )

    objects = UserManager()
    # (session hash, fallback hashes, has a usable password) when built from the users cache
    # (members.auth), whose entries hold what pages derive from the password, never its hash.
    cached_password_facts: tuple[str, tuple[str, ...], bool] | None = None

    def _cached_facts(self) -> tuple[str, tuple[str, ...], bool] | None:
        # Only while the password was not loaded (or changed) since: then the facts are its.
        return self.cached_password_facts if "password" in self.get_deferred_fields() else None

    def get_session_auth_hash(self) -> str:
        cached = self._cached_facts()
        return cached[0] if cached else super().get_session_auth_hash()

    def get_session_auth_fallback_hash(self):
        cached = self._cached_facts()
        return iter(cached[1]) if cached else super().get_session_auth_fallback_hash()

    def has_usable_password(self) -> bool:
        cached = self._cached_facts()
        return cached[2] if cached else super().has_usable_password()

    @property
    def is_church_staff(self) -> bool:
        return self.is_active and self.church_id is not None


class TenantQuerySet(models.QuerySet):
    def for_church(self, church: Church | int):
        return self.filter(church=church)


# --- One church per row ----------------------------------------------------------------------
# A row that joins tenant-owned rows (a membership: a group and a member; an attendance record:
# a church, a member and maybe a group) must join rows of ONE church: otherwise a church's staff
# would see a stranger on their roster. Checked here for the model layer (`clean()`, which the
# admin's forms call) and by the database (triggers: members/0006, attendance/0005).
OTHER_CHURCH = "This belongs to another church than the rest of the record."


def tenant_links(model) -> list:
    """The foreign keys of `model` to Church or to a model with a `church` foreign key."""
    links = []
    for field in model._meta.concrete_fields:
        target = getattr(field, "related_model", None)
        if field.many_to_one and target is not None and (target is Church or _has_church(target)):
            links.append(field)
    return links


def _has_church(model) -> bool:
    try:
        return model._meta.get_field("church").related_model is Church
    except Exception:
        return False


def _church_of(instance, field) -> int | None:
    value = getattr(instance, field.attname)
    if value is None:
        return None
    if field.related_model is Church:
        return value
    cached = field.get_cached_value(instance, None)
    if cached is not None and cached.pk == value:
        return cached.church_id
    return field.related_model._default_manager.filter(pk=value).values_list("church_id", flat=True).first()


def validate_one_church(instance) -> None:
    """Raise ValidationError when the tenant-owned rows `instance` points to belong to more than
    one church: on the links that differ from the row's own `church`, or (a row without one,
    such as a membership) for the row as a whole."""
    churches: dict[str, int] = {}
    for field in tenant_links(type(instance)):
        church_id = _church_of(instance, field)
        if church_id is not None:
            churches[field.name] = church_id
    if len(set(churches.values())) <= 1:
        return
    own = churches.get("church")
    if own is None:
        raise ValidationError(OTHER_CHURCH)
    raise ValidationError({name: OTHER_CHURCH for name, church_id in churches.items() if church_id != own})


def _refuse_moving_with_relations(instance, what: str) -> None:
    """A member or group moved to another church (the admin can) while rows of its old church
    point to it would make those rows cross churches: refuse, with what to do instead."""
    if instance.pk is None:
        return
    old = type(instance)._default_manager.filter(pk=instance.pk).values_list("church_id", flat=True).first()
    if old is None or old == instance.church_id:
        return
    # Rows that join tenant-owned rows (two tenant links or more): memberships, attendance...
    linked = [rel for rel in instance._meta.related_objects
              if rel.one_to_many and len(tenant_links(rel.related_model)) >= 2]
    if any(rel.related_model._default_manager.filter(**{rel.field.name: instance.pk}).exists() for rel in linked):
        raise ValidationError({"church": f"{what} has group memberships or attendance in their church: "
                                         "remove those before moving it to another church."})


class Member(models.Model):
    class Status(models.TextChoices):
        VISITOR = "visitor", "Visitor"
        REGULAR = "regular", "Regular attender"
        MEMBER = "member", "Member"
        INACTIVE = "inactive", "Inactive"

    # No index of its own: member_church_name_idx (church, ...) covers every lookup by church.
    church = models.ForeignKey(Church, on_delete=models.CASCADE, related_name="members", db_index=False)
    first_name = models.CharField(max_length=100, validators=[validate_plain_text])
    last_name = models.CharField(max_length=100, validators=[validate_plain_text])
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=16, blank=True, validators=[validate_e164],
                             help_text="Stored in E.164, e.g. +18085551234 (forms accept it as people type it)")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.VISITOR)
    joined_on = models.DateField(default=datetime.date.today)
    birth_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        # The hot queries' indices (members/hot_queries.py; created concurrently by
        # migrations/0002_add_critical_indices.py): the directory order, joins by date, status counts.
        indexes = [
            models.Index(fields=["church", "last_name", "first_name", "id"], name="member_church_name_idx"),
            # By join date (`?sort=joined|-joined`, "new in 30 days"), with the id as the keyset's tiebreak.
            models.Index(fields=["church", "joined_on", "id"], name="member_church_joined_id_idx"),
            # A status in name order (`?status=visitor`), and the counts by status.
            models.Index(fields=["church", "status", "last_name", "first_name", "id"],
                         name="member_church_status_name_idx"),
        ]
        constraints = [
            # One person per email within a church, whatever its case, whoever writes (the admin
            # too); blank emails are allowed many times. Built CONCURRENTLY (migration 0006).
            models.UniqueConstraint(
                F("church"), Lower("email"), condition=~Q(email=""), name="member_unique_email_ci_per_church",
                violation_error_message="A member of this church already has this email address.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["visitor", "regular", "member", "inactive"]), name="member_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    def clean(self) -> None:
        super().clean()
        _refuse_moving_with_relations(self, "This person")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_absolute_url(self) -> str:
        return reverse("member_detail", args=[self.pk])


class Group(models.Model):
    class Kind(models.TextChoices):
        SMALL_GROUP = "small_group", "Small group"
        MINISTRY = "ministry", "Ministry team"
        CLASS = "class", "Class"
        SERVICE_TEAM = "service_team", "Service team"
        OTHER = "other", "Other"

    # No index of its own: the unique (church, name) index covers lookups by church.
    church = models.ForeignKey(Church, on_delete=models.CASCADE, related_name="groups", db_index=False)
    name = models.CharField(max_length=120, validators=[validate_plain_text])
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SMALL_GROUP)
    description = models.TextField(
        blank=True, max_length=GROUP_DESCRIPTION_MAX_LENGTH,
        validators=[MaxLengthValidator(GROUP_DESCRIPTION_MAX_LENGTH), validate_multiline_text],
    )
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # When and where it meets: attendance for the group opens on its most recent meeting day.
    meeting_day = models.PositiveSmallIntegerField(choices=Weekday.choices, null=True, blank=True)
    meeting_time = models.TimeField(null=True, blank=True)
    meeting_place = models.CharField(max_length=200, blank=True, validators=[validate_plain_text])
    # Memberships of this group (leaders included): kept by members.tallies, so group lists,
    # rosters and the dashboard never count memberships row by row.
    member_count = models.PositiveIntegerField(default=0, db_default=0, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["church", "name"], name="group_unique_name_per_church",
                violation_error_message="This church already has a group with this name.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        _refuse_moving_with_relations(self, "This group")

    def get_absolute_url(self) -> str:
        return reverse("group_detail", args=[self.pk])


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        LEADER = "leader", "Leader"

    # No index of its own: the unique (group, member) index covers lookups by group.
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_on = models.DateField(default=datetime.date.today)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["group", "member"], name="membership_unique_member_per_group",
                violation_error_message="This person is already in the group.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member} in {self.group}"

    def clean(self) -> None:
        super().clean()
        validate_one_church(self)


class MemberTally(models.Model):
    """How many of a church's members share a status, a join month and being in a group or not.

    The dashboard's figures (totals by status, growth per month, people in no group) are sums
    over these few hundred rows instead of aggregates over every member: a constant cost
    whatever the size of the church. members.tallies keeps them exact in the same transaction
    as every write, and rebuilds them from the members table when asked.
    """

    church = models.ForeignKey(Church, on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=10, choices=Member.Status.choices)
    joined_month = models.DateField(help_text="The first day of the month the members joined in.")
    in_group = models.BooleanField(help_text="Whether these members are in at least one current group.")
    total = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["church", "status", "joined_month", "in_group"],
                                    name="membertally_unique_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.total} {self.status} joined {self.joined_month:%Y-%m}{' in a group' if self.in_group else ''}"
