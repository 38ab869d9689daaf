"""`manage.py seed_demo`: realistic demo churches, people, groups and attendance, fast at scale.

It always adds (new churches with unique slugs, new accounts with unique usernames), so it can
run twice. For every account it makes it prints exactly one line:

    account: <username> password: <password> church: <church slug or -> role: <staff|admin>

Speed: rows are generated per church in chunks and streamed to PostgreSQL with COPY
(psycopg 3 `cursor.copy`); other databases get chunked `executemany` INSERTs. Nothing is
held in memory beyond one church's members (ids, status, join date, attendance rate). On
PostgreSQL, churches are seeded by one forked process per CPU (`--jobs`), each church in its
own transaction: one process alternates between Python making rows and PostgreSQL storing
them, so it keeps one core busy (200,000 members in 40 churches, 2 cores: 33.0 s with one
process, 20.4 s with two; a million in 200 churches: 92 s). Each church's random stream is
drawn up front, so the data is the same whatever the number of processes.

Attendance dominates row counts (a year of Sundays for a million people would be ~25M rows),
so a run records at most `ATTENDANCE_ROW_BUDGET` rows: the number of most recent weeks covered
is chosen to fit (52 for a few hundred thousand members, fewer beyond; `--weeks` overrides).
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import math
import multiprocessing
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections, transaction
from django.utils import timezone
from django.utils.text import slugify

from attendance import tallies as attendance_tallies
from attendance.models import Attendance
from members import hot_queries, tallies
from members.models import Church, Group, Member, Membership, User

DEFAULT_PASSWORD = "flock-demo-password"
ATTENDANCE_ROW_BUDGET = 3_000_000
MEMBER_CHUNK = 50_000  # rows generated and written at a time (bounded memory, progress lines)
ROW_CHUNK = 200_000
YEARS_OF_HISTORY = 3

FIRST_NAMES = (
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara Richard Susan "
    "Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy Matthew Betty Anthony Sandra "
    "Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol "
    "Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura "
    "Jeffrey Cynthia Ryan Dorothy Jacob Amy Gary Kathleen Nicholas Angela Eric Shirley Jonathan Emma "
    "Stephen Brenda Larry Pamela Justin Nicole Scott Anna Brandon Samantha Benjamin Katherine Samuel "
    "Christine Gregory Debra Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack Olivia Dennis "
    "Heather Jerry Helen Tyler Catherine Aaron Diane Jose Julie Adam Victoria Nathan Joyce Henry Lauren "
    "Zachary Kelly Douglas Christina Peter Ruth Kyle Joan Noah Virginia Ethan Judith Jeremy Evelyn "
    "Christian Hannah Walter Andrea Keith Megan Austin Cheryl Roger Jacqueline Terry Madison Sean Teresa "
    "Gerald Abigail Carl Sophia Dylan Martha Harold Sara Jordan Gloria Jesse Janice Bryan Kathryn Lawrence "
    "Ann Arthur Isabella Gabriel Judy Bruce Charlotte Logan Julia Billy Grace Joe Amber Alan Alice Juan "
    "Jean Elijah Denise Willie Frances Albert Danielle Wayne Marilyn Randy Natalie Mason Beverly Vincent "
    "Diana Liam Brittany Roy Theresa Bobby Kayla Caleb Alexis Bradley Doris Russell Lori Lucas Tiffany "
    "Chidi Ngozi Kwame Ama Wei Mei Hiroshi Yuki Priya Arjun Mateo Sofia Diego Camila Oluwaseun Adaeze "
    "Tomasz Agnieszka Lars Ingrid Mohammed Fatima Thanh Linh Joon Minji Rafael Lucia Kofi Abena Sipho Thandi"
).split()

LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker "
    "Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper "
    "Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James "
    "Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez "
    "Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez "
    "Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole "
    "Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens "
    "Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker "
    "Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz "
    "Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice "
    "O'Brien O'Connor MacLeod Okafor Mensah Adeyemi Nakamura Tanaka Wang Zhang Liu Singh Kowalski "
    "Nowak Larsen Johansson Haddad Khan Pham Park Choi Santos Oliveira Boateng Dlamini Van der Berg"
).split(" ")

CHURCH_PREFIXES = (
    "Grace", "Hope", "Trinity", "Redeemer", "Cornerstone", "New Life", "Living Water", "Emmanuel",
    "Calvary", "Faith", "Harvest", "Bethel", "Shiloh", "Zion", "Good Shepherd", "St. Mark's", "St. Luke's",
    "Christ", "Covenant", "Crossroads", "Riverside", "Hillside", "Lakeview", "Summit", "Mosaic",
    "Northpoint", "Park Street", "Antioch", "Bethany", "Providence", "Resurrection", "Victory",
    "Lighthouse", "Mercy", "Gospel", "Renewal", "Kingdom", "Ebenezer", "All Saints", "Cross Creek",
)
CHURCH_KINDS = ("Church", "Chapel", "Fellowship", "Community Church", "Bible Church", "Baptist Church")
PLACES = (
    "Springfield", "Riverton", "Fairview", "Greenville", "Madison", "Clinton", "Franklin", "Georgetown",
    "Salem", "Oakland", "Bristol", "Dover", "Ashland", "Burlington", "Chester", "Kingston", "Milton",
    "Newport", "Oxford", "Lexington", "Arlington", "Auburn", "Dayton", "Hudson", "Jackson", "Lebanon",
)
SMALL_GROUP_AREAS = (
    "Northside", "Southside", "Eastside", "Westside", "Downtown", "Riverside", "Hillcrest", "Oak Park",
    "Maple Grove", "Cedar Hills", "Lakeside", "Midtown", "Old Town", "University", "Harbor", "Meadowbrook",
    "Pinewood", "Brookfield", "Fairmont", "Elmwood", "Highland", "Sunnyside", "Westwood", "Parkview",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SMALL_GROUP_TYPES = ("Home Group", "Bible Study", "Life Group", "Prayer Group", "Men's Group", "Women's Group",
                     "Young Adults", "Couples Group")
MINISTRIES = ("Worship Team", "Youth Ministry", "Children's Ministry", "Hospitality", "Prayer Ministry",
              "Missions", "Media Team", "Welcome Team", "Food Pantry", "Care Ministry", "Men's Ministry",
              "Women's Ministry", "Seniors' Ministry", "Marriage Ministry", "Outreach", "Recovery Ministry")
CLASSES = ("Alpha Course", "Membership Class", "Baptism Class", "Financial Peace", "Intro to the Bible",
           "Parenting Class", "Discipleship 101", "ESL Class", "Church History", "Theology Basics")
TERMS = ("Spring", "Summer", "Fall", "Winter")
SERVICE_TEAMS = ("Ushers", "Greeters", "Parking Team", "Sound Crew", "Coffee Team", "Nursery Team",
                 "Setup Crew", "Communion Team", "Security Team", "Livestream Team")
SERVICE_TIMES = ("8am", "9:30am", "11am", "6pm")
OTHER_GROUPS = ("Choir", "Knitting Circle", "Book Club", "Running Club", "Basketball League", "Moms' Group",
                "Gardening Club", "Crafts Circle", "Hiking Club", "Film Night")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.example")
US_AREA_CODES = (201, 212, 213, 305, 312, 404, 415, 469, 503, 512, 602, 617, 646, 702, 713, 718, 773, 808,
                 817, 832, 904, 917, 919, 972)

# Status mix, and how often each status comes to the Sunday service (before a personal factor).
STATUS_WEIGHTS = (("visitor", 0.15), ("regular", 0.25), ("member", 0.45), ("inactive", 0.15))
SERVICE_RATE = {"visitor": 0.25, "regular": 0.55, "member": 0.7, "inactive": 0.4}
GROUP_MEETING_RATE = 0.65
GROUP_KINDS = (("small_group", 0.5), ("ministry", 0.2), ("class", 0.1), ("service_team", 0.12), ("other", 0.08))
GROUP_SIZE = {"small_group": (6, 20), "ministry": (8, 45), "class": (8, 30), "service_team": (5, 25),
              "other": (5, 35)}
MEETING_KINDS = ("small_group", "class")  # these meet weekly; attendance is recorded for them
GROUP_MEETING_WEEKS = 12

MEMBER_COLUMNS = ("church_id", "first_name", "last_name", "email", "phone", "status", "joined_on",
                  "birth_date", "created_at", "updated_at")
GROUP_COLUMNS = ("church_id", "name", "kind", "description", "archived", "created_at", "member_count",
                 "meeting_day", "meeting_time", "meeting_place")
# When each kind of group meets (weekday numbers: Monday 0); the service teams serve on Sundays.
MEETING_DAYS = {"small_group": (1, 2, 3, 4), "class": (2, 3, 6), "ministry": (0, 3, 5), "service_team": (6,)}
MEMBERSHIP_COLUMNS = ("group_id", "member_id", "role", "joined_on")
ATTENDANCE_COLUMNS = ("church_id", "member_id", "group_id", "date")


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` spread over `parts` unevenly (log-normal weights, like real church sizes), summing exactly."""
    if parts <= 0:
        return []
    weights = [rng.lognormvariate(0, 0.6) for _ in range(parts)]
    scale = total / sum(weights)
    sizes = [int(w * scale) for w in weights]
    for i in range(total - sum(sizes)):
        sizes[i % parts] += 1
    return sizes


