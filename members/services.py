"""Writes for members, groups and memberships, each with the cache invalidation it causes
and the counters it moves (members.tallies: member tallies, group sizes, attendance days).

Invalidation is one generation bump per namespace, delivered on commit (see
`cachemon.cache_aside`): a bulk write costs the same O(1) cache calls as a single one.
What each write makes stale:
- members created / status changed: `keys.MEMBER_WRITE` (lists, rosters, dashboard).
- a member renamed or deleted: also `keys.GROUPS` (leader names and group sizes show there).
- groups and memberships: `keys.GROUP_WRITE`.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from django.db.models import F
from django.db.models.functions import Lower

from cachemon import cache_aside, keys

from . import spreadsheet, tallies
from .forms import EMAIL_TAKEN, MemberForm
from .models import Church, Group, Member, Membership
from .timezones import church_today

MEMBER_FIELDS = ("first_name", "last_name", "email", "phone", "status", "joined_on", "birth_date")


def _member_changed(church_id: int, *, names_or_memberships: bool = False) -> None:
    namespaces = keys.MEMBER_WRITE + ((keys.GROUPS,) if names_or_memberships else ())
    cache_aside.invalidate(*namespaces, church_id=church_id)


# --- Members ---------------------------------------------------------------------------

@transaction.atomic
def member_create(*, church: Church, data: dict) -> Member:
    """Create a member from a `MemberForm`'s cleaned data."""
    member = Member(church=church, **{name: data[name] for name in MEMBER_FIELDS})
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError:
        # Two staff adding the same email at the same moment: the constraint wins.
        raise ValidationError({"email": EMAIL_TAKEN}) from None
    tallies.apply(church.id, {tallies.bucket(member.status, member.joined_on, False): 1})
    _member_changed(church.id)
    return member


GONE = "This person was deleted by someone else in the meantime."


def _locked_member(member: Member) -> tuple[int, str, datetime.date]:
    """Lock the member's row and return its stored (id, status, joined_on): what decides its
    tally bucket, read from the database since a bound form has already changed `member`."""
    rows = tallies.lock_members(member.church_id, [member.pk])
    if not rows:
        raise ValidationError(GONE)
    return rows[0]


@transaction.atomic
def member_update(*, member: Member, data: dict) -> Member:
    """Save a `MemberForm`'s cleaned data onto `member`.

    Invalidates what can show the change: the member lists, rosters, member pages and group
    lists (their leaders' names) always; the dashboard only when the status or join date
    changed (its figures are counts by those, and the counters' buckets: a new phone number,
    email or name changes none of them; measured in docs/capacity.md)."""
    _, old_status, old_joined = _locked_member(member)
    for name in MEMBER_FIELDS:
        setattr(member, name, data[name])
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError:
        raise ValidationError({"email": EMAIL_TAKEN}) from None
    in_group = bool(tallies.in_current_group([member.pk]))
    tallies.apply(member.church_id, tallies.moved(tallies.bucket(old_status, old_joined, in_group),
                                                  tallies.bucket(member.status, member.joined_on, in_group)))
    if (old_status, old_joined) != (member.status, member.joined_on):
        _member_changed(member.church_id, names_or_memberships=True)
    else:
        cache_aside.invalidate(*keys.MEMBER_DETAILS_WRITE, church_id=member.church_id)
    return member


@transaction.atomic
def member_delete(*, member: Member) -> None:
    """Delete a member with their memberships and attendance (cascade)."""
    from attendance import tallies as attendance_tallies  # attendance imports members: import late

    church_id = member.church_id
    # Groups before the member, as every writer locks them (members.tallies).
    group_ids = list(
        Group.objects.select_for_update().filter(memberships__member=member).order_by("id").values_list("id", flat=True)
    )
    attendance_tallies.lock_member_days(church_id, member.pk)
    _, status, joined_on = _locked_member(member)
    in_group = bool(tallies.in_current_group([member.pk]))
    Group.objects.filter(pk__in=group_ids).update(member_count=F("member_count") - 1)
    attendance_tallies.member_deleted(church_id, member.pk)
    tallies.apply(church_id, {tallies.bucket(status, joined_on, in_group): -1})
    member.delete()
    _member_changed(church_id, names_or_memberships=True)


