"""Shared pieces of `make bench` and `make loadtest`: configuration, the bench database and
its seeded church, a Gunicorn under test, a tiny keep-alive HTTP client that logs in through
the login form, and /metrics parsing.

Everything talks to 127.0.0.1 only. The bench uses its own PostgreSQL database
(`flock_benchdash` by default), its own Redis database number and key prefix, and its own
var/ directory (`var/bench/`: secret key, static files, pidfile, Prometheus files, logs),
so it never touches a developer's `make run` or the test suite's data.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlparse

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
VAR = Path(os.environ.get("BENCH_VAR_DIR", ROOT / "var" / "bench"))
DOCS = ROOT / "docs"
HOST = "127.0.0.1"

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flock_benchdash")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
KEY_PREFIX = os.environ.get("BENCH_CACHE_KEY_PREFIX", "flockbench")
MEMBERS = int(os.environ.get("BENCH_MEMBERS", "100000"))
# Other, smaller tenants in the same tables, so that every read must use its church index.
OTHER_MEMBERS = int(os.environ.get("BENCH_OTHER_MEMBERS", "20000"))
OTHER_CHURCHES = int(os.environ.get("BENCH_OTHER_CHURCHES", "4"))
PASSWORD = os.environ.get("BENCH_PASSWORD", "flock-bench-password")
CORES = os.cpu_count() or 1
WORKERS = int(os.environ.get("BENCH_WORKERS", str(CORES)))
ACCOUNTS_FILE = VAR / "accounts.txt"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def die(msg: str) -> None:
    print(f"[bench] ERROR: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def app_env(**overrides: str) -> dict[str, str]:
    """The environment of every Django process of the bench: services, own var/, debug off."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        CACHE_KEY_PREFIX=KEY_PREFIX,
        FLOCK_VAR_DIR=str(VAR),
        DJANGO_ENV="development",
        # DEBUG on would log every SQL statement in memory and serve errors as debug pages.
        DJANGO_DEBUG="off",
        CACHE_ASIDE="on",
        LOG_LEVEL="WARNING",
    )
    env.pop("METRICS_TOKEN", None)  # /metrics from loopback needs no token when it is unset
    # gunicorn.conf.py points Gunicorn at var/bench/prometheus; other processes keep in-memory metrics.
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(overrides)
    return env


