"""Cache invalidation for logins.

Users are saved by Django itself (login updates `last_login`, password changes, the admin),
not only by our services, so the model signals are the one hook that sees every write.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from cachemon import cache_aside

from .models import Church, User


# Sent by `seed_demo` once its churches are filled (`churches`: the Church rows it made), so
# other apps can add their own demo data (messaging: a few sent texts) without members/
# knowing about them.
demo_seeded = Signal()


@receiver([post_save, post_delete], sender=User)
def _user_changed(sender, instance: User, **kwargs) -> None:
    cache_aside.invalidate_user(instance.pk)


@receiver([post_save, post_delete], sender=Church)
def _church_changed(sender, instance: Church, **kwargs) -> None:
    # Cached users carry their church (its name shows in every page header).
    for user_id in User.objects.filter(church=instance).values_list("pk", flat=True):
        cache_aside.invalidate_user(user_id)
