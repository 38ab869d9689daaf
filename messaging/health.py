"""Queue health: the figures of GET /api/admin/queue/health, the admin page and /metrics.

`status` is "stalled" (and the API answers 503) when the oldest due delivery has waited longer
than QUEUE_STALL_SECONDS, measured from when it became due (its scheduled time, or its place in
the church's rate schedule: never from when the message was written), or when work is due and
no worker is alive (none heard from within WORKER_DEAD_SECONDS: the sweep's rule too). Everything is read from the database at the time
of the request: a few indexed aggregates, whatever the size of the queue's history.
"""

from __future__ import annotations

import datetime
import logging
import statistics

from django.conf import settings
from django.db.models import Min
from django.utils import timezone

from jobs import heartbeat

from .models import Delivery

logger = logging.getLogger("messaging.health")
State = Delivery.State
LATENCY_SAMPLE = 500


def queue_health(now: datetime.datetime | None = None) -> dict:
    now = now or timezone.now()
    hour_ago = now - datetime.timedelta(hours=1)
    queued = Delivery.objects.filter(state=State.QUEUED)
    depth = queued.count()
    oldest = queued.filter(due_at__lte=now).aggregate(at=Min("due_at"))["at"]
    sending = Delivery.objects.filter(state=State.SENDING).count()
    seen = heartbeat.workers_seen(now)
    age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    reasons = []
    if age > settings.QUEUE_STALL_SECONDS:
        reasons.append(f"the oldest due text has waited {age:.0f}s (limit {settings.QUEUE_STALL_SECONDS}s)")
    if (oldest is not None or sending) and not seen:
        reasons.append(f"texts are due and no worker is alive (none heard from in "
                       f"{settings.WORKER_DEAD_SECONDS:g}s)")
    return {
        "status": "stalled" if reasons else "ok",
        "queued": depth,
        "oldest_queued_age_seconds": round(age, 1),
        "sending": sending,
        "sent_last_hour": Delivery.objects.filter(sent_at__gte=hour_ago).count(),
        "failed_last_hour": Delivery.objects.filter(state=State.FAILED, finished_at__gte=hour_ago).count(),
        "workers_seen": seen,
        "reasons": reasons,
        "stall_seconds": settings.QUEUE_STALL_SECONDS,
        "dead_seconds": settings.WORKER_DEAD_SECONDS,
    }


def provider_latency(now: datetime.datetime | None = None) -> dict[str, float]:
    """Quantiles (seconds) of the provider's answer time over the last LATENCY_SAMPLE sends of
    the last hour; empty without any."""
    now = now or timezone.now()
    values = list(
        Delivery.objects.filter(sent_at__gte=now - datetime.timedelta(hours=1), provider_ms__isnull=False)
        .order_by("-sent_at").values_list("provider_ms", flat=True)[:LATENCY_SAMPLE]
    )
    if not values:
        return {}
    if len(values) == 1:
        return {"0.5": values[0] / 1000, "0.9": values[0] / 1000, "0.99": values[0] / 1000}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"0.5": cuts[49] / 1000, "0.9": cuts[89] / 1000, "0.99": cuts[98] / 1000}


class QueueCollector:
    """Prometheus gauges computed at scrape time from the database (so every app host and the
    workers agree, with no per-process state to sum)."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        try:
            figures = queue_health()
            latencies = provider_latency()
        except Exception:  # the database is away: /metrics still answers, and says so
            logger.exception("queue figures unavailable for /metrics")
            yield GaugeMetricFamily("flock_sms_health_error", "1 when the queue figures could not be read.", value=1)
            return
        depth = GaugeMetricFamily("flock_sms_queue_depth", "Deliveries waiting to be sent or being sent.",
                                  labels=["state"])
        depth.add_metric(["queued"], figures["queued"])
        depth.add_metric(["sending"], figures["sending"])
        yield depth
        yield GaugeMetricFamily("flock_sms_oldest_queued_age_seconds",
                                "Age of the oldest due delivery, from when it became due.",
                                value=figures["oldest_queued_age_seconds"])
        yield GaugeMetricFamily("flock_sms_workers_seen", "Task workers alive (a heartbeat within WORKER_DEAD_SECONDS).",
                                value=figures["workers_seen"])
        yield GaugeMetricFamily("flock_sms_stalled", "1 when queue health says stalled.",
                                value=1 if figures["status"] == "stalled" else 0)
        outcomes = GaugeMetricFamily("flock_sms_sends_last_hour", "Deliveries by outcome in the last hour.",
                                     labels=["outcome"])
        outcomes.add_metric(["sent"], figures["sent_last_hour"])
        outcomes.add_metric(["failed"], figures["failed_last_hour"])
        yield outcomes
        latency = GaugeMetricFamily("flock_sms_provider_latency_seconds",
                                    "Provider answer time over the last hour's most recent sends.",
                                    labels=["quantile"])
        for quantile, seconds in latencies.items():
            latency.add_metric([quantile], seconds)
        yield latency