def setup_django(**overrides: str) -> None:
    """Configure this process as a bench Django process (before importing any model)."""
    VAR.mkdir(parents=True, exist_ok=True)
    env = app_env(**overrides)
    os.environ.update(env)
    for name in ("METRICS_TOKEN", "PROMETHEUS_MULTIPROC_DIR"):
        if name not in env:
            os.environ.pop(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "churchapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def manage(*args: str, env: dict[str, str] | None = None, capture: bool = False) -> str:
    cmd = [PYTHON, "manage.py", *args]
    res = subprocess.run(cmd, cwd=ROOT, env=env or app_env(), text=True,
                         stdout=subprocess.PIPE if capture else None)
    if res.returncode != 0:
        die(f"`manage.py {' '.join(args)}` failed (exit {res.returncode})")
    return res.stdout or ""


# --- the bench database and its church ------------------------------------------------------
def services_up() -> None:
    res = subprocess.run([PYTHON, str(ROOT / "scripts" / "services_up.py"), DATABASE_URL, REDIS_URL])
    if res.returncode != 0:
        die("PostgreSQL or Redis is not answering (BENCH_DATABASE_URL / BENCH_REDIS_URL); "
            "start them (scripts/start_services.sh) and rerun.")


def _admin_conn():
    import psycopg

    db = urlparse(DATABASE_URL)
    return psycopg.connect(host=db.hostname, port=db.port or 5432, user=db.username, password=db.password,
                           dbname="postgres", autocommit=True, connect_timeout=5)


def db_name() -> str:
    name = urlparse(DATABASE_URL).path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        die(f"unexpected database name {name!r} in BENCH_DATABASE_URL")
    return name


def create_database(*, drop: bool) -> None:
    name = db_name()
    with _admin_conn() as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and drop:
            log(f"dropping database {name} (BENCH_RESEED or no {MEMBERS:,}-member church in it)")
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            log(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


@dataclass
class Fixture:
    church_id: int
    slug: str
    members: int
    username: str
    password: str
    accounts: list[tuple[str, str]] = field(default_factory=list)


def find_fixture() -> Fixture | None:
    """The bench church (the biggest, with at least BENCH_MEMBERS members) and its staff account."""
    import psycopg

    try:
        with psycopg.connect(DATABASE_URL, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT c.id, c.slug, count(m.id) AS n FROM members_church c "
                "JOIN members_member m ON m.church_id = c.id GROUP BY c.id, c.slug ORDER BY n DESC LIMIT 1"
            ).fetchone()
            if not row or row[2] < MEMBERS:
                return None
            users = [u for (u,) in conn.execute(
                "SELECT username FROM members_user WHERE church_id = %s AND is_active ORDER BY id", (row[0],))]
    except psycopg.Error:
        return None
    if not users:
        return None
    return Fixture(church_id=row[0], slug=row[1], members=row[2], username=users[0], password=PASSWORD,
                   accounts=[(u, PASSWORD) for u in users])


def ensure_fixture(*, reseed: bool = False) -> Fixture:
    """Create, migrate and seed the bench database unless it already holds the bench church."""
    services_up()
    create_database(drop=False)
    fixture = None if reseed else find_fixture()
    if fixture is None:
        create_database(drop=True)
        log("migrating")
        manage("migrate", "--noinput", "-v", "0")
        log(f"seeding one church of {MEMBERS:,} members (+{OTHER_CHURCHES} others, {OTHER_MEMBERS:,} members)")
        t0 = time.monotonic()
        out = manage("seed_demo", "--churches", "1", "--members", str(MEMBERS), "--password", PASSWORD,
                     "--seed", "1", capture=True)
        if OTHER_CHURCHES and OTHER_MEMBERS:
            out += manage("seed_demo", "--churches", str(OTHER_CHURCHES), "--members", str(OTHER_MEMBERS),
                          "--password", PASSWORD, "--seed", "2", capture=True)
        log(f"seeded in {time.monotonic() - t0:.0f}s")
        print("\n".join(line for line in out.splitlines() if line.startswith("account:")), flush=True)
        fixture = find_fixture()
        if fixture is None:
            die("seed_demo ran but no church with BENCH_MEMBERS members was found")
    else:
        log(f"reusing seeded database {db_name()}: church {fixture.slug} ({fixture.members:,} members); "
            "BENCH_RESEED=1 starts afresh")
        manage("migrate", "--noinput", "-v", "0")
    manage("collectstatic", "--noinput", "-v", "0")
    ACCOUNTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    ACCOUNTS_FILE.write_text("".join(f"{u} {p}\n" for u, p in fixture.accounts))
    return fixture


def clear_cache_data() -> int:
    """Empty the bench's data cache (sessions kept): the next reads are misses."""
    return clear_cache(sessions=False)


def clear_cache(*, sessions: bool = True) -> int:
    """Delete the bench's own keys (by prefix) from its Redis database; never FLUSHDB."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    n = 0
    patterns = [f"{KEY_PREFIX}:*"] + ([f"{KEY_PREFIX}-session:*"] if sessions else [])
    for pattern in patterns:
        batch = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                n += client.delete(*batch)
                batch = []
        if batch:
            n += client.delete(*batch)
    return n


# --- Gunicorn under test --------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """`gunicorn -c gunicorn.conf.py churchapp.wsgi` on 127.0.0.1, stopped on exit."""

    def __init__(self, name: str, *, cache_aside: bool, workers: int = WORKERS, port: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.env = dict(env or {})
        self.port = port or free_port()
        self.workers = workers
        self.cache_aside = cache_aside
        self.proc: subprocess.Popen | None = None
        self.logfile = VAR / f"gunicorn-{name}.log"

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        return [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "churchapp.wsgi"]

    def start(self) -> "Server":
        prom = VAR / "prometheus"
        shutil.rmtree(prom, ignore_errors=True)
        prom.mkdir(parents=True)
        env = app_env(
            CACHE_ASIDE="on" if self.cache_aside else "off",
            WEB_CONCURRENCY=str(self.workers),
            PORT=str(self.port),
            GUNICORN_BIND=f"{HOST}:{self.port}",
            GUNICORN_PIDFILE=str(VAR / f"gunicorn-{self.name}.pid"),
            GUNICORN_CONTROL_SOCKET=str(VAR / f"gunicorn-{self.name}.ctl"),
            # Workers must not be recycled in the middle of a measurement.
            GUNICORN_MAX_REQUESTS="0",
            GUNICORN_LOGLEVEL="warning",
            **self.env,
        )
        out = open(self.logfile, "w")
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                die(f"Gunicorn ({self.name}) exited with {self.proc.returncode}; see {self.logfile}")
            try:
                status, _, _ = Client(self.port).get("/accounts/login/")
                if status == 200:
                    # Every worker must be up before measuring: ask until each has answered.
                    self._wait_all_workers()
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        die(f"Gunicorn ({self.name}) did not answer within 60 s; see {self.logfile}")
        raise AssertionError  # unreachable

    def _wait_all_workers(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len(self.worker_pids()) >= self.workers:
                break
            time.sleep(0.2)
        # Their first requests import and compile templates: not part of any measurement.
        for _ in range(self.workers * 10):
            Client(self.port).get("/healthz")
            Client(self.port).get("/accounts/login/")

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        res = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in res.stdout.split()]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- a small keep-alive HTTP client with a cookie jar -----------------------------------------
class _FormParser(HTMLParser):
    """The fields of every POST <form>: inputs, checked boxes, selects, textareas."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self._fields: dict[str, str] | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "get").lower() == "post":
            self._fields = {}
            self.forms.append(self._fields)
            return
        fields = self._fields
        if fields is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    fields[name] = a.get("value") or "on"
            elif kind not in ("submit", "button", "file", "image", "reset"):
                fields[name] = a.get("value") or ""
        elif tag == "select" and name:
            self._select, self._select_first = name, None
        elif tag == "option" and self._select:
            value = a.get("value") or ""
            if self._select_first is None:
                self._select_first = value
                fields.setdefault(self._select, value)
            if "selected" in a:
                fields[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            fields[name] = ""

    def handle_data(self, data):
        if self._textarea and self._fields is not None:
            self._fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._fields = None


def form_fields(html: str, *, having: str = "csrfmiddlewaretoken") -> dict[str, str]:
    """The fields of the first POST form of the page that has a field named `having`."""
    parser = _FormParser()
    parser.feed(html)
    for fields in parser.forms:
        if having in fields:
            return fields
    return {}


class Client:
    """One keep-alive connection to the server under test, with cookies (session, csrftoken)."""

    def __init__(self, port: int, cookies: dict[str, str] | None = None, timeout: float = 30) -> None:
        self.port = port
        self.cookies = dict(cookies or {})
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        return self.conn

    def request(self, method: str, path: str, body: dict | None = None,
                headers: dict | None = None) -> tuple[int, dict[str, str], str]:
        hdrs = {"Host": f"{HOST}:{self.port}", "User-Agent": "flock-bench"}
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            hdrs["Referer"] = f"http://{HOST}:{self.port}{path}"
        hdrs.update(headers or {})
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                text = resp.read().decode("utf-8", "replace")
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest):
                # The server closed an idle keep-alive connection: reconnect once.
                self.close()
                if attempt == 2:
                    raise
        for key, value in resp.getheaders():
            if key.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        return self.request("GET", path)

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, dict[str, str], str]:
        return self.request("POST", path, body=fields)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def login(port: int, username: str, password: str) -> Client:
    """Log in through /accounts/login/ as a browser would (CSRF cookie + token); return the client."""
    client = Client(port)
    status, _, html = client.get("/accounts/login/")
    if status != 200:
        die(f"GET /accounts/login/ answered {status}")
    fields = form_fields(html, having="username")
    fields.update(username=username, password=password)
    status, headers, _ = client.post_form("/accounts/login/", fields)
    if status != 302 or "sessionid" not in client.cookies:
        die(f"logging in as {username} failed (status {status}, location {headers.get('location')})")
    return client


# --- /metrics ---------------------------------------------------------------------------------
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)")


def metric_samples(port: int) -> list[tuple[str, dict[str, str], float]]:
    status, _, text = Client(port).get("/metrics")
    if status != 200:
        die(f"/metrics answered {status} (it must allow loopback clients without a token)")
    out = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def metric_sum(samples, name: str, **match: str) -> float:
    return sum(v for n, labels, v in samples if n == name and all(labels.get(k) == x for k, x in match.items()))
