"""Authentication backend: the login throttle's gate, and the logged-in user through the cache.

- `authenticate()` refuses a locked-out username or address (members.login) before any
  password is checked, whichever view or command called it: every login surface is
  throttled, including ones added later. (Failures are counted from Django's
  `user_login_failed` signal, which `authenticate()` sends for a refusal too.)
- Every page needs `request.user`; with the session also in Redis, a warm page can then run
  no SQL at all. The user is cached with its church (the tenant every staff view needs) as
  plain data, never with its password hash: every field but the password, and the
  session-verification hash Django derives from it (an HMAC: it does not give the hash away).
  The user built from it has its password deferred (read from the database only if a page
  checks or sets a password) and answers Django's session check with the cached hash, so a
  password change (which invalidates the entry) still ends the other sessions.
- An entry older than the distrust watermark (cachemon.distrust: a user invalidation that
  could not reach the cache) is read from the database again.
"""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied


from cachemon import cache_aside, distrust

from . import login
from .models import Church, User

# Every concrete field of the user but its password, and of its church.
USER_FIELDS = tuple(f.attname for f in User._meta.concrete_fields if f.attname != "password")
CHURCH_FIELDS = tuple(f.attname for f in Church._meta.concrete_fields)


def _load_user(user_id: int) -> User | None:
    return User.objects.select_related("church").filter(pk=user_id).first()


def _user_entry(user_id: int) -> dict | None:
    """What the users cache holds for a login: plain data, no password hash."""
    cached_at = distrust.stamp()  # before the read (cachemon.distrust)
    user = _load_user(user_id)
    if user is None:
        return None
    return {
        "cached_at": cached_at,
        "user": {name: getattr(user, name) for name in USER_FIELDS},
        "church": {name: getattr(user.church, name) for name in CHURCH_FIELDS} if user.church_id else None,
        "session_auth_hash": user.get_session_auth_hash(),
        "session_auth_fallback_hashes": list(user.get_session_auth_fallback_hash()),
        "has_usable_password": user.has_usable_password(),
    }


def _user_from_entry(entry: dict) -> User:
    data = entry["user"]
    # from_db with the password left out: a deferred field, loaded only if it is ever read.
    user = User.from_db("default", list(data), list(data.values()))
    if entry["church"] is not None:
        church = Church.from_db("default", list(entry["church"]), list(entry["church"].values()))
        User._meta.get_field("church").set_cached_value(user, church)
    user.cached_password_facts = (entry["session_auth_hash"], tuple(entry["session_auth_fallback_hashes"]),
                                  entry["has_usable_password"])
    return user


def _trusted(entry: dict | None) -> bool:
    return entry is None or distrust.trusted(entry.get("cached_at"))


class CachedModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if login.lockout_check(request, username):
            # PermissionDenied: authenticate() stops here and tries no other backend.
            raise PermissionDenied("too many failed login attempts")
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id):
        try:
            user_id = int(user_id)
        except (TypeError, ValueError):
            return None
        entry = cache_aside.cached_user(user_id, fetch=lambda: _user_entry(user_id), accept=_trusted)
        if entry is None:
            return None
        user = _user_from_entry(entry)
        return user if self.user_can_authenticate(user) else None
