"""Attendance: who was present at a service or a group meeting on a date."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from members.models import Church, Group, Member, TenantQuerySet, validate_one_church


class Attendance(models.Model):
    """One person present on one date: at the church's service (`group` empty) or a group meeting."""

    # No single-column index: (church, date, group) below leads with church.
    church = models.ForeignKey(Church, on_delete=models.CASCADE, related_name="attendance", db_index=False)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="attendance")
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="attendance")
    date = models.DateField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            # A session's headcount and ticks (church, date, group), and the recent-sessions
            # list read backwards along it; also the dashboard's attendance figures by date.
            models.Index(fields=["church", "date", "group"], name="attendance_church_date_group"),
        ]
        constraints = [
            # NULL groups are distinct in a plain unique index, so services get their own.
            models.UniqueConstraint(
                fields=["member", "date"], condition=Q(group__isnull=True), name="attendance_unique_service",
            ),
            models.UniqueConstraint(
                fields=["member", "group", "date"], condition=Q(group__isnull=False), name="attendance_unique_group",
            ),
        ]

    def __str__(self) -> str:
        where = self.group.name if self.group_id else "service"
        return f"{self.member} at {where} on {self.date}"

    def clean(self) -> None:
        super().clean()
        validate_one_church(self)  # the member's and the group's church are the record's


class AttendanceDay(models.Model):
    """How many were present on one date at the church's services and at its groups' meetings.

    The dashboard's weekly attendance sums at most 84 of these rows instead of counting every
    attendance record of 12 weeks. attendance.tallies keeps them exact in the same transaction
    as every attendance write (and member deletion), and rebuilds them when asked.
    """

    church = models.ForeignKey(Church, on_delete=models.CASCADE, related_name="+", db_index=False)
    date = models.DateField()
    service = models.IntegerField(default=0)
    groups = models.IntegerField(default=0)
    # The service's head count that day (HeadCount), 0 when none: the figures count the service
    # as the larger of the people named (`service`) and this.
    counted = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["church", "date"], name="attendanceday_unique_date"),
        ]

    def __str__(self) -> str:
        return f"{self.date}: {self.service} at services, {self.groups} at groups"


class HeadCount(models.Model):
    """How many were at the church's service on a date, counted rather than named ("240
    present"): for churches that count heads at the door. It is everyone present, ticked by name
    or not, so the service's figure for the day (the weekly chart, the 4-week figure, the
    sessions list) is the larger of this and the people named. attendance.tallies copies it
    into the day's and the session's counters in the same transaction."""

    church = models.ForeignKey(Church, on_delete=models.CASCADE, related_name="+", db_index=False)
    date = models.DateField()
    present = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["church", "date"], name="headcount_unique_date"),
        ]

    def __str__(self) -> str:
        return f"{self.present} counted at the service on {self.date}"


class SessionCount(models.Model):
    """How many were present at one session: the church's service (group empty) or a group's
    meeting, on a date. The recent-sessions list reads 25 of these instead of counting the
    records of its sessions (a 100,000-member church's Sunday service alone has ~40,000).
    Kept with AttendanceDay by attendance.tallies."""

    church = models.ForeignKey(Church, on_delete=models.CASCADE, related_name="+", db_index=False)
    date = models.DateField()
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    present = models.IntegerField(default=0)
    counted = models.IntegerField(default=0)  # the service's head count (HeadCount), 0 for groups

    class Meta:
        indexes = [
            # The list, newest first: read backwards along it, stopping after a page.
            models.Index(fields=["church", "date", "group"], name="sessioncount_church_date_group"),
        ]
        constraints = [
            # NULL groups are distinct in a plain unique index, so services get their own.
            models.UniqueConstraint(fields=["church", "date"], condition=Q(group__isnull=True),
                                    name="sessioncount_unique_service"),
            models.UniqueConstraint(fields=["church", "date", "group"], condition=Q(group__isnull=False),
                                    name="sessioncount_unique_group"),
        ]

    def __str__(self) -> str:
        return f"{self.present} present on {self.date}"

    def clean(self) -> None:
        super().clean()
        validate_one_church(self)