def _unique(base: str, taken: set[str], sep: str = "-") -> str:
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}{sep}{n}"
    taken.add(candidate)
    return candidate


class Inserter:
    """Writes rows fast: COPY on PostgreSQL, chunked executemany INSERTs elsewhere."""

    def __init__(self) -> None:
        self.copy = connection.vendor == "postgresql"
        self.skip_fk_triggers = False
        if self.copy:
            with connection.cursor() as cursor:
                cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                self.skip_fk_triggers = bool(cursor.fetchone()[0])

    def begin(self) -> None:
        """Call inside the church's transaction, before its inserts.

        Every foreign key is generated from rows just read back, so the per-row FK triggers
        (half the load time at scale) are skipped for this transaction when the role may do so.
        Constraints, unique indices and NOT NULLs are still checked.
        """
        if self.skip_fk_triggers:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")

    @contextlib.contextmanager
    def batched_gin_updates(self, indexes: Sequence[str]) -> Iterator[None]:
        """The member search's GIN indices have fastupdate off (searches never read a pending list;
        members/migrations/0004 and 0005), so every row would be added to them on its own, the
        slowest part of a big seed. For the load, new entries collect in the pending lists and are
        merged in batches (what fastupdate is for); at the end the lists are merged and fastupdate
        is off again."""
        present: list[str] = []
        if self.copy:
            with connection.cursor() as cursor:
                for index in indexes:
                    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [index])
                    if cursor.fetchone()[0]:
                        present.append(index)
                        cursor.execute(f'ALTER INDEX "{index}" SET (fastupdate = on)')
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                for index in present:
                    cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
                    cursor.execute(f'ALTER INDEX "{index}" SET (fastupdate = off)')

    def end(self) -> None:
        """Back to normal triggers (matters when the caller's transaction goes on, as in tests)."""
        if self.skip_fk_triggers:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = DEFAULT")

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[tuple], copy_line=None) -> int:
        """Insert `rows`; `copy_line(row)`, when given, formats a row for COPY faster than the generic way."""
        count = 0
        line = copy_line or _copy_line
        with connection.cursor() as cursor:
            if self.copy:
                cols = ", ".join(columns)
                with cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    # COPY text built here: ~4x faster than write_row() per row.
                    for chunk in _chunks(rows, 20_000):
                        copy.write("".join([line(row) for row in chunk]))
                        count += len(chunk)
            else:
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
                for chunk in _chunks(map(self._adapt, rows), 5_000):
                    cursor.executemany(sql, chunk)
                    count += len(chunk)
        return count

    @staticmethod
    def _adapt(row: tuple) -> tuple:
        # Stored exactly as the ORM would store them (SQLite keeps datetimes as naive UTC text).
        ops = connection.ops
        return tuple(
            ops.adapt_datetimefield_value(v) if isinstance(v, datetime.datetime)
            else ops.adapt_datefield_value(v) if isinstance(v, datetime.date)
            else v
            for v in row
        )


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def _escape(text: str) -> str:
    # Searching first is ~6x cheaper than translate() on text that has nothing to escape (nearly all).
    return text.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(text) else text


