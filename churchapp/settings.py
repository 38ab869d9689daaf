"""Flock settings: one file, every value read from the environment.

Unset `DATABASE_URL` / `REDIS_URL` give the embedded default (SQLite under `var/` and a
SQLite-backed cache that every worker process shares), so `make run` works on a bare laptop.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import zoneinfo
from pathlib import Path

import dj_database_url
import phonenumbers
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FLOCK_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be one of on/off, true/false, 1/0; got {value!r}")


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default).strip()
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {value!r}") from None


def envfloat(name: str, default: str) -> float:
    value = os.environ.get(name, default).strip()
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {value!r}") from None


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DJANGO_ENV = os.environ.get("DJANGO_ENV", "development").strip().lower()
if DJANGO_ENV not in ("development", "production"):
    raise ImproperlyConfigured(f"DJANGO_ENV must be 'development' or 'production'; got {DJANGO_ENV!r}")
PRODUCTION = DJANGO_ENV == "production"
DEBUG = envbool("DJANGO_DEBUG", "off") if PRODUCTION else envbool("DJANGO_DEBUG", "on")


def _secret_key() -> str:
    key = os.environ.get("DJANGO_SECRET_KEY", "").strip()
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. In production Flock refuses to start without it: "
            "set it to a long random value, the same on every app host."
        )
    # Development: generated once, so sessions survive restarts and every worker agrees.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_prometheus",
    "csp",
    "security",
    "members",
    "attendance",
    "analytics",
    "cachemon",
    "django_tasks",
    "django_tasks_db",
    "jobs",
    "messaging",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # SQL statements per request, by view, as flock_db_queries_total on /metrics.
    "cachemon.db_queries.DBQueryCountMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads a parameter or a cookie: NUL bytes are refused (400) or dropped.
    "security.middleware.RequestGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A login attempt the throttle refused answers 429, on every login page.
    "members.login.LoginThrottleStatusMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After messages: an expired session's redirect to login says "please log in again".
    "members.login.SessionExpiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "churchapp.urls"
WSGI_APPLICATION = "churchapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "members.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip() or f"sqlite:///{VAR_DIR / 'flock.sqlite3'}"
# DB_PGBOUNCER=on: DATABASE_URL is a PgBouncer in transaction pooling mode (docs/scale-out.md).
DB_PGBOUNCER = envbool("DB_PGBOUNCER", "off")


def _postgres_options(db: dict, *, pgbouncer: bool, connect_timeout: int) -> None:
    """The connection settings of a PostgreSQL alias (the primary, and the replica if any)."""
    # One persistent connection per worker thread, checked before reuse so that a
    # PostgreSQL (or PgBouncer) restart costs only the requests made during the outage.
    # Behind PgBouncer they stay persistent too: a client connection to PgBouncer holds no
    # server connection between transactions, so keeping it costs PostgreSQL nothing.
    db["CONN_MAX_AGE"] = envint("DB_CONN_MAX_AGE", "600")
    db["CONN_HEALTH_CHECKS"] = True
    db.setdefault("OPTIONS", {})
    db["OPTIONS"]["connect_timeout"] = connect_timeout
    if pgbouncer:
        # Transaction pooling hands each transaction any server connection, so nothing may
        # outlive a transaction on it: a named (server-side) cursor, a prepared statement, a
        # session SET. Hence no server-side cursors (`.iterator()` fetches in chunks from a
        # client-side cursor), prepared statements off (also Django's default with psycopg 3,
        # said here so that nobody turns them on), and no startup `options`: PgBouncer refuses
        # them, so JIT is turned off on the server (postgresql.conf: jit = off) instead.
        db["DISABLE_SERVER_SIDE_CURSORS"] = True
        db["OPTIONS"]["prepare_threshold"] = None
        return
    db["DISABLE_SERVER_SIDE_CURSORS"] = envbool("DISABLE_SERVER_SIDE_CURSORS", "off")
    # JIT compilation cost ~1 s on the dashboard's aggregates at 100,000 members and never paid
    # off for these short OLTP queries (measured on the dashboard of a 100,000-member church).
    db["OPTIONS"]["options"] = "-c jit=" + ("on" if envbool("DB_JIT", "off") else "off")


DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Several Gunicorn workers write to one file: WAL lets readers run beside a writer,
    # the busy timeout waits for the lock instead of failing, and IMMEDIATE transactions
    # take the write lock up front so two writers never deadlock upgrading a read lock.
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _postgres_options(_db, pgbouncer=DB_PGBOUNCER, connect_timeout=envint("DB_CONNECT_TIMEOUT", "3"))
    # DB_POOL=on: a psycopg pool per worker process instead (measured in docs/operations.md;
    # the connection budget is workers x DB_POOL_MAX_SIZE x app hosts <= max_connections).
    # With CONN_HEALTH_CHECKS, Django has the pool check each connection before handing it
    # out, so one broken by a PostgreSQL restart is replaced instead of failing a request.
    if envbool("DB_POOL", "off"):
        _db["CONN_MAX_AGE"] = 0  # Django refuses persistent connections together with a pool
        _db["OPTIONS"]["pool"] = {
            "min_size": envint("DB_POOL_MIN_SIZE", "1"),
            "max_size": envint("DB_POOL_MAX_SIZE", "4"),
            # Seconds a request waits for a connection; also what each request costs while
            # PostgreSQL is down (persistent connections fail at once instead).
            "timeout": envfloat("DB_POOL_TIMEOUT", "2"),
        }

# A streaming replica for the reads that may move off the primary (replica/reads.py names
# them; replica/health.py decides, per read, whether the replica has caught up). Unset: there
# is no "replica" alias and no router, and every read goes to `default` as before.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "").strip()
# A replica further behind than this (or paused, or down) is not even asked to catch up.
REPLICA_MAX_LAG_SECONDS = envfloat("REPLICA_MAX_LAG_SECONDS", "5")
# How long a read waits for the replica to replay what the primary had flushed when the read
# began, before it goes to the primary instead.
REPLICA_CATCHUP_WAIT = envfloat("REPLICA_CATCHUP_WAIT", "0.05")
# Seconds between two checks of the replica's health in one process (its lag, pause, LSN);
# after a failed check it is left alone for REPLICA_RETRY_SECONDS.
REPLICA_CHECK_INTERVAL = envfloat("REPLICA_CHECK_INTERVAL", "1")
REPLICA_RETRY_SECONDS = envfloat("REPLICA_RETRY_SECONDS", "5")
if DATABASE_REPLICA_URL:
    if _db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs DATABASE_URL to be PostgreSQL (a streaming replica of it)")
    DATABASES["replica"] = dj_database_url.parse(DATABASE_REPLICA_URL)
    if DATABASES["replica"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must be a postgres:// URL")
    # A replica that does not answer must cost a read about a second, then be skipped.
    _postgres_options(DATABASES["replica"], pgbouncer=envbool("DB_REPLICA_PGBOUNCER", "off"),
                      connect_timeout=envint("DB_REPLICA_CONNECT_TIMEOUT", "1"))
    # Tests use the default database for it (a replica is a copy: never migrated, never created).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["churchapp.routers.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and sessions ---------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
# Redis through Sentinel (docs/scale-out.md): the Sentinels' `host:port,...` and the name they
# monitor the primary under. A failover needs no restart: a new connection asks the Sentinels
# where the primary is now.
REDIS_SENTINELS = envlist("REDIS_SENTINELS", "")
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "").strip()
REDIS_SENTINEL_DB = envint("REDIS_SENTINEL_DB", "0")
# Short socket timeouts: a slow Redis must cost a request milliseconds, not seconds.
REDIS_SOCKET_TIMEOUT = envfloat("REDIS_SOCKET_TIMEOUT", "0.25")
CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "flock")


def _sentinel_address(item: str) -> tuple[str, int]:
    host, sep, port = item.rpartition(":")
    if not (sep and host and port.isdigit()):
        raise ImproperlyConfigured(f"REDIS_SENTINELS must be host:port,host:port,...; got {item!r}")
    return host, int(port)


if REDIS_SENTINELS:
    if not REDIS_SENTINEL_MASTER:
        raise ImproperlyConfigured("REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER (the monitored name) is not")
    if REDIS_URL:
        raise ImproperlyConfigured("set either REDIS_URL or REDIS_SENTINELS, not both")
    _SENTINELS = [_sentinel_address(item) for item in REDIS_SENTINELS]


def _redis_cache(prefix: str) -> dict:
    timeouts = {"SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_TIMEOUT, "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT}
    cache = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": prefix,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            **timeouts,
            # Errors reach the circuit breaker (cachemon), which decides what to skip.
            "IGNORE_EXCEPTIONS": False,
            "CONNECTION_POOL_KWARGS": {"max_connections": 50, "health_check_interval": 30},
        },
    }
    if REDIS_SENTINELS:
        # The primary only, for reads too: a generation read from a lagging Redis replica
        # would serve an entry that an invalidation already made stale (cachemon.cache_aside).
        # One LOCATION with is_master=1 (a plain string would make django-redis read replicas).
        cache["LOCATION"] = [f"redis://{REDIS_SENTINEL_MASTER}/{REDIS_SENTINEL_DB}?is_master=1"]
        cache["OPTIONS"].update(
            CLIENT_CLASS="django_redis.client.SentinelClient",
            CONNECTION_FACTORY="django_redis.pool.SentinelConnectionFactory",
            SENTINELS=_SENTINELS,
            # Asking a Sentinel where the primary is must not hang a request either.
            SENTINEL_KWARGS={"socket_timeout": REDIS_SOCKET_TIMEOUT, "socket_connect_timeout": REDIS_SOCKET_TIMEOUT},
        )
    return cache


def _disk_cache(name: str, prefix: str) -> dict:
    # A cache in SQLite files under var/: every Gunicorn worker sees the same entries and
    # add()/incr() are atomic across processes (per-process memory would serve stale data).
    return {
        "BACKEND": "diskcache.DjangoCache",
        "LOCATION": str(VAR_DIR / "cache" / name),
        "KEY_PREFIX": prefix,
        "TIMEOUT": 300,
        "SHARDS": 4,
        "DATABASE_TIMEOUT": 0.25,
        "OPTIONS": {"size_limit": 2**30},
    }


if REDIS_URL or REDIS_SENTINELS:
    CACHES = {
        # The cache-aside helper handles errors itself (circuit breaker, counted errors).
        "default": _redis_cache(CACHE_KEY_PREFIX),
        # Sessions fall back to the database when Redis is away: cachemon.sessions guards every
        # call with the circuit breaker.
        "sessions": _redis_cache(f"{CACHE_KEY_PREFIX}-session"),
    }
else:
    CACHES = {
        "default": _disk_cache("default", CACHE_KEY_PREFIX),
        "sessions": _disk_cache("sessions", f"{CACHE_KEY_PREFIX}-session"),
    }

# `CACHE_ASIDE=off` is the operator's kill switch and the "before" of every benchmark.
CACHE_ASIDE = envbool("CACHE_ASIDE", "on")
# After a cache error, requests skip the cache for this many seconds before one tries again.
CACHE_BREAKER_COOLDOWN = envfloat("CACHE_BREAKER_COOLDOWN", "5")
# How often each process reads the cache distrust watermark (cachemon.distrust): a logout or
# password change whose cache write was lost is in force everywhere after at most this long.
CACHE_DISTRUST_POLL_SECONDS = envfloat("CACHE_DISTRUST_POLL_SECONDS", "1")

# --- Login throttling (members/login.py) -------------------------------------------------
# The proxies whose X-Forwarded-For hop is the client's address: loopback (a balancer on the
# same machine) by default; on separate machines, the balancers' addresses or networks.
TRUSTED_PROXIES = envlist("TRUSTED_PROXIES", "127.0.0.0/8,::1")
for _net in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_net, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES must be addresses or networks, comma-separated; got {_net!r}") from None
# Failed logins counted in the cache per username and per client address; at the limit the
# login form answers 429 until the lockout ends. A success clears the username's count.
LOGIN_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", "5")  # per username
LOGIN_FAILURE_LIMIT_PER_IP = envint("LOGIN_FAILURE_LIMIT_PER_IP", "20")  # a shared office NAT
LOGIN_FAILURE_WINDOW = envint("LOGIN_FAILURE_WINDOW", str(15 * 60))  # seconds; also the lockout

# `cache`: sessions in the cache in front of the database (cachemon.sessions); `database`: the
# database alone, a query per request (the "before" of `make capacity`, and its ablation).
SESSION_STORE = envchoice("SESSION_STORE", "cache", ("cache", "database"))
SESSION_ENGINE = "cachemon.sessions" if SESSION_STORE == "cache" else "django.contrib.sessions.backends.db"
SESSION_CACHE_ALIAS = "sessions"
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", str(60 * 60 * 24 * 14))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = PRODUCTION

# --- Auth -----------------------------------------------------------------------------
AUTH_USER_MODEL = "members.User"
AUTHENTICATION_BACKENDS = ["members.auth.CachedModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Production hardening -------------------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", "on")
    SECURE_HSTS_SECONDS = envint("DJANGO_HSTS_SECONDS", str(60 * 60 * 24 * 365))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    # The load balancer probes these over plain HTTP inside the network: no redirect to HTTPS.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts and styles only from Flock's own static files;
# no inline script, no style attribute, no plugin, no framing. The one inline <style> allowed
# is the stand-alone error page's (templates/_error_page.html), by its hash, so that error
# pages render even when static files are broken (tests/security/test_headers.py checks the hash).
ERROR_PAGE_STYLE_HASH = "'sha256-wN5L/dp8KohjkC9RdQkIcEaTm4R5Ql1B0pdyhYxNGhg='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", ERROR_PAGE_STYLE_HASH],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The time zone a new church starts with (each church has its own: Church.time_zone, in the admin).
DEFAULT_CHURCH_TIME_ZONE = os.environ.get("DEFAULT_CHURCH_TIME_ZONE", "America/Chicago")
try:
    zoneinfo.ZoneInfo(DEFAULT_CHURCH_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"DEFAULT_CHURCH_TIME_ZONE is not a time zone name; got {DEFAULT_CHURCH_TIME_ZONE!r}") from None

# The country a new church's phone numbers are read in when typed without a country code
# (Church.phone_region, in the admin): two letters libphonenumber knows.
DEFAULT_PHONE_REGION = os.environ.get("DEFAULT_PHONE_REGION", "US").strip().upper()
if DEFAULT_PHONE_REGION not in phonenumbers.SUPPORTED_REGIONS:
    raise ImproperlyConfigured(f"DEFAULT_PHONE_REGION is not a two-letter country code; got {DEFAULT_PHONE_REGION!r}")

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Monitoring -----------------------------------------------------------------------
# /metrics: with METRICS_TOKEN set, only "Authorization: Bearer <token>"; unset, loopback only.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
# Requests per minute and per admin to /api/admin/cache/* (429 with Retry-After beyond).
ADMIN_API_RATE_PER_MINUTE = envint("ADMIN_API_RATE_PER_MINUTE", "60")

# --- Tasks, workers and periodic jobs (jobs/) ---------------------------------------------
# The queue lives in the application's own database (django-tasks-db): the transaction that
# writes a message and its deliveries also writes the tasks that send them. Redis plays no part.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# A worker writes its heartbeat this often; one silent for WORKER_DEAD_SECONDS is taken for dead
# (its in-flight sends are reconciled with the provider, its tasks re-queued).
WORKER_HEARTBEAT_SECONDS = envfloat("WORKER_HEARTBEAT_SECONDS", "5")
WORKER_DEAD_SECONDS = envfloat("WORKER_DEAD_SECONDS", "30")
# How often an idle worker looks for a task that became due.
WORKER_POLL_SECONDS = envfloat("WORKER_POLL_SECONDS", "0.5")


def _periodic_every(name: str) -> dict[str, float]:
    """`job=seconds,job=seconds`: periods that replace the ones the jobs were registered with."""
    periods = {}
    for item in envlist(name, ""):
        job, sep, value = item.partition("=")
        try:
            seconds = float(value) if sep and job.strip() else 0.0
        except ValueError:
            seconds = 0.0
        if not 0 < seconds < float("inf"):
            raise ImproperlyConfigured(f"{name} must be `job=seconds,...` with positive seconds "
                                       f"(e.g. members.tally_check=3600); got {item!r}")
        periods[job.strip()] = seconds
    return periods


# Periodic jobs on another schedule than the code's (an operator's choice, the cluster tests'
# short periods): `members.tally_check=3600,jobs.housekeeping=600`. A name that is no registered
# job stops the worker at start (jobs/checks.py), so a typo cannot silently change nothing.
PERIODIC_EVERY = _periodic_every("PERIODIC_EVERY")

# --- Text messages (messaging/) -------------------------------------------------------------
SMS_BACKEND = os.environ.get("SMS_BACKEND", "console").strip().lower()
if SMS_BACKEND not in ("console", "twilio"):
    raise ImproperlyConfigured(f"SMS_BACKEND must be 'console' or 'twilio'; got {SMS_BACKEND!r}")
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "").strip()
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "").strip()
TWILIO_FROM = os.environ.get("TWILIO_FROM", "").strip()
TWILIO_API_BASE = os.environ.get("TWILIO_API_BASE", "https://api.twilio.com").strip().rstrip("/")
if SMS_BACKEND == "twilio" and not (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN and TWILIO_FROM):
    raise ImproperlyConfigured("SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM.")
# The public base URL Twilio signs webhooks with (behind the TLS proxy); empty: the request's own.
SMS_WEBHOOK_BASE_URL = os.environ.get("SMS_WEBHOOK_BASE_URL", "").strip().rstrip("/")
# The console backend's outbox (one JSON line a text). Hosts that share one (make cluster's two
# app hosts) see each other's texts, so a killed worker's text is reconciled, never sent twice.
SMS_OUTBOX = Path(os.environ.get("SMS_OUTBOX", "").strip() or VAR_DIR / "sms-outbox.log")
# Texts a second per church, across every worker and host (Rock's long-code throttle: 1).
SMS_RATE_PER_SECOND = envfloat("SMS_RATE_PER_SECOND", "1")
if SMS_RATE_PER_SECOND <= 0:
    raise ImproperlyConfigured(f"SMS_RATE_PER_SECOND must be more than 0; got {SMS_RATE_PER_SECOND}")
# Attempts per delivery before a temporary failure becomes final; the first retry comes after
# SMS_RETRY_BASE_SECONDS (x0.5-1.5 jitter), then twice as long each time, at most SMS_RETRY_MAX_SECONDS.
SMS_MAX_ATTEMPTS = envint("SMS_MAX_ATTEMPTS", "5")
SMS_RETRY_BASE_SECONDS = envfloat("SMS_RETRY_BASE_SECONDS", "5")
SMS_RETRY_MAX_SECONDS = envfloat("SMS_RETRY_MAX_SECONDS", "300")
# Seconds the provider gets to answer one request (connect, read).
SMS_PROVIDER_TIMEOUT = envfloat("SMS_PROVIDER_TIMEOUT", "10")
# Send tasks queued per message: how many workers can share one big message.
SMS_SENDERS_PER_MESSAGE = envint("SMS_SENDERS_PER_MESSAGE", "2")
# Age of the oldest due delivery that makes the queue health 503 "stalled".
QUEUE_STALL_SECONDS = envint("QUEUE_STALL_SECONDS", "300")
# How often the periodic sweep settles dead workers' sends (jobs: exactly once per period).
SMS_SWEEP_SECONDS = envint("SMS_SWEEP_SECONDS", "15")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # A bad Host header (or another refused request: django.security.*) is one WARNING line,
    # not an ERROR with a traceback: it is the client's mistake, not the app's.
    "filters": {"security_warning": {"()": "security.logging.SecurityRecordsAsWarnings"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["security_warning"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # Filtered on the logger too, before Django's own handlers of "django" see the record.
        "django.security.DisallowedHost": {"filters": ["security_warning"]},
        "django_redis": {"level": "WARNING"},
    },
}