@transaction.atomic
def members_set_status(*, church: Church, member_ids: Iterable[int], status: str) -> int:
    """Set `status` on the given members of `church` in one UPDATE; ids of other churches'
    members are ignored. Returns how many members were updated."""
    if status not in Member.Status.values:
        raise ValidationError(f"Unknown status {status!r}.")
    ids = list(member_ids)
    if not ids:
        return 0
    rows = tallies.lock_members(church.id, ids)  # only the church's members, locked
    grouped = tallies.in_current_group([member_id for member_id, old, _ in rows if old != status])
    deltas: Counter = Counter()
    for member_id, old, joined_on in rows:
        in_group = member_id in grouped
        deltas.update(tallies.moved(tallies.bucket(old, joined_on, in_group), tallies.bucket(status, joined_on, in_group)))
    updated = (
        Member.objects.for_church(church).filter(pk__in=[r[0] for r in rows])
        .update(status=status, updated_at=timezone.now())
    )
    if updated:
        tallies.apply(church.id, deltas)
        _member_changed(church.id)
    return updated


# --- CSV import ------------------------------------------------------------------------

IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_MAX_ROWS = 20_000
IMPORT_MAX_ERRORS = 50
IMPORT_REQUIRED = ("first_name", "last_name", "email", "phone")
IMPORT_OPTIONAL = ("status", "joined_on", "birth_date")
_STATUS_BY_TEXT = {
    **{value: value for value in Member.Status.values},
    **{str(label).lower(): value for value, label in Member.Status.choices},
}