def _copy_text(value) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return str(value)


def _copy_line(row: tuple) -> str:
    return "\t".join(map(_copy_text, row)) + "\n"


def _member_copy_line(row: tuple) -> str:
    """A member row (MEMBER_COLUMNS) in COPY text: what _copy_line gives, ~3x faster
    (a million members make ten million values)."""
    church_id, first, last, email, phone, status, joined, birth, created, updated = row
    birth_text = "\\N" if birth is None else _date_text(birth)
    created_text = created.isoformat()
    updated_text = created_text if updated == created else updated.isoformat()
    return (f"{church_id}\t{_escape(first)}\t{_escape(last)}\t{_escape(email)}\t"
            f"{_escape(phone)}\t{status}\t{_date_text(joined)}\t{birth_text}\t"
            f"{created_text}\t{updated_text}\n")


_DATE_TEXTS: dict[datetime.date, str] = {}


def _date_text(day: datetime.date) -> str:
    """day.isoformat(), remembered: a seed has a few thousand distinct dates and millions of rows."""
    text = _DATE_TEXTS.get(day)
    if text is None:
        text = _DATE_TEXTS[day] = day.isoformat()
    return text


def _chunks(rows: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# The command seeding in parallel, for its forked workers (set before the fork, so each child
# has its copy: options, dates, the inserter).
_SEEDER: Command | None = None


def _seed_in_worker(task: tuple[Church, int, float]) -> dict[str, int]:
    return _SEEDER._seed_one(task)


class Command(BaseCommand):
    help = (
        "Add realistic demo data: churches (each with a staff account), members, groups, memberships and "
        "attendance, plus one platform admin. Prints one 'account: ...' line per account made."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--churches", type=int, default=2, help="churches to add (default 2)")
        parser.add_argument("--members", type=int, default=600,
                            help="members to add in all, spread unevenly over the churches (default 600)")
        parser.add_argument("--password", default=DEFAULT_PASSWORD,
                            help=f"password of every account made (default {DEFAULT_PASSWORD!r})")
        parser.add_argument("--if-empty", action="store_true",
                            help="seed only when the database has no church yet (used by `make run`)")
        parser.add_argument("--seed", type=int, default=None, help="random seed, for reproducible data")
        parser.add_argument("--weeks", type=int, default=None,
                            help="weeks of Sunday attendance to record (default: 52, fewer when the run "
                                 f"would pass {ATTENDANCE_ROW_BUDGET:,} attendance rows)")
        parser.add_argument("--jobs", type=int, default=None,
                            help="churches seeded at once, each by a process of its own (PostgreSQL only; "
                                 "default: one per CPU). The data is the same whatever the number.")

    def handle(self, *args, **opts) -> None:
        churches, members, password = opts["churches"], opts["members"], opts["password"]
        if churches < 1:
            raise CommandError("--churches must be at least 1.")
        if members < 0:
            raise CommandError("--members cannot be negative.")
        if not password:
            raise CommandError("--password cannot be empty.")
        if opts["weeks"] is not None and not 0 <= opts["weeks"] <= 520:
            raise CommandError("--weeks must be between 0 and 520.")
        if opts["jobs"] is not None and opts["jobs"] < 1:
            raise CommandError("--jobs must be at least 1.")
        if opts["if_empty"] and Church.objects.exists():
            self.stderr.write("seed_demo: the database already has churches; nothing seeded (--if-empty).")
            return

        self.rng = random.Random(opts["seed"])
        self.started = time.monotonic()
        self.today = timezone.localdate()
        self.inserter = Inserter()
        # Hashing is deliberately slow (PBKDF2): hash once, every demo account shares the password.
        self.password_hash = make_password(password)
        # Sundays, most recent last; members never attend before they joined.
        last_sunday = self.today - datetime.timedelta(days=(self.today.weekday() + 1) % 7)
        weeks = opts["weeks"]
        if weeks is None:
            expected_per_week = members * 0.55 + 1  # service rate mix + group meetings, roughly
            weeks = max(4, min(52, ATTENDANCE_ROW_BUDGET // math.ceil(expected_per_week)))
        self.sundays = [last_sunday - datetime.timedelta(weeks=w) for w in range(weeks - 1, -1, -1)]
        self.group_weeks = min(weeks, GROUP_MEETING_WEEKS)
        self.totals = {"members": 0, "groups": 0, "memberships": 0, "attendance": 0}
        self.in_worker_pool = False
        self.members_target = members
        self.next_progress = MEMBER_CHUNK

        sizes = _split(members, churches, self.rng)
        made = self._make_churches(churches)
        self._make_accounts(made, password)
        # Each church's random stream is drawn here, so its rows do not depend on which process
        # seeds it, nor in what order.
        tasks = [(church, size, self.rng.random()) for church, size in zip(made, sizes)]
        jobs = min(opts["jobs"] or os.cpu_count() or 1, len(tasks))
        with self.inserter.batched_gin_updates(hot_queries.TRIGRAM_INDEXES):
            if jobs > 1 and self.inserter.copy and not connection.in_atomic_block:
                self._seed_in_parallel(tasks, jobs)
            else:
                for task in tasks:
                    self._seed_one(task)
        if connection.vendor == "postgresql":
            # What autovacuum would soon do: fresh statistics (plans match the data right away) and,
            # outside a transaction, the visibility map that lets index-only scans skip the heap.
            command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            with connection.cursor() as cursor:
                for model in (Member, Group, Membership, Attendance, Church):
                    cursor.execute(f"{command} {model._meta.db_table}")
        from members.signals import demo_seeded

        demo_seeded.send(sender=type(self), churches=made)
        t = self.totals
        self.stderr.write(
            f"seed_demo: added {len(made)} churches, {t['members']:,} members, {t['groups']:,} groups, "
            f"{t['memberships']:,} memberships, {t['attendance']:,} attendance records "
            f"({len(self.sundays)} weeks of services) in {time.monotonic() - self.started:.1f}s"
        )

    # --- churches and accounts -----------------------------------------------------------------
    def _make_churches(self, count: int) -> list[Church]:
        taken_slugs = set(Church.objects.values_list("slug", flat=True))
        taken_names = set(Church.objects.values_list("name", flat=True))
        made = []
        for i in range(count):
            if i < len(CHURCH_PREFIXES):
                base = f"{CHURCH_PREFIXES[i]} {self.rng.choice(CHURCH_KINDS)}"
            else:
                base = f"{self.rng.choice(CHURCH_PREFIXES)} {self.rng.choice(CHURCH_KINDS)} {self.rng.choice(PLACES)}"
            name = _unique(base, taken_names, sep=" ")
            slug = _unique(slugify(name)[:70] or "church", taken_slugs)
            created = timezone.now() - datetime.timedelta(days=365 * YEARS_OF_HISTORY + self.rng.randint(0, 900))
            made.append(Church(name=name, slug=slug, created_at=created))
        Church.objects.bulk_create(made, batch_size=1000)
        # Not every backend returns primary keys from bulk_create: read them back by slug.
        ids = dict(Church.objects.filter(slug__in=[c.slug for c in made]).values_list("slug", "id"))
        for church in made:
            church.id = ids[church.slug]
        return made

    def _make_accounts(self, churches: list[Church], password: str) -> None:
        wanted = ["admin"] + [f"{c.slug}-staff" for c in churches]
        taken = set(User.objects.filter(username__in=wanted).values_list("username", flat=True))
        if taken:
            taken |= set(User.objects.filter(username__startswith="admin").values_list("username", flat=True))
            for c in churches:
                taken |= set(User.objects.filter(username__startswith=f"{c.slug}-staff").values_list("username", flat=True))
        now = timezone.now()
        admin = User(username=_unique("admin", taken), email="admin@flock.example", first_name="Platform",
                     last_name="Admin", is_staff=True, is_superuser=True, password=self.password_hash,
                     date_joined=now)
        users = [(admin, "-", "admin")]
        for church in churches:
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            username = _unique(f"{church.slug}-staff", taken)
            user = User(username=username, email=f"{username}@flock.example", first_name=first, last_name=last,
                        church_id=church.id, password=self.password_hash, date_joined=now)
            users.append((user, church.slug, "staff"))
        User.objects.bulk_create([u for u, _, _ in users], batch_size=1000)
        for user, slug, role in users:
            self.stdout.write(f"account: {user.username} password: {password} church: {slug} role: {role}")

    # --- churches, one by one or several at once ---------------------------------------------------
    def _seed_one(self, task: tuple[Church, int, float]) -> dict[str, int]:
        """Seed one church in a transaction of its own; return the rows it added."""
        church, size, seed = task
        before = dict(self.totals)
        with transaction.atomic():
            self.inserter.begin()
            self._seed_church(church, size, random.Random(seed))
            self.inserter.end()
        return {name: self.totals[name] - before[name] for name in self.totals}

    def _seed_in_parallel(self, tasks: list[tuple[Church, int, float]], jobs: int) -> None:
        """Seed the churches in `jobs` forked processes, each with its own connection.

        One process alternates between generating rows (Python) and waiting for PostgreSQL to
        store them, so it keeps about one core busy; two keep both of a 2-core machine busy
        (a million members: ~1.6x faster). Progress is counted here, church by church. When a
        church fails, the pool stops, and the churches already seeded stay (each committed on
        its own, as when seeding one by one).
        """
        global _SEEDER
        _SEEDER = self
        self.in_worker_pool = True
        connections.close_all()  # a forked child must never share its parent's socket
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                for added in pool.imap_unordered(_seed_in_worker, tasks):
                    for name, n in added.items():
                        self.totals[name] += n
                    self._progress()
        finally:
            _SEEDER = None
            self.in_worker_pool = False

    # --- one church ----------------------------------------------------------------------------
    def _seed_church(self, church: Church, size: int, rng: random.Random) -> None:
        start = self.today - datetime.timedelta(days=365 * YEARS_OF_HISTORY)
        span = (self.today - start).days
        statuses = [s for s, _ in STATUS_WEIGHTS]
        cum_weights = list(itertools.accumulate(w for _, w in STATUS_WEIGHTS))  # what choices() would build per call
        now = timezone.now()

        # Per member, kept for memberships and attendance: status, join date, service rate, lapse date.
        people: list[tuple[str, datetime.date, float, datetime.date | None]] = []

        def member_rows(offset: int, count: int) -> Iterator[tuple]:
            for i in range(offset, offset + count):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                status = rng.choices(statuses, cum_weights=cum_weights)[0]
                if status == "visitor":
                    joined = self.today - datetime.timedelta(days=int(rng.random() * 180))
                else:
                    # Growth: more people joined recently (density rises towards today).
                    joined = start + datetime.timedelta(days=int(span * rng.random() ** 0.6))
                r = rng.random()
                if r < 0.08:
                    email = ""
                else:
                    local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
                    email = f"{local}{i + 1}@{rng.choice(EMAIL_DOMAINS)}"
                r = rng.random()
                if r < 0.12:
                    phone = ""
                elif r < 0.22:
                    phone = f"+447{rng.randint(100000000, 999999999)}"
                else:
                    phone = f"+1{rng.choice(US_AREA_CODES)}{rng.randint(2000000, 9999999)}"
                birth = self._birth_date(rng)
                rate = min(0.95, SERVICE_RATE[status] * rng.uniform(0.5, 1.35))
                lapse = None
                if status == "inactive":
                    # Came for a while, then stopped.
                    lapse = joined + datetime.timedelta(days=int(rng.random() * max(1, (self.today - joined).days) * 0.6))
                people.append((status, joined, rate, lapse))
                created = datetime.datetime.combine(joined, datetime.time(9), tzinfo=datetime.UTC) + \
                    datetime.timedelta(seconds=rng.randint(0, 10 * 3600))
                created = min(created, now)
                yield (church.id, first, last, email, phone, status, joined, birth, created, created)

        for offset in range(0, size, MEMBER_CHUNK):
            count = min(MEMBER_CHUNK, size - offset)
            self.inserter.insert(Member._meta.db_table, MEMBER_COLUMNS, member_rows(offset, count), _member_copy_line)
            self.totals["members"] += count
            if not self.in_worker_pool:  # a worker's totals are its own; the parent reports
                self._progress()
        member_ids = list(Member.objects.filter(church_id=church.id).order_by("id").values_list("id", flat=True))
        member_ids = member_ids[-size:] if size else []  # only the rows this run added

        groups, rosters = self._make_groups(church, size, people, rng)
        self._make_memberships(groups, rosters, member_ids, people, rng)
        sessions = self._make_attendance(church, member_ids, people, groups, rosters, rng)
        self._make_tallies(church, people, groups, rosters, sessions)

    def _make_tallies(self, church, people, groups, rosters, sessions: Counter) -> None:
        """The church's counters (members/tallies.py), counted from the rows just generated: what
        tallies.rebuild_church would compute from the tables, without reading them back (on a
        fresh database, with no statistics yet, those aggregates can take minutes a church)."""
        in_group = {pos for gid, _, archived in groups if not archived for pos in rosters.get(gid, ())}
        buckets = Counter(tallies.bucket(status, joined, pos in in_group)
                          for pos, (status, joined, _, _) in enumerate(people))
        tallies.store_buckets(church.id, buckets)
        attendance_tallies.store(church.id, sessions)  # group sizes went in with the groups

    def _birth_date(self, rng: random.Random) -> datetime.date | None:
        r = rng.random()
        if r < 0.1:
            return None
        low, high = ((1, 17) if r < 0.28 else (18, 35) if r < 0.55 else (36, 60) if r < 0.84 else (61, 92))
        return self.today - datetime.timedelta(days=rng.randint(low * 365, high * 365 + 364))

    def _make_groups(self, church: Church, size: int, people, rng: random.Random
                     ) -> tuple[list[tuple[int, str, bool]], dict[int, list[int]]]:
        """The church's groups as (id, kind, archived), and their rosters (group id -> member
        positions), chosen before the groups are written so that each row carries its size."""
        count = 0 if size == 0 else max(min(size, 3), round(size / 30))
        kinds = [k for k, _ in GROUP_KINDS]
        kind_weights = [w for _, w in GROUP_KINDS]
        # Engaged people join groups; about a third of the church joins none.
        engaged = [i for i, p in enumerate(people) if p[0] in ("member", "regular")]
        others = [i for i, p in enumerate(people) if p[0] not in ("member", "regular")]
        taken: set[str] = set()
        rows, rosters = [], []
        for _ in range(count):
            kind = rng.choices(kinds, kind_weights)[0]
            if kind == "small_group":
                base = f"{rng.choice(SMALL_GROUP_AREAS)} {rng.choice(DAYS)} {rng.choice(SMALL_GROUP_TYPES)}"
                description = "Meets weekly in a home to study, pray and share a meal."
            elif kind == "ministry":
                base = rng.choice(MINISTRIES)
                description = "Serves the church and the neighbourhood."
            elif kind == "class":
                base = f"{rng.choice(CLASSES)} ({rng.choice(TERMS)} {self.today.year - rng.randint(0, 2)})"
                description = "A course of weekly sessions."
            elif kind == "service_team":
                base = f"{rng.choice(SERVICE_TEAMS)} {rng.choice(SERVICE_TIMES)}"
                description = "Serves at the Sunday service on a rota."
            else:
                base = rng.choice(OTHER_GROUPS)
                description = ""
            name = _unique(base, taken, sep=" #")
            archived = rng.random() < 0.08
            created = timezone.now() - datetime.timedelta(days=rng.randint(7, 365 * YEARS_OF_HISTORY))
            low, high = GROUP_SIZE[kind]
            pool = engaged if (engaged and rng.random() < 0.85) else (others or engaged)
            roster = rng.sample(pool, min(rng.randint(low, high), len(pool)))
            days = MEETING_DAYS.get(kind)
            # The time as text: what both COPY and SQLite take for a TIME column.
            meeting = ((rng.choice(days), f"{rng.choice((9, 10, 18, 19)):02d}:{rng.choice((0, 30)):02d}:00",
                        f"Room {rng.randint(1, 12)}") if days else (None, None, ""))
            rows.append((church.id, name, kind, description, archived, created, len(roster), *meeting))
            rosters.append(roster)
        self.inserter.insert(Group._meta.db_table, GROUP_COLUMNS, rows)
        self.totals["groups"] += len(rows)
        ids = list(Group.objects.filter(church_id=church.id).order_by("id").values_list("id", flat=True))[-len(rows):] \
            if rows else []
        groups = [(gid, row[2], row[4]) for gid, row in zip(ids, rows)]
        return groups, dict(zip(ids, rosters))

    def _make_memberships(self, groups, rosters, member_ids, people, rng: random.Random) -> None:
        def rows() -> Iterator[tuple]:
            for gid, _, _ in groups:
                leaders = rng.randint(1, 2)
                for n, pos in enumerate(rosters[gid]):
                    joined = people[pos][1]
                    joined += datetime.timedelta(days=int(rng.random() * (self.today - joined).days))
                    yield (gid, member_ids[pos], "leader" if n < leaders else "member", joined)

        self.totals["memberships"] += self.inserter.insert(Membership._meta.db_table, MEMBERSHIP_COLUMNS, rows())

    def _make_attendance(self, church, member_ids, people, groups, rosters, rng: random.Random) -> Counter:
        """Record the attendance; return how many were present per (date, group id or None)."""
        sessions: Counter = Counter()
        sundays = self.sundays
        church_id = church.id

        def service_rows() -> Iterator[tuple]:
            rand = rng.random
            for pos, (status, joined, rate, lapse) in enumerate(people):
                mid = member_ids[pos]
                for sunday in sundays:
                    if sunday < joined or (lapse is not None and sunday > lapse):
                        continue
                    if rand() < rate:
                        sessions[(sunday, None)] += 1
                        yield (church_id, mid, None, sunday)

        def group_rows() -> Iterator[tuple]:
            rand = rng.random
            meeting_weeks = sundays[len(sundays) - self.group_weeks:] if self.group_weeks else []
            for gid, kind, archived in groups:
                if archived or kind not in MEETING_KINDS:
                    continue
                weekday = rng.randint(1, 6)  # the group's evening, after that Sunday
                for sunday in meeting_weeks:
                    day = sunday + datetime.timedelta(days=weekday)
                    if day > self.today:
                        continue  # this week's meeting has not happened yet
                    for pos in rosters.get(gid, ()):
                        if people[pos][1] <= day and rand() < GROUP_MEETING_RATE:
                            sessions[(day, gid)] += 1
                            yield (church_id, member_ids[pos], gid, day)

        # Attendance is most of the rows: a specialised COPY formatter.
        null = "\\N"

        def copy_line(row: tuple) -> str:
            group = null if row[2] is None else row[2]
            return f"{row[0]}\t{row[1]}\t{group}\t{_date_text(row[3])}\n"

        table = Attendance._meta.db_table
        self.totals["attendance"] += self.inserter.insert(table, ATTENDANCE_COLUMNS, service_rows(), copy_line)
        self.totals["attendance"] += self.inserter.insert(table, ATTENDANCE_COLUMNS, group_rows(), copy_line)
        return sessions

    def _progress(self) -> None:
        done = self.totals["members"]
        if done >= self.next_progress or done == self.members_target:
            while self.next_progress <= done:
                self.next_progress += MEMBER_CHUNK
            if self.members_target >= MEMBER_CHUNK:
                self.stderr.write(
                    f"seed_demo: {done:,}/{self.members_target:,} members "
                    f"({time.monotonic() - self.started:.1f}s)"
                )
                sys.stderr.flush()
