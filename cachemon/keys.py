"""The one place where cache key names are built.

Every tenant key carries the church id. Each (namespace, church) has a generation counter;
an entry is stored with the generation it was computed under and only counts as a hit while
that is still the current one. Invalidation bumps the generation (one INCR, whatever the
number of rows written), so old entries are never served again and expire by their TTL.
Django adds `KEY_PREFIX` and the key version in front of all of these.
"""

from __future__ import annotations

# TTLs in seconds (the seed's CACHE_TTL.SHORT / MEDIUM).
TTL_SHORT = 5 * 60  # analytics: dashboard figures and charts
TTL_MEDIUM = 30 * 60  # first pages of member lists and group rosters
# How long a request computing a missing hot key holds its lock; a dead holder blocks nobody longer.
LOCK_TTL = 15

# Namespaces: one per kind of cached read, each with its own hit/miss/error counters.
STATS = "stats"  # dashboard summary figures and chart series
DASHBOARD = "dashboard"  # the rendered dashboard fragment
MEMBERS = "members"  # first page of a church's member list
ROSTERS = "rosters"  # first page of a group's roster
GROUPS = "groups"  # a church's group list with sizes
USERS = "users"  # the logged-in user, so that a warm page needs no SQL
PROFILES = "profiles"  # a member's detail page: the member, their groups, recent attendance
NAMESPACES = (STATS, DASHBOARD, MEMBERS, ROSTERS, GROUPS, PROFILES, USERS)
NAMESPACES_OF_CHURCH = (STATS, DASHBOARD, MEMBERS, ROSTERS, GROUPS, PROFILES)  # everything but logins


def generation(namespace: str, scope: str) -> str:
    """`scope` is `church_scope(id)` for tenant data, `user_scope(id)` for a login."""
    return f"gen:{namespace}:{scope}"


def data(namespace: str, scope: str, *parts: object) -> str:
    suffix = ":".join(str(p) for p in parts)
    return f"{namespace}:{scope}:{suffix}"


def lock(data_key: str, gen: int) -> str:
    # Per generation: a request filling the new generation never waits on one filling an old one.
    return f"lock:{data_key}:g{gen}"


# Platform-wide counters of the helper itself, not tenant data.
METRICS_HASH = "metrics:cache"


def metrics_field(namespace: str, outcome: str) -> str:
    return f"{namespace}:{outcome}"


def metrics_counter(field: str) -> str:
    # Caches without hashes (the embedded default) keep one key per counter.
    return f"{METRICS_HASH}:{field}"


def church_scope(church_id: int) -> str:
    return f"c{church_id}"


def user_scope(user_id: int) -> str:
    return f"u{user_id}"


# What each kind of write makes stale: the services pass these to `cache_aside.invalidate`.
MEMBER_WRITE = (STATS, DASHBOARD, MEMBERS, ROSTERS, PROFILES)
# A member's details changed but not their status or join date: no dashboard figure moves.
MEMBER_DETAILS_WRITE = (MEMBERS, ROSTERS, PROFILES, GROUPS)
# MEMBERS too: the member list filters by group (`?group=<id>|none`), and archiving moves people in or out of
# "in no group".
GROUP_WRITE = (STATS, DASHBOARD, MEMBERS, GROUPS, ROSTERS, PROFILES)
ATTENDANCE_WRITE = (STATS, DASHBOARD, PROFILES)


# Login throttling (members/login.py): failed attempts and lockouts per username and per
# client address. Not tenant data; the username/address is hashed so that any input makes a
# short, safe key.
def _login_digest(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def login_failures(kind: str, value: str) -> str:
    """`kind` is "user" (the casefolded username) or "ip" (the client address)."""
    return f"login:fail:{kind}:{_login_digest(value)}"


def login_lockout(kind: str, value: str) -> str:
    return f"login:lock:{kind}:{_login_digest(value)}"


# --- cachemon's own keys (admin API rate limit, health probe) -----------------------------
def rate_limit(scope: str, user_id: int, window_start: int) -> str:
    """Requests of one user to `scope` in the fixed window starting at `window_start` (epoch s)."""
    return f"rl:{scope}:u{user_id}:{window_start}"


def health_probe(owner: str) -> str:
    """The set+get round trip of a health check; one key per process so probes never collide."""
    return f"health:{owner}"
