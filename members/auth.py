"""Authentication backend: the login throttle's gate, and the logged-in user through the cache.

- `authenticate()` refuses a locked-out username or address (members.login) before any
  password is checked, whichever view or command called it: every login surface is
  throttled, including ones added later. (Failures are counted from Django's
  `user_login_failed` signal, which `authenticate()` sends for a refusal too.)
- Every page needs `request.user`; with the session also in Redis, a warm page can then run
  no SQL at all. The user is cached with its church (the tenant every staff view needs).
"""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from cachemon import cache_aside

from . import login
from .models import User


def _load_user(user_id: int) -> User | None:
    return User.objects.select_related("church").filter(pk=user_id).first()


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
        user = cache_aside.cached_user(user_id, fetch=lambda: _load_user(user_id))
        return user if user is not None and self.user_can_authenticate(user) else None
