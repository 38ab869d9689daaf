"""Authentication backend that reads the logged-in user through the cache.

Every page needs `request.user`; with the session also in Redis, a warm page can then run
no SQL at all. The user is cached with its church (the tenant every staff view needs).
"""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from cachemon import cache_aside

from .models import User


def _load_user(user_id: int) -> User | None:
    return User.objects.select_related("church").filter(pk=user_id).first()


class CachedModelBackend(ModelBackend):
    def get_user(self, user_id):
        try:
            user_id = int(user_id)
        except (TypeError, ValueError):
            return None
        user = cache_aside.cached_user(user_id, fetch=lambda: _load_user(user_id))
        return user if user is not None and self.user_can_authenticate(user) else None
