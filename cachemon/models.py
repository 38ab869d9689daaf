"""The one row cachemon keeps in the database: see `cachemon.distrust`."""

from __future__ import annotations

from django.db import models


class CacheDistrust(models.Model):
    """Cached sessions and users written before `until` (epoch seconds) are confirmed against
    the database before they are believed. Raised whenever a write that should have removed or
    replaced such an entry could not reach the cache (cachemon.distrust)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    until = models.FloatField(default=0.0)

    class Meta:
        verbose_name = "cache distrust watermark"

    def __str__(self) -> str:
        return f"cached sessions and users before {self.until:.3f} are confirmed"