class ImportRejected(Exception):
    """The file was refused; nothing was imported. `problems` are messages for the user."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class ImportResult:
    created: int


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


UTF8_ADVICE = "Export your spreadsheet as “CSV UTF-8” and upload that."


def _read_text(file: UploadedFile) -> str:
    too_big = f"The file is larger than the {_size(IMPORT_MAX_BYTES)} limit. Split it into smaller files."
    if file.size is not None and file.size > IMPORT_MAX_BYTES:
        raise ImportRejected([too_big])
    raw = file.read(IMPORT_MAX_BYTES + 1)
    if len(raw) > IMPORT_MAX_BYTES:
        raise ImportRejected([too_big])
    if not raw.strip():
        raise ImportRejected(["The file is empty."])
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # "Unicode text" from Excel: UTF-16 with its byte-order mark, read as it is.
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportRejected([f"The file starts like UTF-16 text but isn't valid UTF-16. {UTF8_ADVICE}"]) from None
    elif b"\x00" in raw:
        if _looks_like_utf16(raw):
            raise ImportRejected([f"The file looks like UTF-16 text without its byte-order mark; "
                                  f"Flock reads UTF-8 (or UTF-16 with the mark). {UTF8_ADVICE}"])
        raise ImportRejected([f"This doesn't look like a CSV file (it contains binary data). {UTF8_ADVICE}"])
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportRejected([f"The file isn't UTF-8 text. {UTF8_ADVICE}"]) from None
    if "\x00" in text:
        raise ImportRejected([f"This doesn't look like a CSV file (it contains binary data). {UTF8_ADVICE}"])
    return text


def _looks_like_utf16(raw: bytes) -> bool:
    """Mostly-ASCII UTF-16 without a byte-order mark: a NUL in every other byte."""
    sample = raw[:2000]
    return len(sample) >= 4 and (sample[1::2].count(0) > len(sample) // 3 or sample[0::2].count(0) > len(sample) // 3)


def _csv_problem(exc: csv.Error, line: int) -> str:
    """What a csv.Error means for the person who made the file."""
    message = str(exc)
    if "unexpected end of data" in message:
        return (f"Row {line}: a quoted value is never closed (a \" without its partner), so the rest of the file "
                f"was read into it. The row is malformed: close the quotes, or remove the stray one.")
    if "expected after" in message:
        return (f"Row {line}: a quoted value has more text after its closing quote. The row is malformed: put the "
                f"whole value inside the quotes (a quote inside a value is written twice, \"\").")
    return f"Row {line}: the file can't be read as CSV ({message})."


def _parse_rows(text: str) -> tuple[list[str], list[tuple[int, dict]]]:
    first_line = text.split("\n", 1)[0]
    # Spreadsheets in many locales save CSV with semicolons.
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    # strict: an unclosed quote or text after a closing quote is an error (with a clear
    # message), not a row silently swallowing the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    line = 1  # where the row being read starts
    try:
        header = next(reader, None)
        if header is None:
            raise ImportRejected(["The file is empty."])
        columns = [name.strip().lower().replace(" ", "_") for name in header]
        missing = [name for name in IMPORT_REQUIRED if name not in columns]
        if missing:
            raise ImportRejected([
                f"The header row is missing the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}. "
                f"The first line must be: {','.join(IMPORT_REQUIRED)} (optional: {', '.join(IMPORT_OPTIONAL)})."
            ])
        wanted = {name: columns.index(name) for name in IMPORT_REQUIRED + IMPORT_OPTIONAL if name in columns}
        rows: list[tuple[int, dict]] = []
        line = reader.line_num + 1
        for values in reader:
            start, line = line, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue  # blank lines and rows of empty cells
            if len(rows) >= IMPORT_MAX_ROWS:
                raise ImportRejected([f"The file has more than {IMPORT_MAX_ROWS:,} members. Split it into smaller files."])
            row = {name: _import_cell(name, values[i]) if i < len(values) else "" for name, i in wanted.items()}
            if len(values) > len(columns):
                row["_extra_values"] = True
            rows.append((start, row))
    except csv.Error as exc:
        raise ImportRejected([_csv_problem(exc, line)]) from None
    if not rows:
        raise ImportRejected(["The file has a header but no members."])
    return columns, rows


def _import_cell(column: str, value: str) -> str:
    """A cell as the member form gets it: trimmed, and without the apostrophe the export put in
    front of formula-like text (members.spreadsheet: exactly where it was added)."""
    value = value.strip()
    return value if column == "phone" else spreadsheet.unguard(value)


def _existing_emails(church: Church, emails: set[str]) -> set[str]:
    """Which of the (lower-cased) `emails` the church already has, whatever their stored case."""
    found: set[str] = set()
    batch = sorted(emails)
    for start in range(0, len(batch), 500):
        found.update(
            Member.objects.for_church(church).annotate(email_ci=Lower("email"))
            .filter(email_ci__in=batch[start:start + 500]).values_list("email_ci", flat=True)
        )
    return found


def _row_problems(line: int, form: MemberForm) -> list[str]:
    problems = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else "Row"
        for error in errors:
            problems.append(f"Row {line}: {label}: {error}")
    return problems


def _validate_rows(church: Church, rows: list[tuple[int, dict]]) -> tuple[list[dict], list[str]]:
    emails = {row["email"].lower() for _, row in rows if row.get("email")}
    taken = _existing_emails(church, emails)
    first_seen: dict[str, int] = {}
    problems: list[str] = []
    cleaned: list[dict] = []
    form = MemberForm(data={}, church=church, taken_emails=taken)
    for line, row in rows:
        if row.pop("_extra_values", False):
            problems.append(f"Row {line}: has more values than the header has columns (a comma inside a value needs quotes).")
            continue
        status = row.get("status", "")
        if status:
            row["status"] = _STATUS_BY_TEXT.get(status.lower(), status)
        else:
            row["status"] = Member.Status.VISITOR
        if not form.rebind(row).is_valid():
            problems.extend(_row_problems(line, form))
            continue
        email = form.cleaned_data["email"]
        if email:
            if email in first_seen:
                problems.append(f"Row {line}: Email: {email} is also on row {first_seen[email]} of this file.")
                continue
            first_seen[email] = line
        cleaned.append(form.cleaned_data)
    return cleaned, problems


def members_import_csv(*, church: Church, file: UploadedFile) -> ImportResult:
    """Import members from a CSV upload: all rows or none.

    Every row is validated with `MemberForm` first (plus duplicates inside the file and
    against the church's existing emails); any problem rejects the whole file with one
    message per bad row. A good file is inserted in one transaction with `bulk_create`
    and one cache invalidation, whatever its length.
    """
    _, rows = _parse_rows(_read_text(file))
    cleaned, problems = _validate_rows(church, rows)
    if problems:
        shown = problems[:IMPORT_MAX_ERRORS]
        if len(problems) > IMPORT_MAX_ERRORS:
            shown.append(f"…and {len(problems) - IMPORT_MAX_ERRORS:,} more problems.")
        raise ImportRejected(shown)
    now = timezone.now()
    members = [
        Member(church=church, created_at=now, updated_at=now, **{name: data[name] for name in MEMBER_FIELDS})
        for data in cleaned
    ]
    try:
        with transaction.atomic():
            Member.objects.bulk_create(members, batch_size=1000)
            tallies.apply(church.id, Counter(tallies.bucket(m.status, m.joined_on, False) for m in members))
            _member_changed(church.id)
    except IntegrityError:
        raise ImportRejected([
            "Another change added one of these emails while the file was being imported. "
            "Nothing was imported; please upload the file again."
        ]) from None
    return ImportResult(created=len(members))


# --- Groups and memberships ------------------------------------------------------------

def _group_changed(church_id: int) -> None:
    cache_aside.invalidate(*keys.GROUP_WRITE, church_id=church_id)


@transaction.atomic
def group_create(*, church: Church, data: dict) -> Group:
    """Create a group from a `GroupForm`'s cleaned data."""
    group = Group(church=church, name=data["name"], kind=data["kind"], description=data.get("description", ""),
                  **{name: data[name] for name in MEETING_FIELDS if name in data})
    try:
        with transaction.atomic():
            group.save()
    except IntegrityError:
        raise ValidationError({"name": "This church already has a group with this name."}) from None
    _group_changed(church.id)
    return group


@transaction.atomic
def group_update(*, group: Group, data: dict) -> Group:
    """Save a `GroupForm`'s cleaned data (name, kind, description, archived) onto `group`.
    Archiving a group (or bringing it back) moves its people out of (or into) "in a group"."""
    was_archived = _locked_group(group)
    fields = [name for name in GROUP_FIELDS if name in data]
    for name in fields:
        setattr(group, name, data[name])
    try:
        with transaction.atomic():
            # update_fields: never write back a member_count read before the lock.
            group.save(update_fields=fields)
    except IntegrityError:
        raise ValidationError({"name": "This church already has a group with this name."}) from None
    if group.archived != was_archived:
        tallies.group_membership_changed(
            church_id=group.church_id, joined=not group.archived, exclude_group_id=group.pk,
            rows=tallies.lock_members(
                group.church_id, Membership.objects.filter(group=group).values_list("member_id", flat=True)),
        )
    _group_changed(group.church_id)
    return group


MEETING_FIELDS = ("meeting_day", "meeting_time", "meeting_place")
GROUP_FIELDS = ("name", "kind", "description", *MEETING_FIELDS, "archived")


def _locked_group(group: Group) -> bool:
    """Lock the group's row (before any member's: members.tallies) and return whether it is
    archived as stored now; raise ValidationError when it was deleted meanwhile."""
    archived = Group.objects.select_for_update().filter(pk=group.pk).values_list("archived", flat=True).first()
    if archived is None:
        raise ValidationError("This group was deleted by someone else in the meantime.")
    return archived


@transaction.atomic
def membership_add(*, church: Church, group: Group, member_id: int,
                   role: str = Membership.Role.MEMBER) -> Membership:
    """Add one of the church's members to `group`. Raises ValidationError with a message
    for the user (and changes nothing) for another church's member, an unknown id, an
    archived group or someone already in the group."""
    if group.church_id != church.id:
        raise ValidationError("This group belongs to another church.")
    if group.archived or _locked_group(group):
        raise ValidationError("This group is archived; unarchive it before adding people.")
    member = Member.objects.for_church(church).select_for_update().filter(pk=member_id).first()
    if member is None:
        raise ValidationError("That person isn't a member of this church.")
    if Membership.objects.filter(group=group, member=member).exists():
        raise ValidationError(f"{member.full_name} is already in {group.name}.")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(group=group, member=member, role=role,
                                                   joined_on=church_today(church))
    except IntegrityError:
        raise ValidationError(f"{member.full_name} is already in {group.name}.") from None
    Group.objects.filter(pk=group.pk).update(member_count=F("member_count") + 1)
    tallies.group_membership_changed(church_id=church.id, rows=[(member.pk, member.status, member.joined_on)],
                                     joined=True, exclude_group_id=group.pk)
    _group_changed(church.id)
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Take a member out of a group (their past attendance stays)."""
    group = membership.group
    archived = _locked_group(group)
    locked = tallies.lock_members(group.church_id, [membership.member_id])
    deleted, _ = Membership.objects.filter(pk=membership.pk).delete()
    if deleted:  # not already removed by someone else
        Group.objects.filter(pk=group.pk).update(member_count=F("member_count") - 1)
        if not archived:
            tallies.group_membership_changed(church_id=group.church_id, rows=locked, joined=False,
                                             exclude_group_id=group.pk)
    _group_changed(group.church_id)


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str) -> Membership:
    """Make a member a leader of the group, or a plain member again."""
    if role not in Membership.Role.values:
        raise ValidationError(f"Unknown role {role!r}.")
    if membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
        _group_changed(membership.group.church_id)
    return membership
