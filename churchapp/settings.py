"""Flock settings: one file, every value read from the environment.

Unset `DATABASE_URL` / `REDIS_URL` give the embedded default (SQLite under `var/` and a
SQLite-backed cache that every worker process shares), so `make run` works on a bare laptop.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
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
    "members",
    "attendance",
    "analytics",
    "cachemon",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # SQL statements per request, by view, as flock_db_queries_total on /metrics.
    "cachemon.db_queries.DBQueryCountMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
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
    # One persistent connection per worker thread, checked before reuse so that a
    # PostgreSQL restart costs only the requests made during the outage.
    _db["CONN_MAX_AGE"] = envint("DB_CONN_MAX_AGE", "600")
    _db["CONN_HEALTH_CHECKS"] = True
    _db["DISABLE_SERVER_SIDE_CURSORS"] = envbool("DISABLE_SERVER_SIDE_CURSORS", "off")
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"]["connect_timeout"] = envint("DB_CONNECT_TIMEOUT", "3")
    # JIT compilation cost ~1 s on the dashboard's aggregates at 100,000 members and never paid
    # off for these short OLTP queries (measured on the dashboard of a 100,000-member church).
    _db["OPTIONS"]["options"] = "-c jit=" + ("on" if envbool("DB_JIT", "off") else "off")
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
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and sessions ---------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
# Short socket timeouts: a slow Redis must cost a request milliseconds, not seconds.
REDIS_SOCKET_TIMEOUT = envfloat("REDIS_SOCKET_TIMEOUT", "0.25")
CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "flock")


def _redis_cache(prefix: str) -> dict:
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": prefix,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            # Errors reach the circuit breaker (cachemon), which decides what to skip.
            "IGNORE_EXCEPTIONS": False,
            "CONNECTION_POOL_KWARGS": {"max_connections": 50, "health_check_interval": 30},
        },
    }


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


if REDIS_URL:
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

# --- Login throttling (members/login.py) -------------------------------------------------
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
X_FRAME_OPTIONS = "DENY"

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Monitoring -----------------------------------------------------------------------
# /metrics: with METRICS_TOKEN set, only "Authorization: Bearer <token>"; unset, loopback only.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
# Requests per minute and per admin to /api/admin/cache/* (429 with Retry-After beyond).
ADMIN_API_RATE_PER_MINUTE = envint("ADMIN_API_RATE_PER_MINUTE", "60")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django_redis": {"level": "WARNING"},
    },
}
